/**
 * What the server does with each established-session request: routing of
 * messages (local user, local channel, or a remote domain), joins/leaves and
 * contacts, history and list queries, and inbox delivery.
 *
 * Results are SOLEC error codes (`OK` = Success) so that sessions of any kind
 * (client now, server links later) turn them into replies the same way.
 */
import {
  type Address,
  encodeMessage,
  ErrorCode,
  frameOf,
  type History as HistoryReq,
  type MessageView,
  parseAddress,
  parseAddressCached,
  PayloadType,
} from "../protocol/mod.ts";
import { readUtf8 } from "../protocol/utf8.ts";
import type { AtomicOperation, KvKey } from "../kv/kv.ts";
import type { PackedKey } from "../kv/key-codec.ts";
import {
  channelKey,
  contactKey,
  conversation,
  conversationId,
  del,
  HistoryPacker,
  inboxKey,
  joinedKey,
  type Mutation,
  packedConversation,
  REMOTE_MEMBERS,
  remoteMemberKey,
  set as set_,
  type Store,
  userKey,
} from "../store/mod.ts";
import type { SequenceAllocator } from "../store/sequence.ts";
import type { CommitJob, CommitQueue } from "./commit-queue.ts";
import type { Deliverable, Registry } from "./registry.ts";
import type { Logger } from "../log.ts";
import { batchNow } from "./clock.ts";

export const OK = 0;

/** A validated request whose writes are queued: `done` gives the final code. */
export type Staged = number | { readonly done: Promise<number> };

/** `stageMessage`: the final code will come through `Requester.settle`. */
export const QUEUED = -1;

/** The connection a request came from, told its final code by ticket. */
export interface Requester extends Deliverable {
  settle(ticket: number, code: number): void;
}

/** A direct conversation known to be allowed (cached), with its history key prefix. */
interface Pair {
  readonly source: string;
  readonly target: string;
  readonly history: PackedKey;
  /** `conversationId(source, target)`: the same for both directions. */
  readonly conversation: string;
  /** `batchNow()` time until which the "allowed" verdict holds (0: not cached). */
  readonly until: number;
  /** A check that would renew this verdict has started (see ALLOWED_REFRESH_MS). */
  refreshing: boolean;
}

function newPair(source: string, target: string, until: number): Pair {
  return {
    source,
    target,
    history: packedConversation(source, target),
    conversation: conversationId(source, target),
    until,
    refreshing: false,
  };
}

/**
 * One direct message on its way through a group commit: the history entry,
 * plus the inbox entry when the target is offline. One object per message,
 * no promise or closure (see CommitJob).
 */
class DirectJob implements CommitJob {
  /** The target went offline during the commit: the inbox entry needs a second commit. */
  needsInbox = false;
  /** This is that second commit. */
  inboxOnly = false;
  constructor(
    private readonly router: Router,
    readonly pair: Pair,
    private readonly ts: number,
    private readonly seq: number,
    readonly frame: Uint8Array,
    readonly online: boolean,
    readonly from: Requester | null,
    readonly ticket: number,
    readonly waiter: PromiseWithResolvers<void> | null,
  ) {}

  write(atomic: AtomicOperation): number {
    if (!this.inboxOnly) {
      // The history row is written by the packer once the batch is complete.
      const pair = this.pair;
      this.router.packer.add(
        atomic,
        pair.conversation,
        pair.history,
        this.ts,
        this.seq,
        this.frame,
      );
      if (this.online) return 0;
    }
    atomic.set(inboxKey(this.pair.target, this.seq), this.frame);
    return 1;
  }

  applied(): void {
    this.router.directApplied(this);
  }

  committed(): void {
    this.router.directCommitted(this);
  }

  failed(error: unknown): void {
    this.router.directFailed(this, error);
  }
}

export interface RouterOptions {
  readonly domain: string;
  readonly historyMaxCount: number;
  readonly channelAutoCreate: boolean;
}

/**
 * Hook for addresses on other servers; federation plugs in here. Without it,
 * remote addresses are "not found".
 */
export interface RemoteRoute {
  /** A local user's message to a remote user or channel; OK once queued durably. */
  message(
    from: Deliverable,
    source: Address,
    target: Address,
    ts: number,
    frame: Uint8Array,
  ): Promise<number>;
  usermode(user: Address, channel: Address, mode: number): Promise<number>;
  history(user: Address, channel: Address, req: HistoryReq): Promise<Uint8Array[] | number>;
  /** Outbox writes that send `frame` to each of `peers` (committed with the message). */
  outboxMutations(peers: Iterable<string>, frame: Uint8Array): Mutation[];
  /** Tells the outbox senders of `peers` there is new work. */
  wake(peers: Iterable<string>): void;
}

export interface RouterCounters {
  local: number;
  channel: number;
  remote: number;
  inbound: number;
}

/**
 * A local channel's members as of one version of its record. There is one Set per
 * version, shared by everyone who asks (callers arriving while it loads wait for
 * the same load): joins and leaves update that Set in place, so a second load
 * finishing later must never replace it with a copy that missed them.
 */
interface MemberCache {
  readonly versionstamp: string;
  readonly loaded: Promise<Set<string>>;
  /** `batchNow()` time until which the record is not read again (see CHANNEL_RECHECK_MS). */
  checkedUntil: number;
}

const INBOX_BATCH = 500;
/** Bytes of one inbox batch at most (at least one message): under the smallest output bound. */
const INBOX_BATCH_BYTES = 32 * 1024;
const NO_MEMBERS: ReadonlySet<string> = new Set();
/** How long a checked contact pair is trusted without asking the store again. */
const ALLOWED_TTL_MS = 5000;
/**
 * Each verdict's life is shortened by up to this much at random, so that pairs checked
 * together (everyone's first message after a restart or a reconnect storm) are checked
 * again spread over a second, not all in one turn: 50 pairs' re-checks took one 15 ms
 * stretch every 5 s at 5,000 msg/s and held up the messages arriving in it.
 */
const ALLOWED_TTL_SPREAD_MS = 1000;
/**
 * A verdict used within this long of its end is checked again in the background, after
 * the turn's writes, so that a conversation in use never has a message wait for the
 * check (on Deno 60-95 µs of the event loop, on Bun 25-60, for each conversation every
 * 4-5 s: the messages that arrived meanwhile waited for it).
 */
const ALLOWED_REFRESH_MS = 1000;
const ALLOWED_MAX = 100_000;
/**
 * How long a channel's record is trusted without reading it again. The record only
 * changes when the operator's CLI deletes or re-creates the channel; joins and leaves
 * made here update the cached members at once.
 */
const CHANNEL_RECHECK_MS = 5000;

export class Router {
  remote: RemoteRoute | null = null;
  readonly counters: RouterCounters = { local: 0, channel: 0, remote: 0, inbound: 0 };
  readonly #members = new Map<string, MemberCache>();
  /** Channels being auto-created by a join: one creation at a time per channel. */
  readonly #creating = new Map<string, Promise<unknown>>();
  /** Local members of remote channels (this server fans their messages out locally). */
  readonly #remoteMembers = new Map<string, Set<string>>();
  readonly #inboxChains = new Map<string, Promise<void>>();
  /**
   * source → target → the pair, while a direct message between them is known
   * to be allowed. Nested maps: addresses come from the parse cache as the
   * same string objects, whose hashes are cached, so a lookup builds nothing.
   */
  readonly #allowed = new Map<string, Map<string, Pair>>();
  #allowedCount = 0;
  /**
   * Counts contact changes made through this server: a check that read the store
   * before one of them does not cache its (possibly stale) verdict.
   */
  #contactChanges = 0;
  /** @internal DirectJob: packs direct messages into history rows per transaction. */
  readonly packer = new HistoryPacker();

  constructor(
    private readonly options: RouterOptions,
    private readonly store: Store,
    private readonly commits: CommitQueue,
    private readonly seq: SequenceAllocator,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    commits.addBatchWriter(this.packer);
  }

  #isLocal(a: Address): boolean {
    return a.domain === this.options.domain;
  }

  // ------------------------------------------------------------ messages

  /**
   * Validates a local user's Message and queues its writes for the next
   * group commit. `payload` is the received payload (used only before this
   * returns or its promise settles). The result is the final code, or QUEUED:
   * `from.settle(ticket, code)` follows once the message is durable and
   * delivered (or failed). A promise means validation needed the store.
   *
   * A session waits only for validation before reading its next request, so
   * one connection's messages share group commits instead of waiting for one
   * commit each; validations run one after another, so commits keep the
   * order the messages were sent in.
   *
   * The common case, a direct message between users already known to be
   * allowed, runs synchronously without a promise or closure.
   */
  stageMessage(
    from: Requester,
    m: MessageView,
    payload: Uint8Array,
    ticket: number,
  ): number | Promise<number> {
    const source = parseAddressCached(m.source);
    if (source === undefined || source.full !== from.address) return ErrorCode.NotFound;
    const target = parseAddressCached(m.target);
    if (target === undefined) return ErrorCode.NotFound;
    // A canonical frame is stored and forwarded as received.
    const frame = m.exact && m.source === source.full && m.target === target.full
      ? frameOf(PayloadType.Message, payload)
      : encodeMessage(
        source.full,
        target.full,
        m.timestamp,
        readUtf8(payload, m.contentStart, m.contentEnd),
      );
    if (target.kind === "user" && this.#isLocal(target)) {
      const pair = this.#allowedPair(source.full, target.full);
      if (pair !== undefined) {
        this.#queueDirect(pair, m.timestamp, frame, from, ticket, null);
        return QUEUED;
      }
      return this.#stageDirectChecked(from, source.full, target.full, m.timestamp, frame, ticket);
    }
    return this.#stageOther(from, source, target, m.timestamp, frame, ticket);
  }

  async #stageDirectChecked(
    from: Requester,
    source: string,
    target: string,
    ts: number,
    frame: Uint8Array,
    ticket: number,
  ): Promise<number> {
    const pair = await this.#checkPair(source, target);
    if (pair === undefined) return ErrorCode.NotFound;
    this.#queueDirect(pair, ts, frame, from, ticket, null);
    return QUEUED;
  }

  /** Remote targets and local channels (the less frequent, store-bound cases). */
  async #stageOther(
    from: Requester,
    source: Address,
    target: Address,
    ts: number,
    frame: Uint8Array,
    ticket: number,
  ): Promise<number> {
    if (!this.#isLocal(target)) {
      if (this.remote === null) return ErrorCode.NotFound;
      const code = await this.remote.message(from, source, target, ts, frame);
      if (code === OK) {
        this.counters.remote++;
        if (target.kind === "user") this.#pushToOthers(from, source.full, frame);
        else this.deliverRemoteChannel(target.full, frame, from);
      }
      return code;
    }
    const staged = await this.stageChannel(from, source.full, target.full, ts, frame, null);
    if (typeof staged === "number") return staged;
    staged.done.then(
      (code) => from.settle(ticket, code),
      (e) => {
        this.log.warn("request failed", { user: from.address, error: String(e) });
        from.settle(ticket, ErrorCode.Unavailable);
      },
    );
    return QUEUED;
  }

  /** A cached "allowed" verdict for source → target that has not expired. */
  #allowedPair(source: string, target: string): Pair | undefined {
    const pair = this.#allowed.get(source)?.get(target);
    if (pair === undefined) return undefined;
    const left = pair.until - batchNow();
    if (left <= 0) return undefined;
    if (left < ALLOWED_REFRESH_MS && !pair.refreshing) {
      pair.refreshing = true;
      // A timer, not a microtask or setImmediate: it runs once this turn's deliveries
      // are written (atTurnEnd), before the next turn's input.
      setTimeout(() => this.#refreshPair(pair), 0);
    }
    return pair;
  }

  /** Checks a verdict in use again before it ends; a refusal forgets it. */
  #refreshPair(pair: Pair): void {
    this.#lookUpPair(pair.source, pair.target).catch((e) => {
      // The verdict simply runs out; the next message checks and reports for itself.
      this.log.debug("contact check failed", { user: pair.source, error: String(e) });
    });
  }

  /**
   * Whether `source` may message local `target`: the target exists and both
   * have each other in contacts. A yes is remembered for a few seconds, so a
   * conversation costs the store three reads per few seconds rather than per
   * message; contact changes made through this server take effect at once,
   * changes made by the operator's CLI within ALLOWED_TTL_MS.
   */
  async #checkPair(source: string, target: string): Promise<Pair | undefined> {
    return this.#allowedPair(source, target) ?? await this.#lookUpPair(source, target);
  }

  /** Reads the store for `#checkPair` and caches a yes; forgets a no. */
  async #lookUpPair(source: string, target: string): Promise<Pair | undefined> {
    const changes = this.#contactChanges;
    const [user, forward, back] = await this.store.kv.getMany([
      userKey(target),
      contactKey(source, target),
      contactKey(target, source),
    ]);
    if (user.versionstamp === null || forward.versionstamp === null || back.versionstamp === null) {
      this.#forgetPair(source, target);
      return undefined;
    }
    const ttl = ALLOWED_TTL_MS - Math.random() * ALLOWED_TTL_SPREAD_MS;
    const pair = newPair(source, target, batchNow() + ttl);
    // Read before a contact change made here: good for this message, not for the cache.
    if (changes !== this.#contactChanges) return pair;
    if (this.#allowedCount >= ALLOWED_MAX) {
      this.#allowed.clear();
      this.#allowedCount = 0;
    }
    let targets = this.#allowed.get(source);
    if (targets === undefined) this.#allowed.set(source, targets = new Map());
    if (!targets.has(target)) this.#allowedCount++;
    targets.set(target, pair);
    return pair;
  }

  /** Forgets remembered permissions between two users (a contact changed). */
  #forgetAllowed(a: string, b: string): void {
    this.#contactChanges++;
    this.#forgetPair(a, b);
    this.#forgetPair(b, a);
  }

  #forgetPair(source: string, target: string): void {
    const targets = this.#allowed.get(source);
    if (targets?.delete(target)) {
      this.#allowedCount--;
      if (targets.size === 0) this.#allowed.delete(source);
    }
  }

  #queueDirect(
    pair: Pair,
    ts: number,
    frame: Uint8Array,
    from: Requester | null,
    ticket: number,
    waiter: PromiseWithResolvers<void> | null,
  ): void {
    const seq = this.seq.next();
    // Decided before the commit: a message either goes to the inbox (and is
    // then delivered only by draining it) or is pushed live, never both, so
    // a login racing with this commit cannot see it twice.
    const online = this.registry.isOnline(pair.target);
    this.commits.enqueue(
      new DirectJob(
        this,
        pair,
        ts,
        seq,
        frame,
        online,
        from,
        ticket,
        waiter,
      ),
    );
  }

  /**
   * Stores a direct message in the conversation history and delivers it to
   * the local `target`: pushed to every connection, or put in the inbox when
   * there is none. The writes are queued before this returns; the promise
   * resolves once they are durable. Used for inbound federation.
   */
  storeDirect(source: string, target: string, ts: number, frame: Uint8Array): Promise<void> {
    const waiter = Promise.withResolvers<void>();
    const pair = newPair(source, target, 0);
    this.#queueDirect(pair, ts, frame, null, 0, waiter);
    return waiter.promise;
  }

  /**
   * @internal DirectJob: its writes are applied (visible, safe from a crash
   * of this process): deliver. Delivery does not wait for the fsync that
   * makes the message safe from power loss; the acknowledgement does (see
   * README, "Durability").
   */
  directApplied(job: DirectJob): void {
    const target = job.pair.target;
    if (job.online && !job.inboxOnly) {
      const sessions = this.registry.sessions(target);
      if (sessions === undefined) {
        // Everyone left while we committed: keep it for the next login (a
        // second commit, before the answer).
        job.needsInbox = true;
      } else {
        for (const s of sessions) s.push(job.frame);
      }
    } else if (this.registry.isOnline(target)) {
      void this.drainInbox(target);
    }
    if (job.from !== null && !job.inboxOnly) {
      this.#pushToOthers(job.from, job.pair.source, job.frame);
    }
  }

  /** @internal DirectJob: its writes are durable; answer. */
  directCommitted(job: DirectJob): void {
    if (job.needsInbox) {
      job.needsInbox = false;
      job.inboxOnly = true;
      this.commits.enqueue(job);
      return;
    }
    if (job.from !== null) {
      this.counters.local++;
      job.from.settle(job.ticket, OK);
    } else {
      job.waiter?.resolve();
    }
  }

  /** @internal DirectJob: the commit failed; nothing was stored. */
  directFailed(job: DirectJob, error: unknown): void {
    if (job.from !== null) {
      this.log.warn("request failed", { user: job.from.address, error: String(error) });
      job.from.settle(job.ticket, ErrorCode.Unavailable);
    } else {
      job.waiter?.reject(error);
    }
  }

  /** The sender's own other connections see what it sent (spec §6). */
  #pushToOthers(from: Deliverable, source: string, frame: Uint8Array): void {
    const mine = this.registry.sessions(source);
    if (mine === undefined) return;
    for (const s of mine) if (s !== from) s.push(frame);
  }

  /** A message to a local channel (see `stageChannel`); OK once stored. */
  async channelMessage(
    from: Deliverable | null,
    source: string,
    channel: string,
    ts: number,
    frame: Uint8Array,
    origin: string | null,
  ): Promise<number> {
    const staged = await this.stageChannel(from, source, channel, ts, frame, origin);
    return typeof staged === "number" ? staged : await staged.done;
  }

  /**
   * A message to a local channel, from a local user's connection (`from`) or
   * from a peer server (`origin`, its domain). Stored in the channel history
   * together with one outbox entry per other peer server that has members
   * (spec §7: once per server), then fanned out to local member connections.
   */
  async stageChannel(
    from: Deliverable | null,
    source: string,
    channel: string,
    ts: number,
    frame: Uint8Array,
    origin: string | null,
  ): Promise<Staged> {
    const members = await this.members(channel);
    if (members === null || !members.has(source)) return ErrorCode.NotFound;
    const conv = conversation(channel);
    if (origin !== null && await this.store.history.contains(conv, ts, frame)) return OK;
    const mutations = [this.store.history.appendMutation(conv, ts, this.seq.next(), frame)];
    const peers = new Set<string>();
    if (this.remote !== null) {
      for (const m of members) {
        const domain = m.slice(m.lastIndexOf("@") + 1);
        if (domain !== this.options.domain && domain !== origin) peers.add(domain);
      }
      if (peers.size > 0) mutations.push(...this.remote.outboxMutations(peers, frame));
    }
    // Members get the message once it is written, the sender's OK (and the peers'
    // copies) once it is durable: as for direct messages (README "Durability").
    const delivered = () => {
      if (origin === null) this.counters.channel++;
      else this.counters.inbound++;
      this.fanOut(members, frame, from);
    };
    return {
      done: this.commits.submit(mutations, delivered).then(() => {
        if (peers.size > 0) this.remote?.wake(peers);
        return OK;
      }),
    };
  }

  /**
   * Pushes a channel message to every local member connection except `except`.
   * `members` is the set the message was checked against (the live one: joins and
   * leaves since then count), not a cache lookup, which finds no set while a
   * re-created channel's members load.
   */
  fanOut(members: ReadonlySet<string>, frame: Uint8Array, except: Deliverable | null): void {
    for (const user of members) {
      const sessions = this.registry.sessions(user);
      if (sessions === undefined) continue;
      for (const s of sessions) if (s !== except) s.push(frame);
    }
  }

  /**
   * The member set of a local channel, or null if it does not exist. Cached;
   * the cache follows joins and leaves made here, and is reloaded when the
   * channel record changed (the operator's CLI deleted or re-created it). The
   * record is read again after CHANNEL_RECHECK_MS, or at once with `recheck`
   * (joins and leaves, which must not write to a deleted channel).
   */
  async members(channel: string, recheck = false): Promise<Set<string> | null> {
    const known = this.#members.get(channel);
    if (!recheck && known !== undefined && known.checkedUntil > batchNow()) return known.loaded;
    const record = await this.store.kv.get(channelKey(channel));
    const versionstamp = record.versionstamp;
    if (versionstamp === null) {
      this.#members.delete(channel);
      return null;
    }
    const cached = this.#members.get(channel);
    if (cached !== undefined && cached.versionstamp >= versionstamp) {
      // Same version (or a newer one another caller already saw).
      cached.checkedUntil = batchNow() + CHANNEL_RECHECK_MS;
      return cached.loaded;
    }
    const entry: MemberCache = {
      versionstamp,
      loaded: this.store.channels.members(channel).then((list) => new Set(list)),
      checkedUntil: batchNow() + CHANNEL_RECHECK_MS,
    };
    this.#members.set(channel, entry);
    try {
      return await entry.loaded;
    } catch (e) {
      if (this.#members.get(channel) === entry) this.#members.delete(channel);
      throw e;
    }
  }

  /**
   * Loads the local members of every remote channel; called once at start.
   * From then on the map is complete (joins and leaves keep it in step), so
   * lookups never touch the store nor add entries for names nobody joined.
   */
  async loadRemoteMembers(): Promise<void> {
    for await (const e of this.store.kv.list({ prefix: REMOTE_MEMBERS })) {
      const channel = e.key[1] as string;
      let set = this.#remoteMembers.get(channel);
      if (set === undefined) this.#remoteMembers.set(channel, set = new Set());
      set.add(e.key[2] as string);
    }
  }

  /** Local members of a remote channel (empty if none; never cached for unknown names). */
  remoteMembers(channel: string): Promise<ReadonlySet<string>> {
    return Promise.resolve(this.#remoteMembers.get(channel) ?? NO_MEMBERS);
  }

  /** Records a local user's join/leave of a remote channel after its home said Success. */
  async recordRemoteMembership(channel: string, user: string, mode: number): Promise<void> {
    await this.commits.submit(
      mode === 1
        ? [
          set_(remoteMemberKey(channel, user), Date.now()),
          set_(joinedKey(user, channel), Date.now()),
        ]
        : [del(remoteMemberKey(channel, user)), del(joinedKey(user, channel))],
    );
    let set = this.#remoteMembers.get(channel);
    if (mode === 1) {
      if (set === undefined) this.#remoteMembers.set(channel, set = new Set());
      set.add(user);
    } else if (set !== undefined) {
      set.delete(user);
      if (set.size === 0) this.#remoteMembers.delete(channel);
    }
  }

  /** Delivers a remote channel's message to this server's members (except `except`). */
  deliverRemoteChannel(channel: string, frame: Uint8Array, except: Deliverable | null): void {
    const members = this.#remoteMembers.get(channel);
    if (members === undefined) return;
    for (const user of members) {
      const sessions = this.registry.sessions(user);
      if (sessions === undefined) continue;
      for (const s of sessions) if (s !== except) s.push(frame);
    }
  }

  // ------------------------------------------------------------ usermode

  /** Usermode from a local user: join/leave a channel, or add/remove a contact. */
  async usermode(
    from: Deliverable,
    userText: string,
    targetText: string,
    mode: number,
  ): Promise<number> {
    const user = parseAddress(userText);
    if (user === undefined || user.full !== from.address) return ErrorCode.NotFound;
    const target = parseAddress(targetText);
    if (target === undefined || (mode !== 0 && mode !== 1)) return ErrorCode.NotFound;
    if (target.kind === "user") return await this.#contact(user.full, target, mode);
    if (!this.#isLocal(target)) {
      if (this.remote === null) return ErrorCode.NotFound;
      return await this.remote.usermode(user, target, mode);
    }
    return mode === 1
      ? await this.join(target.full, user.full)
      : await this.leave(target.full, user.full);
  }

  async #contact(owner: string, other: Address, mode: number): Promise<number> {
    this.#forgetAllowed(owner, other.full);
    if (mode === 1) {
      if (this.#isLocal(other) && !(await this.store.users.exists(other.full))) {
        return ErrorCode.NotFound;
      }
      await this.commits.submit([this.store.contacts.addMutation(owner, other.full)]);
    } else {
      await this.commits.submit([this.store.contacts.removeMutation(owner, other.full)]);
      // Again after the commit: a message checked meanwhile may have re-cached the pair.
      this.#forgetAllowed(owner, other.full);
    }
    return OK;
  }

  /** Joins `user` (local or remote) to local `channel`; idempotent. */
  async join(channel: string, user: string): Promise<number> {
    let members = await this.members(channel, true);
    while (members === null) {
      if (!this.options.channelAutoCreate || !user.endsWith(`@${this.options.domain}`)) {
        return ErrorCode.NotFound;
      }
      // Concurrent first joins: one creates (and joins), the others wait for it and
      // then join the channel it made, rather than each writing the record again.
      const creating = this.#creating.get(channel);
      if (creating === undefined) return await this.#createAndJoin(channel, user);
      await creating.catch(() => {});
      members = await this.members(channel, true);
    }
    if (members.has(user)) return OK;
    await this.commits.submit(this.store.channels.joinMutations(channel, user));
    members.add(user);
    return OK;
  }

  async #createAndJoin(channel: string, user: string): Promise<number> {
    const created = this.commits.submit([
      this.store.channels.createMutation(channel, user),
      ...this.store.channels.joinMutations(channel, user),
    ]);
    this.#creating.set(channel, created);
    try {
      await created;
    } finally {
      this.#creating.delete(channel);
    }
    // Loaded after the commit: the creator is in the list.
    return (await this.members(channel, true)) === null ? ErrorCode.Unavailable : OK;
  }

  /** Removes `user` from local `channel`; idempotent (leaving a channel one is not in is Success). */
  async leave(channel: string, user: string): Promise<number> {
    const members = await this.members(channel, true);
    if (members === null || !members.has(user)) return OK;
    await this.commits.submit(this.store.channels.leaveMutations(channel, user));
    members.delete(user);
    return OK;
  }

  // ------------------------------------------------------------ queries

  /** History for a local user: stored frames oldest first, or an error code. */
  async history(from: Deliverable, h: HistoryReq): Promise<Uint8Array[] | number> {
    const target = parseAddress(h.target);
    if (target === undefined) return ErrorCode.NotFound;
    const count = Math.min(h.count, this.options.historyMaxCount);
    let conv: KvKey;
    if (target.kind === "user") {
      conv = conversation(from.address, target.full);
    } else if (this.#isLocal(target)) {
      const members = await this.members(target.full);
      if (members === null || !members.has(from.address)) return ErrorCode.NotFound;
      conv = conversation(target.full);
    } else {
      if (this.remote === null) return ErrorCode.NotFound;
      const user = parseAddress(from.address) as Address;
      return await this.remote.history(user, target, { ...h, count });
    }
    return await this.store.history.select(conv, h.since, count, h.offset);
  }

  /** A local channel's history for a peer server (membership checked by the caller). */
  historyOf(channel: string, h: HistoryReq): Promise<Uint8Array[]> {
    const count = Math.min(h.count, this.options.historyMaxCount);
    return this.store.history.select(conversation(channel), h.since, count, h.offset);
  }

  /** The user's contacts and joined channels, sorted, paged. */
  async list(user: string, count: number, offset: number): Promise<string[]> {
    const [contacts, channels] = await Promise.all([
      this.store.contacts.list(user),
      this.store.channels.joined(user),
    ]);
    const all = [...contacts, ...channels].sort();
    return all.slice(offset, offset + Math.min(count, this.options.historyMaxCount));
  }

  // ------------------------------------------------------------ inbox

  /**
   * Sends the user's offline inbox, oldest first, to their connections and
   * empties it. Runs one at a time per user so nothing is delivered twice.
   */
  drainInbox(user: string): Promise<void> {
    const prev = this.#inboxChains.get(user) ?? Promise.resolve();
    const next = prev.then(() => this.#drain(user)).catch((e) => {
      this.log.warn("inbox delivery failed", { user, error: String(e) });
    });
    this.#inboxChains.set(user, next);
    void next.then(() => {
      if (this.#inboxChains.get(user) === next) this.#inboxChains.delete(user);
    });
    return next;
  }

  async #drain(user: string): Promise<void> {
    for (;;) {
      if (!this.registry.isOnline(user)) return;
      const taken = await this.store.inbox.take(user, INBOX_BATCH);
      if (taken.length === 0) return;
      let n = 0, bytes = 0;
      while (n < taken.length && (n === 0 || bytes + taken[n].frame.length <= INBOX_BATCH_BYTES)) {
        bytes += taken[n++].frame.length;
      }
      const entries = n === taken.length ? taken : taken.slice(0, n);
      const sessions = this.registry.sessions(user);
      if (sessions === undefined) return;
      for (const e of entries) {
        // The connection logging in gets them as part of its login sequence;
        // others (already established) as ordinary pushes.
        for (const s of sessions) s.loggingIn ? s.write(e.frame) : s.push(e.frame);
      }
      // Removed from the inbox only once handed to a connection that is
      // still open: one dropped meanwhile (too slow) leaves them for the next login.
      await Promise.all([...sessions].map((s) => s.flushed()));
      if (!this.registry.isOnline(user)) return;
      await this.commits.submit(entries.map((e) => del(e.key)));
      if (taken.length < INBOX_BATCH && n === taken.length) return;
    }
  }
}
