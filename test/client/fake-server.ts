/**
 * A scripted SOLEC server for client tests, on top of a real `NetAdapter`
 * listener, answering with the project's codec.
 *
 * Each accepted connection is handed to the test's handler as a `FakeConn`:
 * the handler reads the client's frames one by one (`next`/`expect`) and
 * writes whatever the scenario needs, including raw bytes and frames coalesced
 * into one write (to reproduce "push just before the History sequence").
 */
import type { Connection, Listener, NetAdapter } from "../../src/platform.ts";
import {
  decodePayload,
  encode,
  ErrorCode,
  FrameDecoder,
  type Message,
  type Payload,
  type PayloadOf,
  PayloadType,
  typeName,
} from "../../src/protocol/mod.ts";

export class FakeConn {
  /** Every frame the client sent, decoded, in order. */
  readonly received: Payload[] = [];
  readonly #conn: Connection;
  readonly #queue: (Payload | undefined)[] = [];
  readonly #waiters: ((p: Payload | undefined) => void)[] = [];
  readonly reading: Promise<void>;
  #eof = false;

  constructor(conn: Connection) {
    this.#conn = conn;
    this.reading = this.#read();
  }

  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder({ maxPayload: 65535 });
    try {
      for await (const chunk of this.#conn) {
        decoder.push(chunk);
        for (let t = decoder.next(); t !== -1; t = decoder.next()) {
          let p = decodePayload(t, decoder.payload);
          // Test data is a view into the read buffer; keep a copy.
          if (p.type === PayloadType.Test) p = { type: p.type, data: p.data.slice() };
          this.received.push(p);
          this.#deliver(p);
        }
      }
    } catch {
      // A reset by the client ends the stream like a close.
    }
    this.#eof = true;
    this.#deliver(undefined);
  }

  #deliver(p: Payload | undefined): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w(p);
    else this.#queue.push(p);
  }

  /** The client's next frame, or undefined once it closed. */
  next(): Promise<Payload | undefined> {
    if (this.#queue.length > 0) {
      const p = this.#queue.shift();
      // Keep the end-of-stream marker for further callers.
      if (p === undefined) this.#queue.unshift(undefined);
      return Promise.resolve(p);
    }
    if (this.#eof) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The next frame, which must be of `type`. */
  async expect<T extends PayloadType>(type: T): Promise<PayloadOf<T>> {
    const p = await this.next();
    if (p === undefined) throw new Error(`expected ${typeName(type)}, the client closed`);
    if (p.type !== type) throw new Error(`expected ${typeName(type)}, got ${typeName(p.type)}`);
    return p as PayloadOf<T>;
  }

  /** Writes payloads (or raw bytes) coalesced into one write. */
  send(...items: (Payload | Uint8Array)[]): Promise<void> {
    const frames = items.map((i) => (i instanceof Uint8Array ? i : encode(i)));
    const total = frames.reduce((n, f) => n + f.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const f of frames) {
      out.set(f, at);
      at += f.length;
    }
    return this.#conn.send(out);
  }

  close(): void {
    this.#conn.close();
  }
}

export type Handler = (conn: FakeConn) => Promise<void>;

export class FakeServer {
  readonly connections: FakeConn[] = [];
  readonly #listener: Listener;
  readonly #handlers: Promise<void>[] = [];
  readonly #errors: unknown[] = [];
  readonly #accepting: Promise<void>;

  private constructor(listener: Listener, handler: Handler) {
    this.#listener = listener;
    this.#accepting = this.#accept(handler);
  }

  static async start(net: NetAdapter, handler: Handler): Promise<FakeServer> {
    const listener = await net.listen({ hostname: "127.0.0.1", port: 0 });
    return new FakeServer(listener, handler);
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(handler: Handler): Promise<void> {
    for await (const conn of this.#listener) {
      const c = new FakeConn(conn);
      this.connections.push(c);
      this.#handlers.push(
        handler(c).catch((e) => {
          this.#errors.push(e);
          c.close();
        }),
      );
    }
  }

  /** Waits for the handlers, closes everything, and rethrows a handler's failure. */
  async stop(): Promise<void> {
    await Promise.all(this.#handlers);
    this.#listener.close();
    for (const c of this.connections) c.close();
    await this.#accepting;
    await Promise.all(this.connections.map(async (c) => {
      await c.reading;
      await c.closed;
    }));
    if (this.#errors.length > 0) throw this.#errors[0];
  }
}

// ---------------------------------------------------------------- scripts

export const OK: Payload = { type: PayloadType.Success };

export function err(code: number): Payload {
  return { type: PayloadType.Error, code };
}

/** 2026-01-01T00:00:00Z: test timestamps are offsets from it (small values would read as seconds). */
export const T0 = 1767225600000;

/** A Message payload with timestamp `T0 + at` ms. */
export function msg(source: string, target: string, content: string, at = 0): Message {
  return { type: PayloadType.Message, source, target, timestamp: T0 + at, content };
}

/**
 * Greets, reads Handshake and UserAuth, answers Success (or Error 0x01 and
 * close on a wrong password). Returns the username, or undefined on failure.
 */
export async function acceptLogin(
  c: FakeConn,
  options: { password?: string; greet?: boolean } = {},
): Promise<string | undefined> {
  if (options.greet ?? true) {
    await c.send({ type: PayloadType.Handshake, major: 0, minor: 2, connType: 0 });
  }
  const hs = await c.expect(PayloadType.Handshake);
  if (hs.major !== 0 || hs.connType !== 1) {
    throw new Error(`bad client handshake ${JSON.stringify(hs)}`);
  }
  const auth = await c.expect(PayloadType.UserAuth);
  if (auth.password !== (options.password ?? "pw")) {
    await c.send(err(ErrorCode.AuthFailed));
    c.close();
    return undefined;
  }
  await c.send(OK);
  return auth.username;
}

/** Reads requests until the client closes, answering each with `reply`'s frames. */
export async function serve(
  c: FakeConn,
  reply: (request: Payload) => Payload[] | Promise<Payload[]>,
): Promise<void> {
  for (let p = await c.next(); p !== undefined; p = await c.next()) {
    const out = await reply(p);
    if (out.length > 0) await c.send(...out);
  }
}
