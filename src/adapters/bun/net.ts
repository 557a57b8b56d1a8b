/**
 * `NetAdapter` on Bun's callback-based sockets (`Bun.listen` / `Bun.connect`).
 *
 * Facts about Bun 1.4.5 this file relies on (checked by test/adapters/net.test.ts):
 * - `data` receives a fresh Uint8Array per event (its own ArrayBuffer, sized to
 *   the chunk), so chunks are handed to the consumer without copying. One event
 *   carries up to one socket read (up to ~512 KiB on loopback). Reading starts
 *   at accept, so what arrives before `read()` is kept until then.
 * - `pause()` stops reading from the kernel (no `data` until `resume()`).
 * - `write()` never buffers: it returns how many bytes the kernel took (possibly
 *   0, or -1 once closed), and `drain` fires when the socket is writable again.
 * - `end()` closes the socket (FIN, pending kernel data still goes out) and runs
 *   the `close` handler synchronously; `terminate()` would send RST instead.
 * - TLS: `tls: {}` silently means *plain TCP*, the `Bun.connect` promise resolves
 *   before the handshake, and writes before the handshake return 0. So TLS
 *   options always carry `rejectUnauthorized: true` and connections are only
 *   handed out from the `handshake` handler.
 */
import {
  type Connection,
  type ConnectOptions,
  type Listener,
  type ListenOptions,
  type NetAdapter,
  type NetAddr,
  READ_HIGH_WATER,
  type ReadSink,
  type SendCallback,
} from "../../platform.ts";
import { AcceptQueue } from "../accept-queue.ts";
import { NO_WRITES, type PendingWrite, PushConnection } from "../connection-base.ts";
import { localAddr, remoteAddr } from "../shared-addr.ts";

// Local declarations of just the Bun API used here: bun-types is not loaded
// automatically (no @types/bun, no tsconfig) and Deno's checker never sees it.
interface BunSocket {
  data: BunConnection | undefined;
  readonly authorized: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  write(data: Uint8Array): number;
  end(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
}

interface BunSocketHandler {
  binaryType: "uint8array";
  open(socket: BunSocket): void;
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
}

interface BunTlsOptions {
  cert?: string;
  key?: string;
  ca?: string[];
  serverName?: string;
  rejectUnauthorized?: boolean;
}

interface BunSocketListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunSocketOptions {
  hostname: string;
  port: number;
  tls?: BunTlsOptions;
  socket: BunSocketHandler;
}

declare const Bun: {
  listen(options: BunSocketOptions): BunSocketListener;
  connect(options: BunSocketOptions): Promise<BunSocket>;
};

/** A TLS peer that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Where a connection's input goes before `read()` is called. */
const NO_SINK: ReadSink = { data() {}, end() {} };

class BunConnection extends PushConnection {
  readonly #socket: BunSocket;
  /** The socket is gone (Bun's `close` handler ran). */
  #socketClosed = false;
  /** `sink.end()` is due (or done): no more data is handed out. */
  #ended = false;
  #sink: ReadSink = NO_SINK;
  /** Chunks that arrived before `read()`; null once reading (or when none came). */
  #early: Uint8Array[] | null = null;
  #earlyBytes = 0;
  /** Paused by `pause()`, or because nobody reads and READ_HIGH_WATER bytes wait. */
  #paused = false;
  /** The write in progress (the server's writer never has more than this one)… */
  #writing: Uint8Array | null = null;
  #writeOffset = 0;
  #writeDone: SendCallback | null = null;
  /** …and later ones, waiting their turn. */
  #waiting: PendingWrite[] = NO_WRITES;

  constructor(socket: BunSocket) {
    // Read the addresses now: Bun empties them once the socket is closed.
    super(
      remoteAddr(socket.remoteAddress, socket.remotePort),
      localAddr(socket.localAddress, socket.localPort),
    );
    this.#socket = socket;
    socket.data = this;
    socket.setNoDelay(true);
  }

  read(sink: ReadSink): void {
    if (this.#sink !== NO_SINK) throw new Error("connection is already being read");
    this.#sink = sink;
    const early = this.#early;
    this.#early = null;
    if (early !== null) {
      // Paused because nobody read: reading starts again unless the sink paused.
      const pausedEarly = this.#earlyBytes >= READ_HIGH_WATER;
      this.#earlyBytes = 0;
      if (pausedEarly) this.#paused = false;
      for (const chunk of early) sink.data(chunk);
      if (pausedEarly && !this.#paused && !this.#socketClosed) this.#socket.resume();
    }
    // Ended before anyone read: the end still comes after the data, and asynchronously.
    if (this.#ended) queueMicrotask(() => sink.end());
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (!this.#socketClosed) this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#socketClosed) this.#socket.resume();
  }

  sendWith(data: Uint8Array, done: SendCallback): void {
    if (this.#ended || this.#socketClosed) return done.sendFailed();
    if (this.#writing !== null) {
      if (this.#waiting === NO_WRITES) this.#waiting = [];
      this.#waiting.push({ data, done });
      return;
    }
    this.#writing = data;
    this.#writeOffset = 0;
    this.#writeDone = done;
    this.#flush();
  }

  close(): void {
    this.dropUnread();
    this.#endReading();
    this.#failWrites();
    if (!this.#socketClosed) this.#socket.end();
  }

  /** Bun `data` handler. */
  onData(chunk: Uint8Array): void {
    if (this.#ended) return;
    if (this.#sink !== NO_SINK) return this.#sink.data(chunk);
    (this.#early ??= []).push(chunk);
    this.#earlyBytes += chunk.byteLength;
    if (this.#earlyBytes >= READ_HIGH_WATER) this.pause();
  }

  /** Bun `drain` handler: the kernel takes data again. */
  onDrain(): void {
    this.#flush();
  }

  /** Bun `close` handler, whichever side closed. */
  onClose(): void {
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    this.#endReading();
    this.#failWrites();
    this.markClosed();
  }

  /**
   * No more data. The sink hears it in a microtask: `close()` may be called
   * from inside the sink, which must not be re-entered.
   */
  #endReading(): void {
    if (this.#ended) return;
    this.#ended = true;
    const sink = this.#sink;
    if (sink !== NO_SINK) queueMicrotask(() => sink.end());
  }

  #flush(): void {
    for (let data = this.#writing; data !== null; data = this.#writing) {
      const offset = this.#writeOffset;
      const remaining = data.byteLength - offset;
      if (remaining > 0) {
        // A subarray rather than write()'s offset arguments, whose meaning for
        // views with a byteOffset is not documented.
        const written = this.#socket.write(offset === 0 ? data : data.subarray(offset));
        if (written < 0) return this.close();
        this.#writeOffset = offset + written;
        if (written < remaining) return; // kernel buffer full: `drain` resumes
      }
      const done = this.#writeDone as SendCallback;
      const next = this.#waiting.shift();
      this.#writing = next?.data ?? null;
      this.#writeOffset = 0;
      this.#writeDone = next?.done ?? null;
      done.sent();
    }
  }

  #failWrites(): void {
    const done = this.#writeDone;
    const waiting = this.#waiting;
    this.#writing = this.#writeDone = null;
    this.#waiting = NO_WRITES;
    done?.sendFailed();
    for (const write of waiting) write.done.sendFailed();
  }
}

/** Handlers shared by every socket of one listener or connect call. */
function socketHandlers(
  open: (socket: BunSocket) => void,
  handshake?: (socket: BunSocket, ok: boolean, error: Error | null) => void,
): BunSocketHandler {
  return {
    binaryType: "uint8array",
    open,
    ...(handshake ? { handshake } : {}),
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.onDrain(),
    close: (socket) => socket.data?.onClose(),
    // Bun reports TLS failures here and then closes the socket; `close` does
    // the cleanup, and the contract has no error channel.
    error: () => {},
  };
}

/** Hands out connections in accept order; ends when closed. */
class BunListener implements Listener {
  readonly addr: NetAddr;
  #server: BunSocketListener | undefined;
  readonly #queue = new AcceptQueue<BunConnection>();
  /** Accepted TLS sockets whose handshake is still running, with their timeouts. */
  readonly #handshaking = new Map<BunConnection, ReturnType<typeof setTimeout>>();

  constructor(options: ListenOptions) {
    const tls = options.tls;
    this.#server = Bun.listen({
      hostname: options.hostname,
      port: options.port,
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      socket: socketHandlers(
        (socket) => {
          const conn = new BunConnection(socket);
          if (tls) this.#awaitHandshake(conn);
          else this.#offer(conn);
        },
        tls ? (socket, ok) => this.#handshakeDone(socket.data, ok) : undefined,
      ),
    });
    this.addr = { hostname: this.#server.hostname, port: this.#server.port };
  }

  [Symbol.asyncIterator](): AsyncIterator<Connection, undefined> {
    return this.#queue.iterator();
  }

  close(): void {
    if (this.#queue.closed) return;
    // false: established connections stay open, as the contract says.
    this.#server?.stop(false);
    this.#server = undefined;
    // Nobody can receive connections not yet handed out; do not leak them.
    this.#queue.close();
    for (const conn of this.#handshaking.keys()) conn.close();
  }

  #offer(conn: BunConnection): void {
    this.#queue.offer(conn);
  }

  #awaitHandshake(conn: BunConnection): void {
    this.#handshaking.set(conn, setTimeout(() => conn.close(), HANDSHAKE_TIMEOUT_MS));
    conn.closed.then(() => this.#stopHandshake(conn));
  }

  /** False when the handshake was already over (timed out or closed). */
  #stopHandshake(conn: BunConnection): boolean {
    const timer = this.#handshaking.get(conn);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.#handshaking.delete(conn);
    return true;
  }

  #handshakeDone(conn: BunConnection | undefined, ok: boolean): void {
    if (!conn || !this.#stopHandshake(conn)) return;
    if (ok) this.#offer(conn);
    else conn.close();
  }
}

function clientTls(options: ConnectOptions["tls"]): BunTlsOptions | undefined {
  if (!options) return undefined;
  return {
    // Never omit: Bun's default accepts unverified peers, and an empty
    // object would silently mean plain TCP.
    rejectUnauthorized: true,
    ...(options.caCerts ? { ca: [...options.caCerts] } : {}),
    // Without serverName Bun verifies against the connect hostname (IP SANs too).
    ...(options.serverName ? { serverName: options.serverName } : {}),
  };
}

async function connect(options: ConnectOptions): Promise<Connection> {
  const tls = clientTls(options.tls);
  const ready = Promise.withResolvers<BunConnection>();
  // Handled here so an early rejection (before Bun.connect settles) is not
  // reported as unhandled; it is still awaited below.
  ready.promise.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = (socket: BunSocket) => {
    const conn = new BunConnection(socket);
    if (!tls) return ready.resolve(conn);
    timer = setTimeout(() => {
      ready.reject(new Error("TLS handshake timed out"));
      conn.close();
    }, HANDSHAKE_TIMEOUT_MS);
    conn.closed.then(() => ready.reject(new Error("connection closed during TLS handshake")));
  };
  const handshake = (socket: BunSocket, ok: boolean, error: Error | null) => {
    const conn = socket.data;
    if (!conn) return;
    if (ok && !error && socket.authorized) return ready.resolve(conn);
    ready.reject(error ?? new Error("TLS handshake failed"));
    conn.close();
  };

  await Bun.connect({
    hostname: options.hostname,
    port: options.port,
    ...(tls ? { tls } : {}),
    socket: socketHandlers(open, tls ? handshake : undefined),
  });
  try {
    return await ready.promise;
  } finally {
    clearTimeout(timer);
  }
}

export const net: NetAdapter = {
  // Inside an executor so a bind error (port in use) rejects instead of throwing.
  listen: (options) => new Promise((resolve) => resolve(new BunListener(options))),
  connect,
};
