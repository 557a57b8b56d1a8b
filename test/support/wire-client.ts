/**
 * A raw SOLEC connection over `node:net` (same on Bun and Deno) for
 * robustness tests and soak scripts: it can bind a chosen loopback source
 * address (127.x.y.z), so one machine can act as many client IPs for the
 * per-IP limits and the login throttle; it can stop reading (a slow
 * consumer); it keeps only a bounded number of decoded frames.
 *
 * Every wait takes a timeout; nothing here retries or loops unbounded.
 */
import net from "node:net";
import {
  decodePayload,
  encode,
  FrameDecoder,
  type Payload,
  PayloadType,
} from "../../src/protocol/mod.ts";

export interface WireOptions {
  readonly host?: string;
  /** Source address to bind, e.g. "127.0.3.7" (any 127.0.0.0/8 address works on Linux). */
  readonly localAddress?: string;
  readonly connectTimeoutMs?: number;
  /** Most frames kept in `frames` (older ones are dropped; `received` still counts). */
  readonly keep?: number;
  /** Called for every frame received (after it is queued). */
  readonly onFrame?: (p: Payload) => void;
}

export const HANDSHAKE_USER: Payload = { type: 0x03, major: 0, minor: 2, connType: 1 };

/** Handshake and UserAuth as one write. */
export function loginBytes(username: string, password: string): Uint8Array {
  const hs = encode(HANDSHAKE_USER);
  const auth = encode({ type: PayloadType.UserAuth, username, password });
  const out = new Uint8Array(hs.length + auth.length);
  out.set(hs);
  out.set(auth, hs.length);
  return out;
}

export class LoginError extends Error {
  constructor(readonly code: number | "closed" | "timeout", message: string) {
    super(message);
  }
}

/** Copies views out of the decoder's chunk (only Test carries raw bytes). */
function own(p: Payload): Payload {
  return p.type === PayloadType.Test ? { type: p.type, data: p.data.slice() } : p;
}

export class WireClient {
  readonly socket: net.Socket;
  /** The most recent frames (up to `keep`), oldest first; `next()` consumes from here. */
  readonly frames: Payload[] = [];
  /** Frames received in total. */
  received = 0;
  /** Error codes received, counted. */
  readonly errors = new Map<number, number>();
  /** Set when the server sent bytes this client could not decode. */
  badFrame: string | null = null;
  /** When connecting started (before the server could have accepted). */
  readonly openedAt: number;
  closedAt = 0;
  readonly closed: Promise<void>;
  #ended = false;
  #waiters: (() => void)[] = [];
  readonly #decoder = new FrameDecoder({ maxPayload: 65535 });
  readonly #keep: number;
  readonly #onFrame: ((p: Payload) => void) | undefined;

  private constructor(socket: net.Socket, options: WireOptions, openedAt: number) {
    this.socket = socket;
    this.openedAt = openedAt;
    this.#keep = options.keep ?? 10_000;
    this.#onFrame = options.onFrame;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("error", () => {}); // "close" follows
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#ended = true;
        this.closedAt = performance.now();
        this.#wake();
        resolve();
      })
    );
  }

  static connect(port: number, options: WireOptions = {}): Promise<WireClient> {
    const openedAt = performance.now();
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: options.host ?? "127.0.0.1",
        port,
        ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to port ${port} timed out`));
      }, options.connectTimeoutMs ?? 10_000);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new WireClient(socket, options, openedAt));
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Connects, sends Handshake + UserAuth, and waits for the greeting and Success. */
  static async login(
    port: number,
    username: string,
    password: string,
    options: WireOptions & { timeoutMs?: number } = {},
  ): Promise<WireClient> {
    const c = await WireClient.connect(port, options);
    try {
      c.write(loginBytes(username, password));
      await c.expectLogin(options.timeoutMs ?? 10_000);
      return c;
    } catch (e) {
      c.close();
      throw e;
    }
  }

  /** After login bytes were sent: the greeting, then Success (else a LoginError). */
  async expectLogin(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let seen = 0; seen < 2; seen++) {
      const p = await this.next(Math.max(1, deadline - performance.now())).catch(() => null);
      if (p === null) {
        throw this.ended
          ? new LoginError("closed", "closed without an answer")
          : new LoginError("timeout", "no answer in time");
      }
      if (seen === 0 && p.type === PayloadType.Handshake) continue;
      if (p.type === PayloadType.Success) return;
      if (p.type === PayloadType.Error) throw new LoginError(p.code, `login refused: ${p.code}`);
      throw new LoginError("closed", `unexpected frame type ${p.type}`);
    }
    throw new LoginError("closed", "no Success");
  }

  get ended(): boolean {
    return this.#ended;
  }

  get localAddress(): string {
    return this.socket.localAddress ?? "";
  }

  /** Queues bytes (or a payload) for sending; never throws (a dead socket drops them). */
  write(data: Uint8Array | Payload): void {
    if (this.#ended || this.socket.destroyed) return;
    this.socket.write(data instanceof Uint8Array ? data : encode(data));
  }

  /** Sends and resolves once handed to the kernel (or the socket is gone). */
  send(data: Uint8Array | Payload): Promise<void> {
    if (this.#ended || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.write(data instanceof Uint8Array ? data : encode(data), () => resolve());
    });
  }

  /** Stops reading: the kernel buffers fill and the server's writes stall. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** The oldest unconsumed frame; rejects on timeout or when the connection ended first. */
  async next(timeoutMs = 5000): Promise<Payload> {
    const deadline = performance.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.#ended) throw new Error("connection closed");
      const left = deadline - performance.now();
      if (left <= 0) throw new Error("timeout waiting for a frame");
      await this.#wait(left);
    }
    return this.frames.shift() as Payload;
  }

  /** Waits for the server to close; false on timeout. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#ended) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await this.#wait(left);
    }
    return true;
  }

  /** Waits until something arrives or the connection ends (or `ms` pass). */
  waitActivity(ms: number): Promise<void> {
    if (this.#ended || this.frames.length > 0) return Promise.resolve();
    return this.#wait(ms);
  }

  /** Sends a Test frame and waits for its echo; returns the round trip in ms. */
  async ping(timeoutMs = 5000): Promise<number> {
    const t0 = performance.now();
    this.write({ type: PayloadType.Test, data: new Uint8Array([0x70]) });
    for (;;) {
      const p = await this.next(Math.max(1, timeoutMs - (performance.now() - t0)));
      if (p.type === PayloadType.Test) return performance.now() - t0;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #onData(chunk: Uint8Array): void {
    if (this.badFrame !== null) return;
    try {
      this.#decoder.push(chunk);
      for (let t = this.#decoder.next(); t !== -1; t = this.#decoder.next()) {
        const p = own(decodePayload(t, this.#decoder.payload));
        this.received++;
        if (p.type === PayloadType.Error) {
          this.errors.set(p.code, (this.errors.get(p.code) ?? 0) + 1);
        }
        if (this.frames.length >= this.#keep) this.frames.shift();
        this.frames.push(p);
        this.#onFrame?.(p);
      }
    } catch (e) {
      this.badFrame = e instanceof Error ? e.message : String(e);
      this.socket.destroy();
    }
    this.#wake();
  }
}
