/**
 * SOLEC client library: one user session over one connection (spec §6).
 *
 * ## Session start
 * `SolecClient.connect()` opens the connection and sends `Handshake{0, 2, 0x01}`
 * at once, without waiting for the server's greeting: the spec lets a client
 * skip the wait, and waiting would hang on a server that does not greet. The
 * greeting `Handshake{0, 2, 0x00}` is accepted whenever it arrives before the
 * first reply (it may come in the same read as the login reply); a greeting
 * with `ver_major != 0` ends the session with `SolecError` 0x81. A Handshake
 * after the first reply is a protocol violation.
 *
 * ## Replies without ids
 * The server answers every request with exactly one reply, strictly in order,
 * and never interleaves a reply sequence (History: Messages then Success; List:
 * ListItems then Success) with other frames. So the client keeps a FIFO of
 * pending requests and matches every reply to its head. Requests may be issued
 * without awaiting the previous ones (pipelining); frames issued in the same
 * tick are coalesced into one `Connection.send()`.
 *
 * ## Classifying Message frames
 * A Message frame is either a push (a direct or channel message, or the offline
 * inbox after login) or an item of a History reply; the wire does not say
 * which. Rule: while the oldest pending request is a History for target T, a
 * Message that belongs to T's conversation is a history item —
 * - T is a channel: `message.target === T`;
 * - T is a user U: the message is between the own address and U, either way —
 * and any other Message is a push.
 * Known ambiguity: a push of T's conversation that arrives just before the
 * History sequence starts is taken as a history item. When that makes the
 * sequence longer than the `count` asked for, the surplus leading items cannot
 * be history and are handed to the push stream when the sequence ends (late,
 * but not lost); otherwise the push shows up only in the history result.
 *
 * ## Own address
 * Message.source must be the session's own address (`name@domain`). The server
 * completes a bare login name with its own domain, which the client cannot
 * know: log in with a full address, or pass `domain` to `connect()`. `login()`
 * rejects a bare name when no `domain` was given.
 *
 * ## Incoming messages
 * Pushed Messages go to the `onMessage` callback when one was given to
 * `connect()`; otherwise they are buffered for `messages()`. The buffer is
 * unbounded but observable (`pendingMessages`): the server's pushes are bounded
 * by what other users send, and dropping chat messages silently is worse than
 * memory growth a caller can watch. `messages()` iterators share one buffer
 * (each message goes to one of them) and end once the session is over and the
 * buffer is drained.
 *
 * ## Failure
 * A close by either side, a network error, a malformed frame, a frame a server
 * must not send, or an Error frame with no request pending ends the session:
 * every pending request rejects (with the `SolecError` that ended it, else a
 * `ConnectionClosedError`), the message iterators end, `closed` resolves, and
 * later requests reject at once. No promise is left waiting on a dead session.
 * (A connection that goes silent without closing is not detected here; use
 * `ping()` with a timer for that.)
 */
import type { Connection, NetAdapter, TlsClientOptions } from "../platform.ts";
import {
  ConnType,
  decodePayload,
  encode,
  encodeMessage,
  ErrorCode,
  FrameDecoder,
  MAX_PAYLOAD,
  type Message,
  Mode,
  parseAddress,
  parseUserName,
  PayloadType,
  ProtocolError,
  typeName,
  VERSION_MAJOR,
  VERSION_MINOR,
} from "../protocol/mod.ts";

export type { Message } from "../protocol/mod.ts";

// ---------------------------------------------------------------- errors

const ERROR_TEXT: Record<number, string> = {
  [ErrorCode.AuthFailed]: "authentication failed",
  [ErrorCode.NotFound]: "not found or not permitted",
  [ErrorCode.ServerAuthFailed]: "server authentication failed",
  [ErrorCode.ProtocolViolation]: "protocol violation",
  [ErrorCode.UnsupportedVersion]: "unsupported protocol version",
  [ErrorCode.RateLimited]: "rate limited",
  [ErrorCode.Unavailable]: "temporarily unavailable",
};

function hex2(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/** Readable text for a SOLEC error code; unknown codes are generic errors (spec §4). */
export function describeErrorCode(code: number): string {
  return ERROR_TEXT[code] ?? `error ${hex2(code)}`;
}

/**
 * A SOLEC-level failure: an Error reply from the server (`code` is its code),
 * or a protocol violation detected by this client (`code` 0x80, the decoder's
 * `ProtocolError` as `cause` when a frame was malformed).
 */
export class SolecError extends Error {
  override readonly name = "SolecError";
  constructor(readonly code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The connection ended (or was never usable) before the request got its reply. */
export class ConnectionClosedError extends Error {
  override readonly name = "ConnectionClosedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function replyError(what: string, code: number): SolecError {
  return new SolecError(code, `${what} failed: ${describeErrorCode(code)} (${hex2(code)})`);
}

function violation(message: string, cause?: unknown): SolecError {
  return new SolecError(
    ErrorCode.ProtocolViolation,
    `protocol violation by server: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

// ---------------------------------------------------------------- options

export interface ClientConnectOptions {
  readonly net: NetAdapter;
  readonly hostname: string;
  readonly port: number;
  readonly tls?: TlsClientOptions;
  /**
   * Largest inbound payload accepted. Default 65535: a server relays messages
   * from other servers whose limits may be higher than its own inbound one.
   */
  readonly maxPayload?: number;
  /** Domain that completes a bare login name (spec §5); see the module comment. */
  readonly domain?: string;
  /** Receives pushed messages instead of the `messages()` buffer. */
  readonly onMessage?: (message: Message) => void;
}

export interface HistoryOptions {
  /** Only messages newer than this (ms since the epoch). Default 0: all. */
  readonly since?: number;
  /** Default 100; the server caps it. */
  readonly count?: number;
  /** Skip this many of the newest selected messages. Default 0. */
  readonly offset?: number;
}

export interface ListOptions {
  readonly count?: number;
  readonly offset?: number;
}

// ---------------------------------------------------------------- internals

interface PendingBase {
  /** Describes the request in error messages, e.g. "send to bob@a.test". */
  readonly what: string;
  readonly reject: (error: Error) => void;
}

type Pending =
  | PendingBase & { readonly kind: "auth" | "simple"; readonly resolve: () => void }
  | PendingBase & {
    readonly kind: "history";
    readonly resolve: (messages: Message[]) => void;
    /** Matches the messages of the requested conversation. */
    readonly belongs: (m: Message) => boolean;
    readonly count: number;
    readonly items: Message[];
  }
  | PendingBase & {
    readonly kind: "list";
    readonly resolve: (items: string[]) => void;
    readonly items: string[];
  }
  | PendingBase & { readonly kind: "ping"; readonly resolve: (data: Uint8Array) => void };

/** An array-backed FIFO: O(1) shift, unlike Array#shift on long queues. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Compact once the dead prefix dominates, keeping shift amortised O(1).
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  drain(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

/** Canonical form of an address for comparisons (domain lower-cased); raw if invalid. */
function canonical(address: string): string {
  return parseAddress(address)?.full ?? address;
}

/** Upper bound for one coalesced write, so a burst does not build one huge buffer. */
const MAX_BATCH_BYTES = 64 * 1024;

function concat(frames: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

// ---------------------------------------------------------------- client

export class SolecClient {
  readonly #conn: Connection;
  readonly #decoder: FrameDecoder;
  readonly #domain: string | undefined;
  readonly #onMessage: ((message: Message) => void) | undefined;

  readonly #pending = new Fifo<Pending>();
  readonly #inbox = new Fifo<Message>();
  readonly #waiters: ((result: IteratorResult<Message>) => void)[] = [];

  #out: Uint8Array[] = [];
  #outBytes = 0;
  #flushing = false;

  /** Own address, fixed when `login()` is called so pipelined requests can use it. */
  #self: string | undefined;
  #loggedIn = false;
  #greeted = false;
  #repliesSeen = 0;
  #serverVersion: { major: number; minor: number } | undefined;

  #done = false;
  #closeReason: Error | undefined;
  #resolveEnded!: () => void;
  readonly #ended = new Promise<void>((resolve) => (this.#resolveEnded = resolve));
  #readLoop: Promise<void> = Promise.resolve();

  /**
   * Resolves once the session is over and the socket is closed: with the error
   * that ended it, or `undefined` after `close()`. Never rejects.
   */
  readonly closed: Promise<Error | undefined>;

  private constructor(conn: Connection, options: ClientConnectOptions) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder({ maxPayload: options.maxPayload ?? MAX_PAYLOAD });
    this.#domain = options.domain;
    this.#onMessage = options.onMessage;
    this.closed = this.#ended.then(async () => {
      await this.#readLoop;
      await conn.closed;
      return this.#closeReason;
    });
  }

  /** Connects and sends the user Handshake; see the module comment for the greeting. */
  static async connect(options: ClientConnectOptions): Promise<SolecClient> {
    const conn = await options.net.connect({
      hostname: options.hostname,
      port: options.port,
      tls: options.tls,
    });
    let client: SolecClient;
    try {
      client = new SolecClient(conn, options);
    } catch (e) {
      conn.close();
      throw e;
    }
    client.#readLoop = client.#read();
    client.#enqueue(
      encode({
        type: PayloadType.Handshake,
        major: VERSION_MAJOR,
        minor: VERSION_MINOR,
        connType: ConnType.User,
      }),
    );
    return client;
  }

  /** Own full address once logged in. */
  get address(): string | undefined {
    return this.#loggedIn ? this.#self : undefined;
  }

  /** The version from the server's greeting, once received. */
  get serverVersion(): { readonly major: number; readonly minor: number } | undefined {
    return this.#serverVersion;
  }

  /** Whether the session is over (closed, failed). */
  get isClosed(): boolean {
    return this.#done;
  }

  /** Requests sent and not yet answered. */
  get pendingRequests(): number {
    return this.#pending.length;
  }

  /** Bytes of frames queued and not yet handed to the connection. */
  get queuedBytes(): number {
    return this.#outBytes;
  }

  /** Pushed messages buffered for `messages()` and not yet consumed. */
  get pendingMessages(): number {
    return this.#inbox.length;
  }

  /**
   * Authenticates. Resolves on Success; rejects with `SolecError` 0x01 on a
   * wrong name or password (the server then closes the connection). After
   * Success the server pushes the offline inbox to the message stream.
   */
  login(username: string, password: string): Promise<void> {
    if (this.#self !== undefined) return Promise.reject(new Error("login() was already called"));
    let self: string | undefined;
    if (username.includes("@")) {
      self = canonical(username);
    } else if (this.#domain !== undefined) {
      self = parseUserName(username, this.#domain)?.full ?? `${username}@${this.#domain}`;
    } else {
      return Promise.reject(
        new TypeError(
          `login: "${username}" has no domain; log in with a full address (name@domain) ` +
            `or pass \`domain\` to connect()`,
        ),
      );
    }
    return this.#request(
      "login",
      (resolve, reject, what) => ({ kind: "auth", what, resolve, reject }),
      () => encode({ type: PayloadType.UserAuth, username, password }),
      self,
    );
  }

  /** Sends a message to a user or channel; resolves once the server stored it. */
  send(target: string, content: string, timestamp: number = Date.now()): Promise<void> {
    return this.#request(
      `send to ${target}`,
      (resolve, reject, what) => ({ kind: "simple", what, resolve, reject }),
      (self) => encodeMessage(self, target, timestamp, content),
    );
  }

  join(channel: string): Promise<void> {
    return this.#usermode(`join ${channel}`, channel, Mode.On);
  }

  leave(channel: string): Promise<void> {
    return this.#usermode(`leave ${channel}`, channel, Mode.Off);
  }

  /** Adds a user to own contacts (Usermode extension, spec §6). */
  addContact(user: string): Promise<void> {
    return this.#usermode(`add contact ${user}`, user, Mode.On);
  }

  removeContact(user: string): Promise<void> {
    return this.#usermode(`remove contact ${user}`, user, Mode.Off);
  }

  /** Reads a conversation: the selected messages, oldest first. */
  history(target: string, options: HistoryOptions = {}): Promise<Message[]> {
    const { since = 0, count = 100, offset = 0 } = options;
    const t = canonical(target);
    const isChannel = t.startsWith("#");
    return this.#request(
      `history of ${target}`,
      (resolve, reject, what, self) => ({
        kind: "history",
        what,
        resolve,
        reject,
        count,
        items: [],
        belongs: isChannel ? (m) => m.target === t || canonical(m.target) === t : (m) => {
          const s = canonical(m.source);
          const d = canonical(m.target);
          return (s === self && d === t) || (s === t && d === self);
        },
      }),
      () => encode({ type: PayloadType.History, target, since, count, offset }),
    );
  }

  /** Own contacts and joined channels, sorted by the server. */
  list(options: ListOptions = {}): Promise<string[]> {
    const { count = 500, offset = 0 } = options;
    return this.#request(
      "list",
      (resolve, reject, what) => ({ kind: "list", what, resolve, reject, items: [] }),
      () => encode({ type: PayloadType.List, count, offset }),
    );
  }

  /** Liveness probe: resolves with the data the server echoed. */
  ping(data: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    return this.#request(
      "ping",
      (resolve, reject, what) => ({ kind: "ping", what, resolve, reject }),
      () => encode({ type: PayloadType.Test, data }),
    );
  }

  /** Pushed messages in arrival order; see the module comment for the buffer policy. */
  messages(): AsyncIterableIterator<Message> {
    let finished = false;
    const iterator: AsyncIterableIterator<Message> = {
      next: (): Promise<IteratorResult<Message>> => {
        if (finished) return Promise.resolve({ done: true, value: undefined });
        const m = this.#inbox.shift();
        if (m !== undefined) return Promise.resolve({ done: false, value: m });
        if (this.#done) {
          finished = true;
          return Promise.resolve({ done: true, value: undefined });
        }
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<Message>> => {
        finished = true;
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Closes the connection now; pending requests reject with `ConnectionClosedError`. */
  close(): void {
    this.#fail(undefined);
  }

  // -------------------------------------------------------------- requests

  #usermode(what: string, other: string, mode: number): Promise<void> {
    return this.#request(
      what,
      (resolve, reject, w) => ({ kind: "simple", what: w, resolve, reject }),
      (self) => encode({ type: PayloadType.Usermode, user: self, channel: other, mode }),
    );
  }

  /**
   * Registers a pending request and queues its frame, synchronously, so the
   * FIFO order is the call order. `frame` runs first: an encoding error
   * (RangeError for an oversized field, say) rejects without touching the FIFO.
   * `loginAs` is set only by `login()`, the one request allowed before login.
   */
  #request<T>(
    what: string,
    make: (
      resolve: (value: T) => void,
      reject: (error: Error) => void,
      what: string,
      self: string,
    ) => Pending,
    frame: (self: string) => Uint8Array,
    loginAs?: string,
  ): Promise<T> {
    if (this.#done) {
      return Promise.reject(
        new ConnectionClosedError(`${what}: the connection is closed`, {
          cause: this.#closeReason,
        }),
      );
    }
    const self = loginAs ?? this.#self;
    if (self === undefined) return Promise.reject(new Error(`${what}: call login() first`));
    let bytes: Uint8Array;
    try {
      bytes = frame(self);
    } catch (e) {
      return Promise.reject(e);
    }
    if (loginAs !== undefined) this.#self = loginAs;
    return new Promise<T>((resolve, reject) => {
      this.#pending.push(make(resolve, reject, what, self));
      this.#enqueue(bytes);
    });
  }

  // -------------------------------------------------------------- writing

  #enqueue(frame: Uint8Array): void {
    this.#out.push(frame);
    this.#outBytes += frame.length;
    if (!this.#flushing) {
      this.#flushing = true;
      // A microtask later, every frame issued in this tick is in the queue.
      queueMicrotask(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#out.length > 0 && !this.#done) {
        let n = 0;
        let bytes = 0;
        while (
          n < this.#out.length && (n === 0 || bytes + this.#out[n].length <= MAX_BATCH_BYTES)
        ) {
          bytes += this.#out[n++].length;
        }
        const batch = this.#out.splice(0, n);
        this.#outBytes -= bytes;
        // The adapter allows one write in flight; awaiting it is the back-pressure.
        await this.#conn.send(n === 1 ? batch[0] : concat(batch, bytes));
      }
    } catch (e) {
      this.#fail(
        new ConnectionClosedError(`connection lost while sending: ${errorText(e)}`, { cause: e }),
      );
    } finally {
      this.#flushing = false;
    }
  }

  // -------------------------------------------------------------- reading

  async #read(): Promise<void> {
    try {
      for await (const chunk of this.#conn) {
        if (this.#done) break;
        this.#decoder.push(chunk);
        for (let type = this.#decoder.next(); type !== -1; type = this.#decoder.next()) {
          this.#onFrame(type, this.#decoder.payload);
          if (this.#done) return;
        }
      }
      this.#fail(new ConnectionClosedError("connection closed by server"));
    } catch (e) {
      if (e instanceof SolecError) this.#fail(e);
      else if (e instanceof ProtocolError) {
        this.#fail(violation(`malformed frame: ${e.message}`, e));
      } else {
        this.#fail(new ConnectionClosedError(`connection lost: ${errorText(e)}`, { cause: e }));
      }
    }
  }

  /** Handles one frame; throws SolecError/ProtocolError to end the session. */
  #onFrame(type: number, payload: Uint8Array): void {
    const p = decodePayload(type, payload);
    switch (p.type) {
      case PayloadType.Handshake:
        if (this.#greeted || this.#repliesSeen > 0) {
          throw violation("Handshake after the session started");
        }
        this.#greeted = true;
        this.#serverVersion = { major: p.major, minor: p.minor };
        if (p.major !== VERSION_MAJOR) {
          throw new SolecError(
            ErrorCode.UnsupportedVersion,
            `server speaks SOLEC ${p.major}.${p.minor}, this client ${VERSION_MAJOR}.${VERSION_MINOR}`,
          );
        }
        return;
      case PayloadType.Success: {
        const head = this.#pending.peek();
        if (head === undefined) throw violation("Success with no request pending");
        if (head.kind === "ping") throw violation("Success in reply to Test");
        this.#pending.shift();
        this.#repliesSeen++;
        this.#complete(head);
        return;
      }
      case PayloadType.Error: {
        const head = this.#pending.shift();
        if (head === undefined) {
          throw new SolecError(
            p.code,
            `server error with no request pending: ${describeErrorCode(p.code)} (${hex2(p.code)})`,
          );
        }
        this.#repliesSeen++;
        // A History answered by Error has no items: whatever was collected were pushes.
        if (head.kind === "history") { for (const m of head.items) this.#push(m); }
        head.reject(replyError(head.what, p.code));
        return;
      }
      case PayloadType.Message: {
        const head = this.#pending.peek();
        if (head?.kind === "history" && head.belongs(p)) head.items.push(p);
        else this.#push(p);
        return;
      }
      case PayloadType.ListItem: {
        const head = this.#pending.peek();
        if (head?.kind !== "list") throw violation("ListItem outside a List reply");
        head.items.push(p.address);
        return;
      }
      case PayloadType.Test: {
        const head = this.#pending.peek();
        // Test is the one reserved type a peer may receive (spec §4); one that
        // answers no ping is a probe we need not act on.
        if (head?.kind !== "ping") return;
        this.#pending.shift();
        this.#repliesSeen++;
        // The payload is a view into the read buffer: copy what we hand out.
        head.resolve(p.data.slice());
        return;
      }
      default:
        throw violation(`${typeName(type)} is never sent to a client`);
    }
  }

  #complete(head: Pending): void {
    switch (head.kind) {
      case "auth":
        this.#loggedIn = true;
        head.resolve();
        return;
      case "simple":
        head.resolve();
        return;
      case "history": {
        // More items than asked for: the leading surplus were pushes that
        // arrived just before the sequence (see the module comment).
        const surplus = head.items.length - head.count;
        if (surplus > 0) {
          for (const m of head.items.splice(0, surplus)) this.#push(m);
        }
        head.resolve(head.items);
        return;
      }
      case "list":
        head.resolve(head.items);
        return;
      case "ping":
        return; // unreachable: Success for a ping is rejected by the caller
    }
  }

  #push(message: Message): void {
    if (this.#onMessage !== undefined) {
      try {
        this.#onMessage(message);
      } catch (e) {
        // A throwing handler must not tear down the session or skip frames.
        queueMicrotask(() => {
          throw e;
        });
      }
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter({ done: false, value: message });
    else this.#inbox.push(message);
  }

  /** Ends the session once; `reason` undefined means a local `close()`. */
  #fail(reason: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#closeReason = reason;
    this.#out = [];
    this.#outBytes = 0;
    this.#conn.close();
    const error = reason instanceof SolecError || reason instanceof ConnectionClosedError
      ? reason
      : new ConnectionClosedError("connection closed by client");
    for (const p of this.#pending.drain()) p.reject(error);
    // Buffered messages stay readable; only iterators waiting on an empty buffer end now.
    for (const w of this.#waiters.splice(0)) w({ done: true, value: undefined });
    this.#resolveEnded();
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
