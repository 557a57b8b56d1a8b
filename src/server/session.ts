/**
 * One inbound connection: a client (spec §6: greeting, handshake, UserAuth)
 * or a peer server's link (spec §7: handshake with conn_type 0x02, signed
 * ServerAuth both ways). Then requests are handled strictly in order with
 * exactly one reply each.
 *
 * Any malformed frame, or a frame not allowed in the current state, is
 * answered with Error 0x80 and the connection is closed; nothing else on the
 * server is affected.
 */
import {
  ConnType,
  decodeMessageView,
  decodePayload,
  encode,
  ErrorCode,
  FrameDecoder,
  type MessageView,
  type Payload,
  PayloadType,
  ProtocolError,
  VERSION_MAJOR,
  VERSION_MINOR,
} from "../protocol/mod.ts";
import { parseUserName } from "../protocol/mod.ts";
import { type Connection, READ_HIGH_WATER, type ReadSink } from "../platform.ts";
import { hashPassword, needsRehash, verifyAgainstDummy, verifyPassword } from "./password.ts";
import { batchNow } from "./clock.ts";
import { ConnWriter } from "./conn-writer.ts";
import type { Expirable } from "./deadlines.ts";
import { OK, QUEUED, type Requester } from "./router.ts";
import { TokenBucket } from "./rate-limit.ts";
import type { ServerContext } from "./context.ts";

const State = {
  AwaitHandshake: 0,
  AwaitAuth: 1,
  Authenticating: 2,
  AwaitServerAuth: 3,
  Established: 4,
  PeerEstablished: 5,
  Closed: 6,
} as const;
type State = typeof State[keyof typeof State];

const SUCCESS = encode({ type: PayloadType.Success });
const ERROR_FRAMES = new Map<number, Uint8Array>();
function errorFrame(code: number): Uint8Array {
  let f = ERROR_FRAMES.get(code);
  if (f === undefined) ERROR_FRAMES.set(code, f = encode({ type: PayloadType.Error, code }));
  return f;
}
export const GREETING = encode({
  type: PayloadType.Handshake,
  major: VERSION_MAJOR,
  minor: VERSION_MINOR,
  connType: ConnType.Greeting,
});

/** Unanswered pipelined Messages per connection before it stops reading. */
const MAX_INFLIGHT = 1024;
/** A reply slot whose code is not known yet. */
const PENDING = -2;
/** The reply queue of a session that has sent no Message yet (never written to). */
const NO_REPLIES: number[] = [];
/** `onEnd` of a session nobody waits for. */
function ignoreEnd(): void {}
/** The input queue of a session that is not waiting (never written to). */
const NO_INPUT: Uint8Array[] = [];
/** Answered reply slots kept before the queue is compacted. */
const COMPACT_AT = 4096;

export class Session implements Requester, ReadSink, Expirable {
  #state: State = State.AwaitHandshake;
  readonly writer: ConnWriter;
  readonly #decoder: FrameDecoder;
  /**
   * The handshake/login time limit's ticket in `ctx.authDeadlines` while it runs
   * (until the UserAuth or ServerAuth arrives, or the session closes), else -1.
   */
  #authTicket = -1;
  /** Set after a successful login. */
  address = "";
  /** The peer server's domain on an authenticated server link. */
  peer = "";
  /** True between login Success and the end of the inbox sequence. */
  loggingIn = false;
  /** Set by `shutdown()`: finish the request in hand, read no more. */
  #stopping = false;
  /** A request is being handled (awaiting the store or a password check): input waits. */
  #busy = false;
  /** `#pump` is running (an `end()` from inside it must not start another). */
  #pumping = false;
  /** Chunks received while busy, not yet given to the decoder. */
  #input: Uint8Array[] = NO_INPUT;
  #inputBytes = 0;
  #inputEnded = false;
  #finished = false;
  /** Request rate limit, set up once the session is established. */
  #bucket: TokenBucket | null = null;
  /** Called once when the session closes. */
  #onClose: (() => void)[] | null = null;
  /**
   * Replies to pipelined Messages, in request order: a code, or PENDING while
   * the message is in a group commit. Ticket t is slot `t - #ticketBase`;
   * slots before `#head` are answered, slots from `#tail` on are free (the
   * arrays are reused, never shortened: no allocation per message once they
   * have grown to the connection's pipelining depth). Shared empty arrays until the first
   * Message: thousands of idle connections need not carry two arrays each.
   */
  #codes: number[] = NO_REPLIES;
  #startedAt: number[] = NO_REPLIES;
  #head = 0;
  #tail = 0;
  #ticketBase = 0;
  /** Woken when every queued reply has been written. */
  #repliesDrained: (() => void)[] | null = null;

  constructor(
    private readonly conn: Connection,
    private readonly ctx: ServerContext,
    /** Runs once the session is over and its connection closed. */
    private readonly onEnd: (session: Session) => void = ignoreEnd,
  ) {
    this.#decoder = new FrameDecoder({ maxPayload: ctx.options.maxPayload });
    this.writer = new ConnWriter(conn, ctx.options.maxOutputBytes, this, ctx.metrics);
  }

  /** The writer's bound was passed: the client does not read what it is sent. */
  overflowed(): void {
    this.ctx.metrics.slowConsumerDrops++;
    this.ctx.log.info("slow consumer disconnected", {
      remote: this.remoteIp,
      user: this.address || null,
    });
    this.close();
  }

  #newBucket(rate: number, burst: number): TokenBucket | null {
    return rate > 0 ? new TokenBucket(rate, burst, batchNow()) : null;
  }

  #isClosed(): boolean {
    return this.#state === State.Closed;
  }

  get remoteIp(): string {
    return this.conn.remoteAddr.hostname;
  }

  push(frame: Uint8Array): void {
    this.writer.push(frame);
  }

  write(frame: Uint8Array): void {
    this.writer.write(frame);
  }

  flushed(): Promise<void> {
    return this.writer.flushed();
  }

  /**
   * Starts the session: from here on the connection's input drives it (see
   * `data`), and `onEnd` runs once when it is over. Never throws.
   */
  start(): void {
    this.writer.write(GREETING);
    this.#authTicket = this.ctx.authDeadlines.add(this);
    this.conn.read(this);
  }

  /** The handshake/login time limit is up (`Expirable`). */
  deadlinePassed(): void {
    if (this.#authTicket < 0 || this.#isClosed()) return;
    this.ctx.metrics.authTimeouts++;
    this.ctx.log.info("handshake/auth time limit", { remote: this.remoteIp });
    this.close();
  }

  /** Input from the connection (`ReadSink`). */
  data(chunk: Uint8Array): void {
    if (this.#isClosed()) return;
    this.ctx.metrics.bytesReceived += chunk.length;
    if (this.#busy || this.#input.length > 0) {
      // A request is in hand: the chunk waits, and past a bound so does the socket.
      if (this.#input === NO_INPUT) this.#input = [];
      this.#input.push(chunk);
      this.#inputBytes += chunk.length;
      if (this.#inputBytes >= READ_HIGH_WATER) this.conn.pause();
      return;
    }
    this.#decoder.push(chunk);
    this.#pump();
  }

  /** The connection's input ended (`ReadSink`). */
  end(): void {
    this.#inputEnded = true;
    if (!this.#busy) this.#pump();
  }

  /**
   * Handles the frames received so far, in order, until the input runs out
   * or a request has to wait (then `#wait` picks up where this stopped).
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#busy) {
        if (this.#isClosed() || this.#stopping) return this.#finish();
        const type = this.#nextFrame();
        if (type === -1) {
          if (this.#inputEnded) this.#finish();
          return;
        }
        const pending = this.#frame(type);
        if (pending !== undefined) this.#wait(pending);
      }
    } catch (e) {
      this.#failed(e);
    } finally {
      this.#pumping = false;
    }
  }

  /** The next whole frame's type from the decoder, fed from `#input`; -1 when none. */
  #nextFrame(): number {
    for (;;) {
      const type = this.#decoder.next();
      if (type !== -1 || this.#input.length === 0) return type;
      const chunk = this.#input.shift() as Uint8Array;
      this.#inputBytes -= chunk.length;
      if (this.#input.length === 0) {
        this.#input = NO_INPUT;
        this.conn.resume();
      }
      this.#decoder.push(chunk);
    }
  }

  /** Reads no further until `pending` settles, then goes on. */
  #wait(pending: Promise<void>): void {
    this.#busy = true;
    pending.then(
      () => {
        this.#busy = false;
        this.#pump();
      },
      (e) => {
        this.#busy = false;
        this.#failed(e);
      },
    );
  }

  /** A request failed unexpectedly, or the input broke the protocol: the session ends. */
  #failed(e: unknown): void {
    this.#busy = true; // read nothing more
    if (e instanceof ProtocolError) {
      void this.#fail(e.code, e.message).then(() => this.#finish());
      return;
    }
    this.ctx.log.error("session failed", { remote: this.remoteIp, error: String(e) });
    this.#finish();
  }

  /**
   * The end: what was accepted is answered (a graceful stop, or the peer
   * half-closed after its last request), then the connection closes.
   */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#busy = true; // reads nothing more
    void this.#drainReplies().then(() => {
      this.close();
      this.onEnd(this);
    });
  }

  /** One frame; returns a promise when the session must wait before the next. */
  #frame(type: number): Promise<void> | undefined {
    this.ctx.metrics.countReceived(type);
    // A Message on an established session, the hot path, is read as a
    // view (content left as bytes); anything else is decoded in full.
    const view = type === PayloadType.Message && this.#state === State.Established
      ? decodeMessageView(this.#decoder.payload)
      : null;
    const p = view === null ? decodePayload(type, this.#decoder.payload) : null;
    const started = batchNow();
    if (this.#bucket !== null && type !== PayloadType.Success) {
      const verdict = this.#bucket.take(started);
      if (verdict !== "ok") return this.#rateLimited(verdict);
    }
    // Replies are not cut by the output bound (ConnWriter.write): a client
    // that does not read them is simply not read either. Only Messages are
    // pipelined; anything else waits until every earlier reply is out, so
    // replies stay in request order.
    if (
      this.#outputBacklogged() ||
      (this.#inflight > 0 && type !== PayloadType.Message)
    ) {
      return this.#frameAfterOutput(type, view, p, started);
    }
    return this.#dispatch(type, view, p, started);
  }

  /** More than half the output bound is unsent: read no further request until it drains. */
  #outputBacklogged(): boolean {
    return this.writer.buffered > this.ctx.options.maxOutputBytes / 2;
  }

  async #rateLimited(verdict: "refuse" | "abuse"): Promise<void> {
    this.ctx.metrics.rateLimited++;
    if (verdict === "abuse") {
      this.ctx.metrics.abuseDisconnects++;
      return this.#fail(ErrorCode.RateLimited, "sustained request flood");
    }
    if (this.#inflight > 0) await this.#drainReplies();
    this.#reply(ErrorCode.RateLimited);
  }

  /** `#frame` once the output is below half the bound and earlier replies are out. */
  async #frameAfterOutput(
    type: number,
    view: MessageView | null,
    p: Payload | null,
    started: number,
  ): Promise<void> {
    if (this.#outputBacklogged()) {
      await this.writer.flushed();
      if (this.#isClosed()) return;
    }
    if (this.#inflight > 0 && type !== PayloadType.Message) await this.#drainReplies();
    await this.#dispatch(type, view, p, started);
  }

  #dispatch(
    type: number,
    view: MessageView | null,
    p: Payload | null,
    started: number,
  ): Promise<void> | undefined {
    if (view !== null) return this.#message(view, started);
    const pending = this.#handle(p as Payload);
    if (pending === undefined) {
      this.ctx.metrics.observeRequest(type, (performance.now() - started) / 1000);
      return undefined;
    }
    return pending.then(() => {
      this.ctx.metrics.observeRequest(type, (performance.now() - started) / 1000);
    });
  }

  /** Messages validated and queued whose replies are not written yet. */
  get #inflight(): number {
    return this.#tail - this.#head;
  }

  /**
   * A Message on an established client session: validated now (in order),
   * committed with whatever else is queued, answered when durable. The
   * session goes on reading meanwhile, up to MAX_INFLIGHT unanswered.
   * Returns a promise only when the session must wait before reading on.
   */
  #message(m: MessageView, started: number): Promise<void> | undefined {
    if (this.#codes === NO_REPLIES) {
      this.#codes = [];
      this.#startedAt = [];
    }
    const slot = this.#tail++;
    this.#codes[slot] = PENDING;
    this.#startedAt[slot] = started;
    const ticket = this.#ticketBase + slot;
    let staged: number | Promise<number>;
    if (m.contentEnd - m.contentStart > this.ctx.options.maxMessageBytes) {
      staged = ErrorCode.NotFound;
    } else {
      try {
        staged = this.ctx.router.stageMessage(this, m, this.#decoder.payload, ticket);
      } catch (e) {
        this.ctx.log.warn("request failed", { user: this.address, error: String(e) });
        staged = ErrorCode.Unavailable;
      }
    }
    if (typeof staged !== "number") return this.#messageStaging(staged, ticket);
    if (staged !== QUEUED) this.settle(ticket, staged);
    return this.#inflight >= MAX_INFLIGHT ? this.#drainReplies() : undefined;
  }

  async #messageStaging(staged: Promise<number>, ticket: number): Promise<void> {
    let code: number;
    try {
      code = await staged;
    } catch (e) {
      this.ctx.log.warn("request failed", { user: this.address, error: String(e) });
      code = ErrorCode.Unavailable;
    }
    if (code !== QUEUED) this.settle(ticket, code);
    if (this.#inflight >= MAX_INFLIGHT) await this.#drainReplies();
  }

  /** The final code of a queued Message: replies go out in request order. */
  settle(ticket: number, code: number): void {
    const slot = ticket - this.#ticketBase;
    this.#codes[slot] = code;
    if (slot === this.#head) this.#writeSettledReplies();
  }

  #writeSettledReplies(): void {
    const codes = this.#codes;
    let head = this.#head;
    const now = batchNow();
    const tail = this.#tail;
    while (head < tail && codes[head] !== PENDING) {
      this.#reply(codes[head]);
      this.ctx.metrics.observeRequest(PayloadType.Message, (now - this.#startedAt[head]) / 1000);
      head++;
    }
    if (head === tail) {
      this.#ticketBase += head;
      this.#head = this.#tail = 0;
      const waiters = this.#repliesDrained;
      if (waiters !== null) {
        this.#repliesDrained = null;
        for (const w of waiters) w();
      }
      return;
    }
    if (head >= COMPACT_AT) {
      codes.copyWithin(0, head, tail);
      this.#startedAt.copyWithin(0, head, tail);
      this.#tail = tail - head;
      this.#ticketBase += head;
      head = 0;
    }
    this.#head = head;
  }

  /** Waits until every queued reply has been written. */
  #drainReplies(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#repliesDrained ??= []).push(resolve));
  }

  /**
   * Graceful stop: the request being handled is answered, no further request
   * is read, then the connection closes once its output is flushed. `run()`
   * resolves when that is done.
   */
  shutdown(): void {
    this.#stopping = true;
    // A session waiting for input has no request in hand: it ends now, once
    // its queued replies are out.
    if (!this.#busy) this.#pump();
  }

  /** Sleeps `ms`, or less if the session closes meanwhile (a stop need not wait for it). */
  #sleepUnlessClosed(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      (this.#onClose ??= []).push(done);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /** Stops the login time limit (and lets go of this session there). */
  #stopAuthDeadline(): void {
    if (this.#authTicket < 0) return;
    this.ctx.authDeadlines.cancel(this.#authTicket);
    this.#authTicket = -1;
  }

  close(): void {
    if (this.#state === State.Closed) return;
    const onClose = this.#onClose;
    this.#onClose = null;
    if (onClose !== null) { for (const f of onClose) f(); }
    const wasEstablished = this.#state === State.Established;
    if (this.#state === State.PeerEstablished && this.ctx.federation !== null) {
      this.ctx.federation.inboundLinks--;
    }
    this.#state = State.Closed;
    this.#stopAuthDeadline();
    if (wasEstablished || this.loggingIn) this.ctx.registry.remove(this);
    // Let what is already queued (e.g. a final Error) leave before closing.
    void this.writer.flushed().then(() => {
      this.writer.close();
      this.conn.close();
    });
  }

  /** Error{code}, then close (spec §4: 0x80, 0x81; §6: failed login). */
  async #fail(code: number, reason: string): Promise<void> {
    if (this.#isClosed()) return;
    await this.#drainReplies();
    if (code === ErrorCode.ProtocolViolation) this.ctx.metrics.protocolErrors++;
    // A peer server that breaks the protocol or floods is also backed off.
    if (
      this.#state === State.PeerEstablished &&
      (code === ErrorCode.ProtocolViolation || code === ErrorCode.RateLimited)
    ) this.ctx.federation?.penalize(this.peer);
    this.ctx.log.debug("closing session", { remote: this.remoteIp, code, reason });
    this.writer.write(errorFrame(code));
    this.close();
    await this.writer.flushed();
  }

  #violation(reason: string): Promise<void> {
    return this.#fail(ErrorCode.ProtocolViolation, reason);
  }

  #reply(code: number): void {
    this.writer.write(code === OK ? SUCCESS : errorFrame(code));
  }

  /** Returns a promise only when the request needs to wait (store, auth). */
  #handle(p: Payload): Promise<void> | undefined {
    // Test is a liveness probe, echoed in any state [profile].
    if (p.type === PayloadType.Test) {
      this.writer.write(encode({ type: PayloadType.Test, data: p.data }));
      return undefined;
    }
    switch (this.#state) {
      case State.AwaitHandshake:
        if (p.type !== PayloadType.Handshake) return this.#violation("expected Handshake");
        if (p.major !== VERSION_MAJOR) {
          return this.#fail(ErrorCode.UnsupportedVersion, `version ${p.major}.${p.minor}`);
        }
        if (p.connType === ConnType.Server && this.ctx.federation !== null) {
          this.#state = State.AwaitServerAuth;
          return undefined;
        }
        if (p.connType !== ConnType.User) {
          return this.#violation(`conn_type ${p.connType} not accepted here`);
        }
        this.#state = State.AwaitAuth;
        return undefined;
      case State.AwaitServerAuth:
        if (p.type !== PayloadType.ServerAuth) return this.#violation("expected ServerAuth");
        this.#state = State.Authenticating;
        return this.#acceptLink(p);
      case State.PeerEstablished:
        return this.#peerRequest(p);
      case State.AwaitAuth:
        if (p.type !== PayloadType.UserAuth) return this.#violation("expected UserAuth");
        this.#state = State.Authenticating;
        return this.#login(p.username, p.password);
      case State.Established:
        return this.#request(p);
      default:
        return this.#violation("frame in a state that takes none");
    }
  }

  async #acceptLink(p: Extract<Payload, { type: 0x06 }>): Promise<void> {
    const federation = this.ctx.federation as NonNullable<ServerContext["federation"]>;
    let accepted: { peer: string; reply: Uint8Array } | null = null;
    try {
      accepted = await federation.acceptLink(p);
    } catch (e) {
      this.ctx.log.warn("server link check failed", { error: String(e) });
    }
    if (accepted === null) {
      this.ctx.metrics.authFailures++;
      this.ctx.log.warn("server link refused", { remote: this.remoteIp, name: p.name });
      return this.#fail(ErrorCode.ServerAuthFailed, "server authentication failed");
    }
    if (this.#isClosed()) return;
    this.#stopAuthDeadline();
    this.peer = accepted.peer;
    this.#state = State.PeerEstablished;
    this.#bucket = this.#newBucket(this.ctx.options.peerRateLimit, this.ctx.options.peerRateBurst);
    federation.inboundLinks++;
    this.writer.write(accepted.reply);
    this.writer.write(SUCCESS);
    this.ctx.log.info("server link accepted", { remote: this.remoteIp, peer: accepted.peer });
  }

  /** A request on an authenticated server link (spec §7). */
  #peerRequest(p: Payload): Promise<void> | undefined {
    if (p.type === PayloadType.Success) return undefined;
    if (
      p.type !== PayloadType.Message && p.type !== PayloadType.Usermode &&
      p.type !== PayloadType.History
    ) {
      return this.#violation(`payload type ${p.type} not allowed on a server link`);
    }
    return this.#peerRun(p);
  }

  async #peerRun(p: Extract<Payload, { type: 0x05 | 0x07 | 0x08 }>): Promise<void> {
    const federation = this.ctx.federation as NonNullable<ServerContext["federation"]>;
    let result;
    try {
      result = await federation.inbound(this.peer, p);
    } catch (e) {
      this.ctx.log.warn("link request failed", { peer: this.peer, error: String(e) });
      return this.#reply(ErrorCode.Unavailable);
    }
    if ("violation" in result) {
      this.ctx.log.warn("server link violation", { peer: this.peer, reason: result.violation });
      return this.#violation(result.violation);
    }
    if ("code" in result) return this.#reply(result.code);
    this.writer.beginSequence();
    for (const f of result.frames) this.writer.write(f);
    this.writer.write(SUCCESS);
    this.writer.endSequence();
  }

  async #login(username: string, password: string): Promise<void> {
    const { ctx } = this;
    const ip = this.remoteIp;
    // The UserAuth came in time; the throttle's wait below is the server's,
    // not the client's: it must not run into the handshake/auth time limit
    // (whose default equals the throttle's cap), or nobody, the owner
    // included, could log in to an account at the cap.
    this.#stopAuthDeadline();
    const addr = parseUserName(username, ctx.options.domain);
    // Counted per account, whichever form of the name was typed.
    const account = addr?.full ?? username;
    const delay = ctx.throttle.delayMs(ip, account);
    if (delay > 0) await this.#sleepUnlessClosed(delay);
    if (this.#isClosed()) return;
    let ok = false;
    let phc: string | null = null;
    try {
      if (addr !== undefined && addr.domain === ctx.options.domain) {
        phc = (await ctx.store.users.get(addr.full))?.phc ?? null;
      }
      if (phc === null) {
        ok = await verifyAgainstDummy(password, { cost: ctx.options.passwordCost });
      } else if (addr !== undefined && ctx.authCache.has(addr.full, password, phc)) {
        ok = true;
      } else {
        ok = await verifyPassword(password, phc);
        if (ok && addr !== undefined) ctx.authCache.add(addr.full, password, phc);
      }
    } catch (e) {
      ctx.log.error("login lookup failed", { error: String(e) });
      this.#reply(ErrorCode.Unavailable);
      this.close();
      return;
    }
    if (!ok || addr === undefined) {
      ctx.throttle.recordFailure(ip, account);
      ctx.metrics.authFailures++;
      ctx.log.info("login failed", { remote: ip, user: addr?.full ?? null });
      return this.#fail(ErrorCode.AuthFailed, "authentication failed");
    }
    ctx.throttle.recordSuccess(ip, account);
    if (this.#isClosed()) return;
    this.#stopAuthDeadline();
    this.address = addr.full;
    this.#state = State.Established;
    this.#bucket = this.#newBucket(ctx.options.rateLimit, ctx.options.rateBurst);
    this.writer.write(SUCCESS);
    // Pushes are held until the inbox has been sent (spec §6 step 5).
    this.loggingIn = true;
    this.writer.beginSequence();
    ctx.registry.add(this);
    ctx.loginBurst?.loginSeen();
    ctx.log.debug("login", { remote: ip, user: addr.full });
    try {
      await ctx.router.drainInbox(addr.full);
    } finally {
      this.loggingIn = false;
      this.writer.endSequence();
    }
    if (phc !== null && needsRehash(phc, ctx.options.passwordCost)) {
      void hashPassword(password, { cost: ctx.options.passwordCost })
        .then((fresh) => ctx.store.users.setPassword(addr.full, fresh))
        .catch((e) => ctx.log.warn("password rehash failed", { error: String(e) }));
    }
  }

  #request(p: Payload): Promise<void> | undefined {
    switch (p.type) {
      case PayloadType.Message:
        // Not reached: run() reads Messages in this state as views.
        return this.#violation("unexpected Message");
      case PayloadType.Usermode:
        return this.#run(() => this.ctx.router.usermode(this, p.user, p.channel, p.mode));
      case PayloadType.History:
        return this.#history(p);
      case PayloadType.List:
        return this.#list(p.count, p.offset);
      case PayloadType.Success:
        return undefined; // accepted and ignored (spec §6)
      default:
        return this.#violation(`payload type ${p.type} not allowed from a client`);
    }
  }

  /** Runs a request whose result is a single reply; store failures answer 0x83. */
  async #run(op: () => Promise<number>): Promise<void> {
    let code: number;
    try {
      code = await op();
    } catch (e) {
      this.ctx.log.warn("request failed", { user: this.address, error: String(e) });
      code = ErrorCode.Unavailable;
    }
    this.#reply(code);
  }

  async #history(h: Extract<Payload, { type: 0x08 }>): Promise<void> {
    let result: Uint8Array[] | number;
    try {
      result = await this.ctx.router.history(this, h);
    } catch (e) {
      this.ctx.log.warn("history failed", { user: this.address, error: String(e) });
      result = ErrorCode.Unavailable;
    }
    if (typeof result === "number") return this.#reply(result);
    // Written in one synchronous run: nothing can interleave (spec §6).
    this.writer.beginSequence();
    for (const f of result) this.writer.write(f);
    this.writer.write(SUCCESS);
    this.writer.endSequence();
  }

  async #list(count: number, offset: number): Promise<void> {
    let items: string[];
    try {
      items = await this.ctx.router.list(this.address, count, offset);
    } catch (e) {
      this.ctx.log.warn("list failed", { user: this.address, error: String(e) });
      return this.#reply(ErrorCode.Unavailable);
    }
    this.writer.beginSequence();
    for (const address of items) this.writer.write(encode({ type: PayloadType.ListItem, address }));
    this.writer.write(SUCCESS);
    this.writer.endSequence();
  }
}
