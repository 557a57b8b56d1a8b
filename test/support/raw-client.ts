/**
 * A raw SOLEC connection for protocol tests: send arbitrary bytes, read
 * decoded frames with a timeout, observe the close.
 */
import type { Connection } from "../../src/platform.ts";
import {
  decodePayload,
  encode,
  FrameDecoder,
  frameOf,
  type Payload,
} from "../../src/protocol/mod.ts";
import { platform } from "./platform.ts";

export class RawClient {
  readonly frames: Payload[] = [];
  /** The same frames as received, bytes for bytes. */
  readonly raw: Uint8Array[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  readonly done: Promise<void>;

  private constructor(readonly conn: Connection) {
    const decoder = new FrameDecoder({ maxPayload: 65535 });
    this.done = (async () => {
      try {
        for await (const chunk of conn) {
          decoder.push(chunk);
          for (let t = decoder.next(); t !== -1; t = decoder.next()) {
            const p = decodePayload(t, decoder.payload);
            this.raw.push(frameOf(t, decoder.payload));
            // Copy views: the test may keep frames after more data arrived.
            this.frames.push(p.type === 0xff ? { type: 0xff, data: p.data.slice() } : p);
          }
          this.#wake();
        }
      } catch {
        // connection reset: treated as closed
      } finally {
        this.#ended = true;
        this.#wake();
      }
    })();
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await platform.net.connect({ hostname: "127.0.0.1", port }));
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(bytes: Uint8Array | Payload): Promise<void> {
    return this.conn.send(bytes instanceof Uint8Array ? bytes : encode(bytes));
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until `n` frames in total were received (or throws on close/timeout). */
  async waitFrames(n: number, timeoutMs = 5000): Promise<Payload[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      if (this.#ended) throw new Error(`closed after ${this.frames.length} of ${n} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${this.frames.length} of ${n} frames`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.slice(0, n);
  }

  /** Waits for the server to close the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("connection not closed in time")), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.conn.close();
  }
}
