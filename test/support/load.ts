/**
 * Sustained message load with acknowledgement counting, for crash-safety
 * and slow-consumer checks: a logged-in connection sends Messages with
 * unique contents, keeps at most `window` unanswered, optionally paced, and
 * records which were acknowledged (Success), refused (Error code) or left
 * in doubt (no reply before the connection died).
 *
 * Replies come in request order, one per request (spec §6), so a FIFO of
 * outstanding contents matches them; pushed Messages are not replies.
 */
import { encodeMessage, PayloadType } from "../../src/protocol/mod.ts";
import { WireClient } from "./wire-client.ts";

export interface LoadWriterOptions {
  readonly port: number;
  /** Full address. */
  readonly user: string;
  readonly password: string;
  readonly target: string;
  /** Contents are `${prefix}${n}`. */
  readonly prefix: string;
  /** Timestamp of message n is tsBase + n (ms). */
  readonly tsBase: number;
  readonly window?: number;
  /** Messages per second at most (0: only the window bounds it). */
  readonly rate?: number;
  readonly localAddress?: string;
  /** Stop after this many messages were sent. */
  readonly max?: number;
  /** Pad each content with spaces to this many bytes (the identifying prefix stays first). */
  readonly size?: number;
}

export class LoadWriter {
  readonly acked: string[] = [];
  /** Ack latency per acknowledged message (ms). */
  readonly latencies: number[] = [];
  readonly refused = new Map<number, number>();
  /** Sent, then the connection ended before their reply. */
  inDoubt: string[] = [];
  sent = 0;
  readonly #outstanding: { content: string; at: number }[] = [];
  #stopping = false;
  #wake: (() => void) | null = null;
  #done: Promise<void> | null = null;

  private constructor(readonly client: WireClient, readonly o: LoadWriterOptions) {}

  static async open(o: LoadWriterOptions): Promise<LoadWriter> {
    let writer: LoadWriter | null = null;
    const client = await WireClient.login(o.port, o.user, o.password, {
      localAddress: o.localAddress,
      keep: 16,
      onFrame: (p) => writer?.onFrame(p.type, p.type === PayloadType.Error ? p.code : 0),
    });
    writer = new LoadWriter(client, o);
    void client.closed.then(() => writer?.wake());
    return writer;
  }

  get outstanding(): number {
    return this.#outstanding.length;
  }

  onFrame(type: number, code: number): void {
    if (type !== PayloadType.Success && type !== PayloadType.Error) return;
    const head = this.#outstanding.shift();
    if (head === undefined) return;
    if (type === PayloadType.Success) {
      this.acked.push(head.content);
      this.latencies.push(performance.now() - head.at);
    } else {
      this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
    }
    this.wake();
  }

  /** Starts sending; `stop()` ends it. */
  start(): void {
    this.#done ??= this.#run();
  }

  /** Stops sending and waits (up to `drainMs`) for the replies still due. */
  async stop(drainMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#done;
    const deadline = performance.now() + drainMs;
    while (this.#outstanding.length > 0 && !this.client.ended && performance.now() < deadline) {
      await this.client.waitActivity(50);
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#settle();
  }

  close(): void {
    this.client.close();
    this.#settle();
  }

  #settle(): void {
    if (this.client.ended || this.#stopping) {
      this.inDoubt.push(...this.#outstanding.map((o) => o.content));
      this.#outstanding.length = 0;
    }
  }

  /** Re-checks whether to send (after a reply or the close). */
  wake(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #run(): Promise<void> {
    const window = this.o.window ?? 16;
    const rate = this.o.rate ?? 0;
    const max = this.o.max ?? Infinity;
    const t0 = performance.now();
    while (!this.#stopping && !this.client.ended && this.sent < max) {
      const allowedByRate = rate > 0
        ? Math.floor(((performance.now() - t0) / 1000) * rate) + 1
        : Infinity;
      const room = Math.min(
        window - this.#outstanding.length,
        allowedByRate - this.sent,
        max - this.sent,
      );
      if (room > 0) {
        const frames: Uint8Array[] = [];
        let size = 0;
        const now = performance.now();
        for (let i = 0; i < room; i++) {
          const n = this.sent++;
          const content = `${this.o.prefix}${n}`;
          const text = this.o.size !== undefined ? content.padEnd(this.o.size, " ") : content;
          const f = encodeMessage(this.o.user, this.o.target, this.o.tsBase + n, text);
          frames.push(f);
          size += f.length;
          this.#outstanding.push({ content, at: now });
        }
        const buf = new Uint8Array(size);
        let at = 0;
        for (const f of frames) {
          buf.set(f, at);
          at += f.length;
        }
        this.client.write(buf);
        continue;
      }
      const wait = rate > 0 && this.#outstanding.length < window
        ? Math.max(1, ((this.sent) / rate) * 1000 - (performance.now() - t0))
        : 100;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.client.ended) this.#settle();
  }
}

/** Sum of figures over writers. */
export function totals(writers: readonly LoadWriter[]): {
  sent: number;
  acked: number;
  inDoubt: number;
  refused: number;
} {
  let sent = 0, acked = 0, inDoubt = 0, refused = 0;
  for (const w of writers) {
    sent += w.sent;
    acked += w.acked.length;
    inDoubt += w.inDoubt.length;
    for (const n of w.refused.values()) refused += n;
  }
  return { sent, acked, inDoubt, refused };
}
