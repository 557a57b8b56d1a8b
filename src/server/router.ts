/**
 * What the server does with each established-session request: routing of
 * messages (local user, local channel, or a remote domain), joins/leaves and
 * contacts, history and list queries, and inbox delivery.
 *
 * Results are SOLEC error codes (`OK` = Success) so that sessions of any kind
 * (client now, server links later) turn them into replies the same way.
 */
import { ErrorCode, type History as HistoryReq, type Message } from "../protocol/mod.ts";
import { type Address, encodeMessage, parseAddress, parseAddressCached } from "../protocol/mod.ts";
import type { KvKey } from "../kv/kv.ts";
import {
  channelKey,
  contactKey,
  conversation,
  del,
  joinedKey,
  type Mutation,
  REMOTE_MEMBERS,
  remoteMemberKey,
  set as set_,
  type Store,
  userKey,
} from "../store/mod.ts";
import type { SequenceAllocator } from "../store/sequence.ts";
import type { CommitQueue } from "./commit-queue.ts";
import type { Deliverable, Registry } from "./registry.ts";
import type { Logger } from "../log.ts";

export const OK = 0;

/** A validated request whose writes are queued: `done` gives the final code. */
export type Staged = number | { readonly done: Promise<number> };

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

interface MemberCache {
  versionstamp: string;
  members: Set<string>;
}

const INBOX_BATCH = 500;
/** Bytes of one inbox batch at most (at least one message): under the smallest output bound. */
const INBOX_BATCH_BYTES = 32 * 1024;
const NO_MEMBERS: ReadonlySet<string> = new Set();
/** How long a checked contact pair is trusted without asking the store again. */
const ALLOWED_TTL_MS = 5000;
const ALLOWED_MAX = 100_000;

export class Router {
  remote: RemoteRoute | null = null;
  readonly counters: RouterCounters = { local: 0, channel: 0, remote: 0, inbound: 0 };
  readonly #members = new Map<string, MemberCache>();
  /** Local members of remote channels (this server fans their messages out locally). */
  readonly #remoteMembers = new Map<string, Set<string>>();
  readonly #inboxChains = new Map<string, Promise<void>>();
  /** "source\0target" → until when a direct message between them is known to be allowed. */
  readonly #allowed = new Map<string, number>();

  constructor(
    private readonly options: RouterOptions,
    private readonly store: Store,
    private readonly commits: CommitQueue,
    private readonly seq: SequenceAllocator,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {}

  #isLocal(a: Address): boolean {
    return a.domain === this.options.domain;
  }

  // ------------------------------------------------------------ messages

  /** A Message from a logged-in local user (`from`); OK once stored and routed. */
  async message(from: Deliverable, m: Message): Promise<number> {
    const staged = await this.stageMessage(from, m);
    return typeof staged === "number" ? staged : await staged.done;
  }

  /**
   * Validates a local user's Message and hands its writes to the commit
   * queue. Resolves, once validated, to an error code or to `done`: the
   * final code, after the commit and delivery. A session awaits only the
   * validation before reading its next request, so one connection's messages
   * share group commits instead of waiting for one commit each; since
   * validations run one after another, commits keep the order they were sent in.
   */
  async stageMessage(from: Deliverable, m: Message): Promise<Staged> {
    const source = parseAddressCached(m.source);
    if (source === undefined || source.full !== from.address) return ErrorCode.NotFound;
    const target = parseAddressCached(m.target);
    if (target === undefined) return ErrorCode.NotFound;
    const frame = encodeMessage(source.full, target.full, m.timestamp, m.content);
    if (!this.#isLocal(target)) {
      if (this.remote === null) return ErrorCode.NotFound;
      const code = await this.remote.message(from, source, target, m.timestamp, frame);
      if (code === OK) {
        this.counters.remote++;
        if (target.kind === "user") this.#pushToOthers(from, source.full, frame);
        else this.deliverRemoteChannel(target.full, frame, from);
      }
      return code;
    }
    if (target.kind === "channel") {
      return await this.stageChannel(from, source.full, target.full, m.timestamp, frame, null);
    }
    if (!(await this.#mayMessage(source.full, target.full))) return ErrorCode.NotFound;
    const stored = this.storeDirect(source.full, target.full, m.timestamp, frame);
    return {
      done: stored.then(() => {
        this.counters.local++;
        this.#pushToOthers(from, source.full, frame);
        return OK;
      }),
    };
  }

  /**
   * Whether `source` may message local `target`: the target exists and both
   * have each other in contacts. A yes is remembered for a few seconds, so a
   * conversation costs the store three reads per few seconds rather than per
   * message; contact changes made through this server take effect at once,
   * changes made by the operator's CLI within ALLOWED_TTL_MS.
   */
  async #mayMessage(source: string, target: string): Promise<boolean> {
    const id = `${source}\u0000${target}`;
    const now = Date.now();
    const until = this.#allowed.get(id);
    if (until !== undefined && until > now) return true;
    const [user, forward, back] = await this.store.kv.getMany([
      userKey(target),
      contactKey(source, target),
      contactKey(target, source),
    ]);
    if (user.versionstamp === null || forward.versionstamp === null || back.versionstamp === null) {
      this.#allowed.delete(id);
      return false;
    }
    if (this.#allowed.size >= ALLOWED_MAX) this.#allowed.clear();
    this.#allowed.set(id, now + ALLOWED_TTL_MS);
    return true;
  }

  /** Forgets remembered permissions between two users (a contact changed). */
  #forgetAllowed(a: string, b: string): void {
    this.#allowed.delete(`${a}\u0000${b}`);
    this.#allowed.delete(`${b}\u0000${a}`);
  }

  /**
   * Stores a direct message in the conversation history and delivers it to
   * the local `target`: pushed to every connection, or put in the inbox when
   * there is none. The writes are queued before this returns; the promise
   * resolves once they are durable. Also used for inbound federation.
   */
  storeDirect(source: string, target: string, ts: number, frame: Uint8Array): Promise<void> {
    const seq = this.seq.next();
    const mutations: Mutation[] = [
      this.store.history.appendMutation(conversation(source, target), ts, seq, frame),
    ];
    const online = this.registry.isOnline(target);
    const inbox = this.store.inbox.putMutation(target, seq, frame);
    // Decided before the commit: a message either goes to the inbox (and is
    // then delivered only by draining it) or is pushed live, never both, so
    // a login racing with this commit cannot see it twice.
    if (!online) mutations.push(inbox);
    return this.commits.submit(mutations).then(() =>
      this.#deliverDirect(target, frame, online, inbox)
    );
  }

  async #deliverDirect(
    target: string,
    frame: Uint8Array,
    online: boolean,
    inbox: Mutation,
  ): Promise<void> {
    if (online) {
      const sessions = this.registry.sessions(target);
      if (sessions !== undefined) {
        for (const s of sessions) s.push(frame);
        return;
      }
      // Everyone left while we committed: keep it for the next login.
      await this.commits.submit([inbox]);
    }
    if (this.registry.isOnline(target)) void this.drainInbox(target);
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
    return {
      done: this.commits.submit(mutations).then(() => {
        if (peers.size > 0) this.remote?.wake(peers);
        if (origin === null) this.counters.channel++;
        else this.counters.inbound++;
        this.fanOut(channel, frame, from);
        return OK;
      }),
    };
  }

  /** Pushes a channel message to every local member connection except `except`. */
  fanOut(channel: string, frame: Uint8Array, except: Deliverable | null): void {
    const members = this.#members.get(channel)?.members;
    if (members === undefined) return;
    for (const user of members) {
      const sessions = this.registry.sessions(user);
      if (sessions === undefined) continue;
      for (const s of sessions) if (s !== except) s.push(frame);
    }
  }

  /**
   * The member set of a local channel, or null if it does not exist. Cached;
   * the cache follows joins and leaves made here, and is reloaded when the
   * channel record changed (the operator's CLI deleted or re-created it).
   */
  async members(channel: string): Promise<Set<string> | null> {
    const record = await this.store.kv.get(channelKey(channel));
    if (record.versionstamp === null) {
      this.#members.delete(channel);
      return null;
    }
    const cached = this.#members.get(channel);
    if (cached !== undefined && cached.versionstamp === record.versionstamp) return cached.members;
    const members = new Set(await this.store.channels.members(channel));
    this.#members.set(channel, { versionstamp: record.versionstamp, members });
    return members;
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
    let members = await this.members(channel);
    const mutations: Mutation[] = [];
    if (members === null) {
      if (!this.options.channelAutoCreate || !user.endsWith(`@${this.options.domain}`)) {
        return ErrorCode.NotFound;
      }
      mutations.push(this.store.channels.createMutation(channel, user));
    } else if (members.has(user)) {
      return OK;
    }
    mutations.push(...this.store.channels.joinMutations(channel, user));
    await this.commits.submit(mutations);
    if (members === null) {
      members = await this.members(channel);
      if (members === null) return ErrorCode.Unavailable;
    }
    members.add(user);
    return OK;
  }

  /** Removes `user` from local `channel`; idempotent (leaving a channel one is not in is Success). */
  async leave(channel: string, user: string): Promise<number> {
    const members = await this.members(channel);
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
