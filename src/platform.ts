/**
 * The contract between the runtime-portable core and a runtime adapter.
 *
 * Everything the core needs from Bun or Deno goes through these interfaces;
 * `src/adapters/bun` and `src/adapters/deno` are the only places that implement
 * them (and the only files that name the `Bun` / `Deno` globals). The portable
 * parts of each runtime (node:crypto, node:fs, node:process, WebCrypto) are used
 * directly by the core, since both runtimes provide them.
 */

import type { StartSqliteFlusher } from "./kv/sqlite-flusher.ts";

/** Host and port of one end of a TCP connection. */
export interface NetAddr {
  readonly hostname: string;
  readonly port: number;
}

/** PEM-encoded material for a TLS listener or a TLS client connection. */
export interface TlsServerOptions {
  readonly cert: string;
  readonly key: string;
}

export interface TlsClientOptions {
  /** Trusted CA certificates (PEM); when absent the system store is used. */
  readonly caCerts?: readonly string[];
  /** Server name for SNI and certificate verification; defaults to `hostname`. */
  readonly serverName?: string;
}

/**
 * How much received input may wait for its consumer before reading pauses (TCP
 * back-pressure then holds the rest): iteration, the Bun adapter before `read()`,
 * and a session waiting on a request all use it.
 */
export const READ_HIGH_WATER = 64 * 1024;

/**
 * Receives a connection's input as it arrives (`Connection.read`): the
 * server's way of reading, which costs no promise per chunk and no
 * suspended coroutine per idle connection.
 */
export interface ReadSink {
  /** The next chunk, in order; it is the sink's (the adapter never reuses its memory). */
  data(chunk: Uint8Array): void;
  /**
   * No more data will come: the peer closed, the connection failed, or
   * `close()` was called. Called once, after the last `data`, and never from
   * inside `close()` itself.
   */
  end(): void;
}

/**
 * How one `Connection.sendWith` ended. Methods, so that one object (the
 * server's per-connection writer) serves every write without a promise or
 * closure each.
 */
export interface SendCallback {
  /** The bytes were handed to the OS. May run before `sendWith` returns. */
  sent(): void;
  /** The connection is gone; the bytes may not all have been sent. */
  sendFailed(): void;
}

/**
 * One byte-stream connection (TCP, optionally TLS).
 *
 * - Reading, either way (not both, one reader for the connection's life):
 *   - `read(sink)`: chunks are pushed to the sink as they arrive. `pause()`
 *     stops taking input from the OS (TCP back-pressure) and no `data` comes
 *     until `resume()`.
 *   - or iterate it. Each chunk is owned by the consumer. Iteration ends when
 *     the peer closes, the connection fails, or `close()` is called; leaving
 *     a `for await` loop early does not close the connection, a later loop
 *     goes on reading. While the consumer does not pull, the connection
 *     buffers a bounded amount (64 KiB plus one socket read), then pauses.
 * - Writing: `send()` writes in order. At most one write is in flight: the
 *   returned promise settles when the bytes were handed to the OS (or rejects
 *   when the connection is gone). Callers that need to bound memory await it.
 *   The data is not copied: do not modify it until the promise settles.
 * - The peer's end of stream closes both directions (no half-open sessions).
 * - `closed` resolves once the socket is fully closed, whichever side closed
 *   it; it never rejects. A peer's close is noticed while someone reads or a
 *   send fails.
 */
export interface Connection extends AsyncIterable<Uint8Array> {
  readonly remoteAddr: NetAddr;
  readonly localAddr: NetAddr;
  read(sink: ReadSink): void;
  pause(): void;
  resume(): void;
  send(data: Uint8Array): Promise<void>;
  /** `send()` reporting to `done` instead of a promise; same order and one write in flight. */
  sendWith(data: Uint8Array, done: SendCallback): void;
  /** Close now; unsent data may be dropped. Idempotent. */
  close(): void;
  readonly closed: Promise<void>;
}

/** A listening socket; iterate it to accept connections. */
export interface Listener extends AsyncIterable<Connection> {
  readonly addr: NetAddr;
  /** Stop accepting; established connections are not touched. Idempotent. */
  close(): void;
}

export interface ListenOptions {
  readonly hostname: string;
  /** 0 picks a free port; read it back from `Listener.addr`. */
  readonly port: number;
  readonly tls?: TlsServerOptions;
}

export interface ConnectOptions {
  readonly hostname: string;
  readonly port: number;
  readonly tls?: TlsClientOptions;
}

export interface NetAdapter {
  listen(options: ListenOptions): Promise<Listener>;
  connect(options: ConnectOptions): Promise<Connection>;
}

/** Parameters accepted by prepared SQLite statements. */
export type SqliteValue = string | number | bigint | Uint8Array | null;

/** A prepared statement: the intersection of `bun:sqlite` and `node:sqlite`. */
export interface SqliteStatement {
  run(...params: SqliteValue[]): void;
  /** Rows as objects keyed by column name; BLOBs come back as Uint8Array. */
  all(...params: SqliteValue[]): Record<string, unknown>[];
  get(...params: SqliteValue[]): Record<string, unknown> | undefined;
}

/** A synchronous SQLite connection (both runtimes' drivers are synchronous). */
export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type OpenSqlite = (path: string) => SqliteDatabase;

/** An HTTP server started by `Platform.serveHttp`. */
export interface HttpServer {
  readonly addr: NetAddr;
  shutdown(): Promise<void>;
}

export interface ServeHttpOptions {
  readonly hostname: string;
  readonly port: number;
  readonly fetch: (request: Request) => Response | Promise<Response>;
}

/** Everything a runtime adapter provides, injected at the entry point. */
export interface Platform {
  readonly runtime: "bun" | "deno";
  readonly net: NetAdapter;
  readonly openSqlite: OpenSqlite;
  /** Starts a thread of the SQLite store's flusher (fsyncs or checkpoints off the event loop). */
  readonly startSqliteFlusher: StartSqliteFlusher;
  readonly serveHttp: (options: ServeHttpOptions) => Promise<HttpServer>;
  /** A full garbage collection, where the runtime offers one (see BurstCollector). */
  readonly collectGarbage?: () => void;
  /**
   * Names of the runtime's helper threads that the server runs at a lower priority than
   * its event loop (see src/adapters/helper-threads.ts): background work only, never a
   * thread the event loop spins on while it waits.
   */
  readonly helperThreads?: RegExp;
  /**
   * Of `helperThreads`, those run in `SCHED_IDLE` (only when the core is otherwise idle,
   * preempted as soon as the event loop wakes) rather than at a nice value: threads whose
   * work can wait however busy the server is, never ones that requests wait for.
   */
  readonly idleHelperThreads?: RegExp;
  /** Puts thread `tid` of this process in `SCHED_IDLE` (Linux); returns whether it took. */
  readonly setIdleScheduling?: (tid: number) => boolean;
}
