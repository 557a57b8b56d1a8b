/**
 * Server-to-server federation (spec §7): the remote side of the router
 * (direct messages, channel joins, history for other domains), the durable
 * outbox with one sender per peer, and the handling of requests that arrive
 * on authenticated inbound links.
 */
import {
  type Address,
  encode,
  encodeMessage,
  ErrorCode,
  type History as HistoryReq,
  type Message,
  normaliseTimestamp,
  parseAddress,
  PayloadType,
  type ServerAuth,
  type Usermode,
} from "../protocol/mod.ts";
import type { Logger } from "../log.ts";
import type { NetAdapter } from "../platform.ts";
import {
  conversation,
  del,
  type Mutation,
  OUTBOX,
  type OutboxEntry,
  outboxKey,
  outboxOf,
  set,
  type Store,
} from "../store/mod.ts";
import type { SequenceAllocator } from "../store/sequence.ts";
import type { CommitQueue } from "../server/commit-queue.ts";
import { OK, type RemoteRoute, type Router } from "../server/router.ts";
import type { Deliverable } from "../server/registry.ts";
import {
  parsePublicKey,
  type ServerIdentity,
  signServerAuth,
  verifyServerAuth,
} from "./identity.ts";
import { LinkDownError, PeerLink } from "./link.ts";
import { type PeerRecord, Peers } from "./peers.ts";
import { ReplayCache } from "./replay-cache.ts";

export interface FederationOptions {
  readonly domain: string;
  /** Outbox entries older than this are dropped and counted (default 7 days). */
  readonly outboxMaxAgeMs?: number;
  /** Connect + authenticate time limit for an outgoing link (default 3 s). */
  readonly connectTimeoutMs?: number;
  /** Accepted clock difference for ServerAuth timestamps (spec: 300 s). */
  readonly authWindowMs?: number;
  readonly peersFromConfig?: readonly PeerRecord[];
}

export interface FederationDeps {
  readonly net: NetAdapter;
  readonly store: Store;
  readonly commits: CommitQueue;
  readonly seq: SequenceAllocator;
  readonly router: Router;
  readonly identity: ServerIdentity;
  readonly log: Logger;
}

/** The answer to a request that arrived on an inbound link. */
export type InboundResult =
  | { readonly code: number }
  | { readonly frames: Uint8Array[] }
  | { readonly violation: string };

export interface FederationStatus {
  /** Open server-to-server connections, inbound and outbound. */
  readonly connections: number;
  readonly inboundLinks: number;
  readonly outboxPending: number;
  /** Every known peer (store and config file), with its outgoing link state. */
  readonly peers: { domain: string; up: boolean }[];
  readonly outboxSent: number;
  readonly outboxRejected: number;
  readonly outboxExpired: number;
}

const OUTBOX_BATCH = 100;

export class Federation implements RemoteRoute {
  readonly peers: Peers;
  readonly #links = new Map<string, PeerLink>();
  readonly #replay: ReplayCache;
  readonly #draining = new Set<string>();
  readonly #again = new Set<string>();
  readonly #retry = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #domain: string;
  readonly #maxAge: number;
  readonly #window: number;
  #stopped = false;
  inboundLinks = 0;
  /** Outbox entries per peer, kept in step with the store after `start()`. */
  readonly #pending = new Map<string, number>();
  outboxSent = 0;
  outboxRejected = 0;
  outboxExpired = 0;
  /**
   * Inbound messages being stored, by identity (see `#storeOnce`): a peer that restarts
   * re-sends what it had no reply for, on a new link, while the first copy may still be
   * between its duplicate check and its commit on the old one.
   */
  readonly #storing = new Map<string, Promise<number>>();

  constructor(private readonly options: FederationOptions, private readonly deps: FederationDeps) {
    this.#domain = options.domain;
    this.#maxAge = options.outboxMaxAgeMs ?? 7 * 24 * 3600_000;
    this.#window = options.authWindowMs ?? 300_000;
    this.#replay = new ReplayCache(this.#window);
    this.peers = new Peers(deps.store.kv, options.peersFromConfig ?? []);
  }

  /** Peers cut off for misbehaving on an inbound link: refused until the time, with the next penalty. */
  readonly #penalties = new Map<string, { until: number; nextMs: number }>();

  /**
   * A peer broke the protocol or flooded us on its inbound link: refuse its
   * links for a while, 10 s doubling up to 10 min while it keeps doing so.
   */
  penalize(peer: string): void {
    const now = Date.now();
    const prev = this.#penalties.get(peer);
    const ms = prev === undefined || now - prev.until > 30 * 60_000 ? 10_000 : prev.nextMs;
    this.#penalties.set(peer, { until: now + ms, nextMs: Math.min(ms * 2, 600_000) });
    this.deps.log.warn("peer cut off", { peer, forMs: ms });
  }

  /** Whether links from `peer` are refused right now. */
  penalized(peer: string): boolean {
    return (this.#penalties.get(peer)?.until ?? 0) > Date.now();
  }

  #knownPeers: string[] = [];
  #knownPeersAt = 0;

  #refreshKnownPeers(): void {
    const now = Date.now();
    if (now - this.#knownPeersAt < 5000) return;
    this.#knownPeersAt = now;
    this.peers.list().then(
      (list) => (this.#knownPeers = list.map((p) => p.domain)),
      () => {},
    );
  }

  /** Counts what is queued and starts sending it. */
  async start(): Promise<void> {
    this.#knownPeers = (await this.peers.list()).map((p) => p.domain);
    this.#knownPeersAt = Date.now();
    for await (const e of this.deps.store.kv.list({ prefix: OUTBOX })) {
      const peer = e.key[1] as string;
      this.#pending.set(peer, (this.#pending.get(peer) ?? 0) + 1);
    }
    this.wake(this.#pending.keys());
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#retry.values()) clearTimeout(t);
    this.#retry.clear();
    for (const l of this.#links.values()) l.close();
  }

  /**
   * A snapshot for metrics. Synchronous (scrapes must be cheap), so the list
   * of configured peers is the one last read from the store; reading it again
   * is started here at most every 5 s.
   */
  status(): FederationStatus {
    let outboxPending = 0;
    for (const n of this.#pending.values()) outboxPending += n;
    this.#refreshKnownPeers();
    const domains = new Set([...this.#knownPeers, ...this.#links.keys()]);
    let up = 0;
    for (const l of this.#links.values()) if (l.up) up++;
    return {
      connections: this.inboundLinks + up,
      inboundLinks: this.inboundLinks,
      outboxPending,
      peers: [...domains].sort().map((domain) => ({
        domain,
        up: this.#links.get(domain)?.up ?? false,
      })),
      outboxSent: this.outboxSent,
      outboxRejected: this.outboxRejected,
      outboxExpired: this.outboxExpired,
    };
  }

  #link(domain: string): PeerLink {
    let link = this.#links.get(domain);
    if (link === undefined) {
      link = new PeerLink(domain, {
        net: this.deps.net,
        log: this.deps.log,
        localDomain: this.#domain,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 3000,
        sign: (peer, ts) => signServerAuth(this.deps.identity.privateKey, this.#domain, peer, ts),
        verify: async (peer, name, ts, sig) =>
          name === peer.domain && await this.#verify(peer, name, this.#domain, ts, sig),
        lookup: (d) => this.peers.get(d),
        onUp: (d) => this.wake([d]),
        onDown: () => {},
      });
      this.#links.set(domain, link);
    }
    return link;
  }

  // ------------------------------------------------------------ outgoing (RemoteRoute)

  async message(
    _from: Deliverable,
    source: Address,
    target: Address,
    ts: number,
    frame: Uint8Array,
  ): Promise<number> {
    if (target.domain === this.#domain || (await this.peers.get(target.domain)) === undefined) {
      return ErrorCode.NotFound;
    }
    const { store } = this.deps;
    const mutations: Mutation[] = [];
    if (target.kind === "user") {
      // Our half of the mutual-contact rule; the peer checks the other half.
      if (!(await store.contacts.has(source.full, target.full))) return ErrorCode.NotFound;
      const conv = conversation(source.full, target.full);
      mutations.push(store.history.appendMutation(conv, ts, this.deps.seq.next(), frame));
    } else if (!(await this.deps.router.remoteMembers(target.full)).has(source.full)) {
      return ErrorCode.NotFound;
    }
    mutations.push(...this.outboxMutations([target.domain], frame));
    await this.deps.commits.submit(mutations);
    this.wake([target.domain]);
    return OK;
  }

  async usermode(user: Address, channel: Address, mode: number): Promise<number> {
    if ((await this.peers.get(channel.domain)) === undefined) return ErrorCode.NotFound;
    try {
      const reply = await this.#link(channel.domain).request(
        encode({ type: PayloadType.Usermode, user: user.full, channel: channel.full, mode }),
      );
      if (reply.code === OK) {
        await this.deps.router.recordRemoteMembership(channel.full, user.full, mode);
      }
      return reply.code;
    } catch (e) {
      if (e instanceof LinkDownError) return ErrorCode.Unavailable;
      throw e;
    }
  }

  async history(user: Address, channel: Address, req: HistoryReq): Promise<Uint8Array[] | number> {
    if (!(await this.deps.router.remoteMembers(channel.full)).has(user.full)) {
      return ErrorCode.NotFound;
    }
    if ((await this.peers.get(channel.domain)) === undefined) return ErrorCode.NotFound;
    try {
      const reply = await this.#link(channel.domain).request(
        encode({ ...req, target: channel.full }),
        true,
      );
      return reply.code === OK ? reply.frames : reply.code;
    } catch (e) {
      if (e instanceof LinkDownError) return ErrorCode.Unavailable;
      throw e;
    }
  }

  outboxMutations(peers: Iterable<string>, frame: Uint8Array): Mutation[] {
    const out: Mutation[] = [];
    const now = Date.now();
    for (const peer of peers) {
      const entry: OutboxEntry = { frame, queuedAt: now };
      out.push(set(outboxKey(peer, this.deps.seq.next()), { ...entry }));
      this.#pending.set(peer, (this.#pending.get(peer) ?? 0) + 1);
    }
    return out;
  }

  wake(peers: Iterable<string>): void {
    for (const peer of peers) void this.#drain(peer);
  }

  /**
   * Sends a peer's outbox in order while its link is up. Entries leave the
   * outbox only once the peer answered them (Success, or an Error, which is
   * logged and counted). While the link is down, retries after its backoff.
   */
  async #drain(peer: string): Promise<void> {
    if (this.#stopped) return;
    if (this.#draining.has(peer)) {
      this.#again.add(peer);
      return;
    }
    this.#draining.add(peer);
    clearTimeout(this.#retry.get(peer));
    this.#retry.delete(peer);
    try {
      for (;;) {
        this.#again.delete(peer);
        const entries: { key: readonly unknown[]; value: OutboxEntry }[] = [];
        for await (
          const e of this.deps.store.kv.list<OutboxEntry>({ prefix: outboxOf(peer) }, {
            limit: OUTBOX_BATCH,
          })
        ) entries.push(e);
        if (entries.length === 0) {
          this.#pending.set(peer, 0);
          if (!this.#again.has(peer)) return;
          continue;
        }
        // Entries past the retry age leave whether or not the peer is up.
        const now = Date.now();
        const expired = entries.filter((e) => now - e.value.queuedAt > this.#maxAge);
        if (expired.length > 0) {
          await this.deps.commits.submit(expired.map((e) => del(e.key as (string | number)[])));
          this.outboxExpired += expired.length;
          this.#pending.set(peer, Math.max(0, (this.#pending.get(peer) ?? 0) - expired.length));
          this.deps.log.warn("outbox entries expired", { peer, count: expired.length });
          continue;
        }
        const link = this.#link(peer);
        if (!(await link.ensureUp())) {
          this.#scheduleRetry(peer, Math.min(link.backoffMs, this.#maxAge));
          return;
        }
        const done: Mutation[] = [];
        const sends: Promise<void>[] = [];
        let linkFailed = false;
        for (const e of entries) {
          const key = e.key as (string | number)[];
          // Pipelined: the link keeps them in order and the peer answers in order.
          sends.push(
            link.request(e.value.frame).then(
              (reply) => {
                done.push(del(key));
                this.outboxSent++;
                if (reply.code !== OK) {
                  this.outboxRejected++;
                  this.deps.log.warn("peer refused a queued message", { peer, code: reply.code });
                }
              },
              () => {
                linkFailed = true;
              },
            ),
          );
        }
        await Promise.all(sends);
        if (done.length > 0) {
          await this.deps.commits.submit(done);
          this.#pending.set(peer, Math.max(0, (this.#pending.get(peer) ?? 0) - done.length));
        }
        if (linkFailed) {
          this.#scheduleRetry(peer, link.backoffMs);
          return;
        }
      }
    } catch (e) {
      this.deps.log.error("outbox delivery failed", { peer, error: String(e) });
      this.#scheduleRetry(peer, 1000);
    } finally {
      this.#draining.delete(peer);
    }
  }

  #scheduleRetry(peer: string, ms: number): void {
    if (this.#stopped || this.#retry.has(peer)) return;
    this.#retry.set(
      peer,
      setTimeout(() => {
        this.#retry.delete(peer);
        void this.#drain(peer);
      }, Math.max(ms, 50)),
    );
  }

  // ------------------------------------------------------------ inbound links

  async #verify(
    peer: PeerRecord,
    from: string,
    to: string,
    ts: number | undefined,
    sig: Uint8Array | undefined,
  ): Promise<boolean> {
    if (ts === undefined || sig === undefined) return false; // upstream unsigned form
    const key = parsePublicKey(peer.publicKey);
    if (key === undefined) return false;
    const now = Date.now();
    if (Math.abs(now - normaliseTimestamp(ts)) > this.#window) return false;
    if (!(await verifyServerAuth(key, from, to, ts, sig))) return false;
    return this.#replay.remember(from, ts, sig, now);
  }

  /**
   * Checks an inbound ServerAuth (spec §7 step 3). Returns our own ServerAuth
   * frame to answer with, or null (→ Error 0x03, close).
   */
  async acceptLink(p: ServerAuth): Promise<{ peer: string; reply: Uint8Array } | null> {
    const name = p.name.toLowerCase();
    if (name === this.#domain) return null;
    const peer = await this.peers.get(name);
    if (peer === undefined || this.penalized(name)) return null;
    if (!(await this.#verify(peer, name, this.#domain, p.ts, p.signature?.slice()))) return null;
    const ts = Date.now();
    const signature = await signServerAuth(this.deps.identity.privateKey, this.#domain, name, ts);
    return {
      peer: name,
      reply: encode({ type: PayloadType.ServerAuth, name: this.#domain, ts, signature }),
    };
  }

  /** A request from authenticated peer `peer` (spec §7 table). */
  async inbound(peer: string, p: Message | Usermode | HistoryReq): Promise<InboundResult> {
    switch (p.type) {
      case PayloadType.Message:
        return await this.#inboundMessage(peer, p);
      case PayloadType.Usermode:
        return await this.#inboundUsermode(peer, p);
      case PayloadType.History:
        return await this.#inboundHistory(peer, p);
    }
  }

  async #inboundMessage(peer: string, m: Message): Promise<InboundResult> {
    const source = parseAddress(m.source);
    const target = parseAddress(m.target);
    if (source === undefined || source.kind !== "user") return { violation: "invalid source" };
    if (target === undefined) return { code: ErrorCode.NotFound };
    const frame = encodeMessage(source.full, target.full, m.timestamp, m.content);
    const { router, store } = this.deps;
    // A channel's home fans its messages out to us, whoever wrote them.
    if (target.kind === "channel" && target.domain === peer) {
      router.counters.inbound++;
      router.deliverRemoteChannel(target.full, frame, null);
      return { code: OK };
    }
    if (source.domain !== peer) {
      return { violation: `source ${source.full} does not belong to ${peer}` };
    }
    if (target.domain !== this.#domain) return { code: ErrorCode.NotFound };
    const identity = `${source.full}\n${target.full}\n${m.timestamp}\n${m.content}`;
    if (target.kind === "channel") {
      return {
        code: await this.#storeOnce(
          identity,
          () => router.channelMessage(null, source.full, target.full, m.timestamp, frame, peer),
        ),
      };
    }
    const [user, back] = await store.kv.getMany([["users", target.full], [
      "contacts",
      target.full,
      source.full,
    ]]);
    if (user.versionstamp === null || back.versionstamp === null) {
      return { code: ErrorCode.NotFound };
    }
    return {
      code: await this.#storeOnce(identity, async () => {
        const conv = conversation(source.full, target.full);
        if (await store.history.contains(conv, m.timestamp, frame)) return OK; // a re-send
        await router.storeDirect(source.full, target.full, m.timestamp, frame);
        router.counters.inbound++;
        return OK;
      }),
    };
  }

  /**
   * Runs `store` (a duplicate check, then the write) for one inbound message at a time: a
   * copy that arrives while another is being stored waits for it and answers as it did,
   * or, if that one failed, tries itself. Without this both copies could pass the check
   * before either is written, and the message would be stored twice.
   */
  async #storeOnce(identity: string, store: () => Promise<number>): Promise<number> {
    for (;;) {
      const running = this.#storing.get(identity);
      if (running === undefined) break;
      try {
        return await running;
      } catch {
        // That copy was not stored: the next one to get here tries.
      }
    }
    const own = store();
    this.#storing.set(identity, own);
    try {
      return await own;
    } finally {
      if (this.#storing.get(identity) === own) this.#storing.delete(identity);
    }
  }

  async #inboundUsermode(peer: string, u: Usermode): Promise<InboundResult> {
    const user = parseAddress(u.user);
    if (user === undefined || user.kind !== "user" || user.domain !== peer) {
      return { violation: `usermode for ${u.user} from ${peer}` };
    }
    const channel = parseAddress(u.channel);
    if (channel === undefined || channel.kind !== "channel" || channel.domain !== this.#domain) {
      return { code: ErrorCode.NotFound };
    }
    if (u.mode !== 0 && u.mode !== 1) return { code: ErrorCode.NotFound };
    const { router } = this.deps;
    return {
      code: u.mode === 1
        ? await router.join(channel.full, user.full)
        : await router.leave(channel.full, user.full),
    };
  }

  async #inboundHistory(peer: string, h: HistoryReq): Promise<InboundResult> {
    const channel = parseAddress(h.target);
    if (channel === undefined || channel.kind !== "channel" || channel.domain !== this.#domain) {
      return { code: ErrorCode.NotFound };
    }
    const members = await this.deps.router.members(channel.full);
    const suffix = `@${peer}`;
    if (members === null || ![...members].some((m) => m.endsWith(suffix))) {
      return { code: ErrorCode.NotFound };
    }
    return { frames: await this.deps.router.historyOf(channel.full, h) };
  }
}
