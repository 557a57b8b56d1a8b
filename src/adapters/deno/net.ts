/**
 * `NetAdapter` on Deno's pull-based sockets (`Deno.listen[Tls]` / `Deno.connect[Tls]`).
 *
 * Reading is one `read()` op at a time per connection, chained by callbacks, each
 * chunk handed to the sink; while paused it does not read, so the socket applies
 * TCP back-pressure. Facts about Deno 2.9 relied on:
 * - `read()` rejects (BadResource, Interrupted, ConnectionReset, InvalidData for a
 *   TLS failure, ...) when the socket is closed under it or broken; all of these
 *   end the iteration: the contract has no error channel for reads.
 * - `write()` may write part of the buffer; `send()` loops until all is written.
 * - TLS handshakes are lazy: `startTls` and `accept` resolve before them, so the
 *   adapter awaits `handshake()` before handing a connection out.
 * - Neither `Deno.connect` nor `accept` sets TCP_NODELAY (checked with strace), so
 *   the adapter does: with Nagle on, the tail of a large batched write waits for
 *   the peer's delayed ACK, ~40 ms (a 100-member channel's p99 was 45-47 ms). A
 *   `TlsConn` has no `setNoDelay`: outgoing TLS starts as plain TCP (set there,
 *   then `startTls`); connections accepted by `listenTls` keep Nagle on.
 */
import type {
  Connection,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAdapter,
  NetAddr,
  ReadSink,
  SendCallback,
} from "../../platform.ts";
import { AcceptQueue } from "../accept-queue.ts";
import { NO_WRITES, type PendingWrite, PushConnection } from "../connection-base.ts";
import { localAddr, remoteAddr } from "../shared-addr.ts";

/**
 * The reusable read buffer starts small and doubles, up to the maximum, each
 * time a read fills it: an idle connection (thousands of them wait in read)
 * costs 128 bytes (a login fits), a busy one reads up to 64 KiB at a time. Each chunk is copied
 * out at its exact size.
 */
const READ_BUFFER_MIN = 128;
const READ_BUFFER_MAX = 64 * 1024;
const EMPTY = new Uint8Array(0);
/** A TLS peer that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Longest pause between retries after an unexpected accept() error (e.g. EMFILE). */
const MAX_ACCEPT_BACKOFF_MS = 1_000;

type DenoConn = Deno.TcpConn | Deno.TlsConn;

class DenoConnection extends PushConnection {
  readonly #conn: DenoConn;
  #isClosed = false;
  #buffer = new Uint8Array(READ_BUFFER_MIN);
  #sink: ReadSink | null = null;
  #ended = false;
  #paused = false;
  /** A `read()` op is in flight (at most one). */
  #readPending = false;
  /** Inside `sink.data()`: a `resume()` from there must not deliver re-entrantly. */
  #delivering = false;
  /** A chunk read just before a pause; delivered on `resume()`. */
  #held: Uint8Array | null = null;
  /** A write is in progress (`#writeNow`); later ones wait in `#waiting`, in call order. */
  #writing = false;
  #waiting: PendingWrite[] = NO_WRITES;
  /** The write in progress: its data, how much of it is written, whom to tell. */
  #writeData: Uint8Array = EMPTY;
  #writeOffset = 0;
  #writeDone: SendCallback | null = null;

  constructor(conn: DenoConn) {
    const remote = conn.remoteAddr;
    const local = conn.localAddr;
    super(remoteAddr(remote.hostname, remote.port), localAddr(local.hostname, local.port));
    this.#conn = conn;
    if ("setNoDelay" in conn) noDelay(conn);
  }

  read(sink: ReadSink): void {
    if (this.#sink !== null) throw new Error("connection is already being read");
    this.#sink = sink;
    if (this.#isClosed) this.#end();
    else this.#readNext();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    if (!this.#delivering) this.#continue();
  }

  sendWith(data: Uint8Array, done: SendCallback): void {
    if (this.#isClosed) return done.sendFailed();
    if (this.#writing) {
      if (this.#waiting === NO_WRITES) this.#waiting = [];
      this.#waiting.push({ data, done });
      return;
    }
    if (data.byteLength === 0) return done.sent();
    this.#writing = true;
    this.#writeNow(data, done);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#held = null;
    this.dropUnread();
    // A pending read() op rejects, which ends the sink (#onRead); without one, end it
    // here, but not from inside close() (the contract).
    if (this.#sink !== null && !this.#readPending) queueMicrotask(() => this.#end());
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno (e.g. after a failed TLS handshake).
    }
    this.markClosed();
  }

  /**
   * Reads with a callback rather than an async loop: an idle connection (thousands
   * of them wait in read) then holds no suspended coroutine, only this op's promise.
   */
  #readNext(): void {
    // Not reading while paused is what makes TCP push back.
    if (this.#isClosed || this.#paused || this.#readPending) return;
    this.#readPending = true;
    this.#conn.read(this.#buffer).then(this.#onRead, this.#onReadFailed);
  }

  readonly #onRead = (n: number | null): void => {
    this.#readPending = false;
    if (this.#isClosed) return this.#end(); // closed while the read was pending
    // No half-open connections: the peer's EOF closes both directions (close() ends the sink).
    if (n === null) return this.close();
    // n === 0 is not EOF (Deno's docs): read again.
    if (n === 0) return this.#readNext();
    const chunk = this.#buffer.slice(0, n);
    if (n === this.#buffer.length && n < READ_BUFFER_MAX) {
      this.#buffer = new Uint8Array(n * 2);
    }
    if (this.#paused) this.#held = chunk;
    else this.#deliver(chunk);
  };

  /** Closed, reset or broken: all end the stream (the contract has no read errors). */
  readonly #onReadFailed = (): void => this.#onRead(null);

  #deliver(chunk: Uint8Array): void {
    this.#delivering = true;
    try {
      this.#sink!.data(chunk);
    } finally {
      this.#delivering = false;
    }
    if (!this.#paused) this.#continue();
  }

  /** Not paused: the held chunk, if any, then the next read. */
  #continue(): void {
    const held = this.#held;
    if (held === null) return this.#readNext();
    this.#held = null;
    if (!this.#isClosed) this.#deliver(held);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink?.end();
  }

  /**
   * Writes `data`, then whatever queued meanwhile, one at a time (`write()` may take part
   * of a buffer). Chained by callbacks bound once, like reads: no coroutine or closure
   * per write (an async loop here was the largest share of the garbage per message).
   */
  #writeNow(data: Uint8Array, done: SendCallback): void {
    this.#writeData = data;
    this.#writeDone = done;
    this.#writeOffset = 0;
    this.#writeMore();
  }

  /** Starts a `write()` op for the rest of the write in progress. */
  #writeMore(): void {
    const data = this.#writeData;
    const offset = this.#writeOffset;
    let op: Promise<number>;
    try {
      op = this.#conn.write(offset === 0 ? data : data.subarray(offset));
    } catch {
      return this.#onWriteFailed();
    }
    op.then(this.#onWritten, this.#onWriteFailed);
  }

  readonly #onWritten = (n: number): void => {
    this.#writeOffset += n;
    if (this.#writeOffset >= this.#writeData.byteLength) this.#writeEnded(true);
    else if (this.#isClosed) this.#writeEnded(false);
    else this.#writeMore();
  };

  readonly #onWriteFailed = (): void => {
    this.close();
    this.#writeEnded(false);
  };

  /**
   * The write in progress is over: tell its sender, then start the next queued one. A
   * loop, not a recursion, for writes that end at once (empty, or the socket is closed):
   * a client may have queued thousands.
   */
  #writeEnded(ok: boolean): void {
    let done = this.#writeDone as SendCallback;
    this.#writeData = EMPTY;
    this.#writeDone = null;
    for (;;) {
      if (ok) done.sent();
      else done.sendFailed();
      // `sent()` may have queued the next write already (it goes into #waiting while
      // #writing is still set), so the queue keeps call order.
      const next = this.#waiting.shift();
      if (next === undefined) {
        this.#writing = false;
        return;
      }
      if (!this.#isClosed && next.data.byteLength > 0) return this.#writeNow(next.data, next.done);
      done = next.done;
      ok = !this.#isClosed;
    }
  }
}

/** Turns Nagle's algorithm off (see the module comment). */
function noDelay(conn: Deno.TcpConn): void {
  try {
    conn.setNoDelay(true);
  } catch {
    // Already closed by the peer: nothing will be written anyway.
  }
}

/** Closes `conn` unless its TLS handshake completes within the timeout. */
async function handshake(conn: Deno.TlsConn): Promise<void> {
  const timer = setTimeout(() => conn.close(), HANDSHAKE_TIMEOUT_MS);
  try {
    await conn.handshake();
  } catch (error) {
    try {
      conn.close();
    } catch {
      // Closed by the timeout or by Deno.
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function isClosedError(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

/**
 * Accepts eagerly in the background (like Bun does), so that a slow TLS
 * handshake never holds up the next accept; hands connections out in order.
 */
class DenoListener implements Listener {
  readonly addr: NetAddr;
  readonly #listener: Deno.Listener<DenoConn, Deno.NetAddr>;
  readonly #tls: boolean;
  #closed = false;
  readonly #queue = new AcceptQueue<DenoConnection>();
  /** Accepted TLS connections whose handshake is still running. */
  readonly #handshaking = new Set<Deno.TlsConn>();

  constructor(options: ListenOptions) {
    const { hostname, port, tls } = options;
    this.#listener = tls
      ? Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key })
      : Deno.listen({ hostname, port, transport: "tcp" });
    this.#tls = tls !== undefined;
    const bound = this.#listener.addr;
    this.addr = { hostname: bound.hostname, port: bound.port };
    this.#acceptLoop();
  }

  [Symbol.asyncIterator](): AsyncIterator<Connection, undefined> {
    return this.#queue.iterator();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    // Nobody can receive connections not yet handed out; do not leak them.
    this.#queue.close();
    for (const conn of this.#handshaking) conn.close();
  }

  async #acceptLoop(): Promise<void> {
    let backoff = 0;
    while (!this.#closed) {
      let conn: DenoConn;
      try {
        conn = await this.#listener.accept();
        backoff = 0;
      } catch (error) {
        if (this.#closed || isClosedError(error)) break;
        // Out of file descriptors and the like: retry later rather than end
        // the server's accept loop (Go's net/http does the same).
        backoff = Math.min(Math.max(2 * backoff, 5), MAX_ACCEPT_BACKOFF_MS);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      if (this.#tls) this.#handshakeThenOffer(conn as Deno.TlsConn);
      else this.#offer(new DenoConnection(conn));
    }
    this.close();
  }

  async #handshakeThenOffer(conn: Deno.TlsConn): Promise<void> {
    this.#handshaking.add(conn);
    try {
      await handshake(conn);
    } catch {
      return; // handshake() closed it; the client never becomes a Connection
    } finally {
      this.#handshaking.delete(conn);
    }
    this.#offer(new DenoConnection(conn));
  }

  #offer(conn: DenoConnection): void {
    this.#queue.offer(conn);
  }
}

async function connect(options: ConnectOptions): Promise<Connection> {
  const { hostname, port, tls } = options;
  if (!tls) return new DenoConnection(await Deno.connect({ hostname, port, transport: "tcp" }));
  const caCerts = tls.caCerts ? [...tls.caCerts] : undefined;
  // TLS on a plain connection (not connectTls): the TCP socket is the only place to
  // turn Nagle off. startTls verifies the certificate against `hostname` given here.
  const tcp = await Deno.connect({ hostname, port, transport: "tcp" });
  noDelay(tcp);
  const conn = await Deno.startTls(tcp, { hostname: tls.serverName ?? hostname, caCerts });
  await handshake(conn);
  return new DenoConnection(conn);
}

export const net: NetAdapter = {
  // Inside an executor so a bind error (port in use) rejects instead of throwing.
  listen: (options) => new Promise((resolve) => resolve(new DenoListener(options))),
  connect,
};
