/**
 * The SOLEC server: accepts connections on a listener and runs a session for
 * each, over a store. Runtime-portable: the listener comes from a
 * `NetAdapter` and the store is any `Kv`.
 */
import { FifoDeadlines } from "./deadlines.ts";
import type { Kv } from "../kv/kv.ts";
import type { Listener, NetAdapter, TlsServerOptions } from "../platform.ts";
import { type Logger, silentLogger } from "../log.ts";
import { Store } from "../store/mod.ts";
import { SequenceAllocator } from "../store/sequence.ts";
import { Session } from "./session.ts";
import { CommitQueue } from "./commit-queue.ts";
import type { ServerContext, SessionOptions } from "./context.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { ServerMetrics } from "./metrics.ts";
import { DEFAULT_PASSWORD_COST } from "./password.ts";
import { Registry } from "./registry.ts";
import { Router } from "./router.ts";
import { ConnectionCounter } from "./rate-limit.ts";
import { AuthCache } from "./auth-cache.ts";
import { encode, ErrorCode, PayloadType } from "../protocol/mod.ts";

const REFUSED = encode({ type: PayloadType.Error, code: ErrorCode.Unavailable });
import { Federation } from "../federation/federation.ts";
import type { ServerIdentity } from "../federation/identity.ts";
import type { PeerRecord } from "../federation/peers.ts";
import { BurstCollector } from "./burst-collector.ts";

export interface ServerOptions {
  readonly domain: string;
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsServerOptions;
  readonly maxPayload?: number;
  readonly authTimeoutMs?: number;
  readonly historyMaxCount?: number;
  readonly channelAutoCreate?: boolean;
  readonly passwordCost?: number;
  readonly maxOutputBytes?: number;
  /** How long a successful password check is remembered (0: never); default 60 s. */
  readonly authCacheTtlMs?: number;
  /** Open connections at most (0: unlimited); default 10 000. */
  readonly maxConnections?: number;
  /** Open connections per remote IP at most (0: unlimited); default 100. */
  readonly maxConnectionsPerIp?: number;
  /** Largest Message content in bytes; default 4096. */
  readonly maxMessageBytes?: number;
  /** Requests per second per client connection (0: unlimited); default 100, burst 500. */
  readonly rateLimit?: number;
  readonly rateBurst?: number;
  /** Peers from the config file (the store's `peers` come on top). */
  readonly peers?: readonly PeerRecord[];
  readonly outboxMaxAgeMs?: number;
  /** Time limit for connecting and authenticating a link to a peer. */
  readonly linkTimeoutMs?: number;
}

export interface ServerDeps {
  readonly net: NetAdapter;
  readonly kv: Kv;
  readonly log?: Logger;
  /** This server's Ed25519 key; without it the server does not federate. */
  readonly identity?: ServerIdentity;
  /** The runtime's full garbage collection, run after a burst of logins (BurstCollector). */
  readonly collectGarbage?: () => void;
}

export class SolecServer {
  readonly store: Store;
  readonly metrics = new ServerMetrics();
  readonly registry = new Registry<Session>();
  readonly commits: CommitQueue;
  /** Recent successful password checks (see AuthCache); `authCacheTtlMs` 0 turns it off. */
  readonly authCache: AuthCache;
  readonly log: Logger;
  #router: Router | null = null;
  #federation: Federation | null = null;
  #authDeadlines: FifoDeadlines<Session>;
  readonly #burst: BurstCollector | null;
  #listener: Listener | null = null;
  readonly #sessions = new Set<Session>();
  #acceptLoop: Promise<void> | null = null;
  readonly #options: SessionOptions & { historyMaxCount: number; channelAutoCreate: boolean };

  constructor(private readonly opts: ServerOptions, private readonly deps: ServerDeps) {
    this.store = new Store(deps.kv);
    this.log = deps.log ?? silentLogger;
    this.commits = new CommitQueue(deps.kv, undefined, (e) => {
      this.log.error("commit completion failed", { error: String(e) });
    });
    this.authCache = new AuthCache(opts.authCacheTtlMs ?? 60_000);
    this.#options = {
      domain: opts.domain.toLowerCase(),
      maxPayload: opts.maxPayload ?? 8192,
      authTimeoutMs: opts.authTimeoutMs ?? 10_000,
      passwordCost: opts.passwordCost ?? DEFAULT_PASSWORD_COST,
      maxOutputBytes: opts.maxOutputBytes ?? 1024 * 1024,
      maxMessageBytes: opts.maxMessageBytes ?? 4096,
      rateLimit: opts.rateLimit ?? 100,
      rateBurst: opts.rateBurst ?? 500,
      peerRateLimit: opts.rateLimit === 0 ? 0 : (opts.rateLimit ?? 100) * 50,
      peerRateBurst: (opts.rateBurst ?? 500) * 20,
      historyMaxCount: opts.historyMaxCount ?? 500,
      channelAutoCreate: opts.channelAutoCreate ?? true,
    };
    this.#authDeadlines = new FifoDeadlines(this.#options.authTimeoutMs);
    const collect = deps.collectGarbage;
    this.#burst = collect === undefined ? null : new BurstCollector(() => {
      const started = performance.now();
      collect();
      const ms = Math.round(performance.now() - started);
      this.log.debug("garbage collected after a burst of logins", { ms });
    }, () => this.metrics.bytesReceived);
  }

  /** Federation state, when the server has an identity. */
  get federation(): Federation | null {
    return this.#federation;
  }

  get router(): Router {
    if (this.#router === null) throw new Error("server not started");
    return this.#router;
  }

  /** The address the SOLEC listener is bound to (after `start`). */
  get addr(): { hostname: string; port: number } {
    if (this.#listener === null) throw new Error("server not started");
    return this.#listener.addr;
  }

  /** Open connections (logged in or not). */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Open connections that have not sent their login yet (the login time limit runs). */
  get awaitingLogin(): number {
    return this.#authDeadlines.waiting;
  }

  get listening(): boolean {
    return this.#listener !== null;
  }

  async start(): Promise<void> {
    const seq = await SequenceAllocator.open(this.deps.kv);
    this.#router = new Router(
      this.#options,
      this.store,
      this.commits,
      seq,
      this.registry,
      this.log,
    );
    await this.#router.loadRemoteMembers();
    if (this.deps.identity !== undefined) {
      this.#federation = new Federation(
        {
          domain: this.#options.domain,
          outboxMaxAgeMs: this.opts.outboxMaxAgeMs,
          connectTimeoutMs: this.opts.linkTimeoutMs,
          peersFromConfig: this.opts.peers,
        },
        {
          net: this.deps.net,
          store: this.store,
          commits: this.commits,
          seq,
          router: this.#router,
          identity: this.deps.identity,
          log: this.log,
        },
      );
      this.#router.remote = this.#federation;
    }
    const ctx: ServerContext = {
      options: this.#options,
      store: this.store,
      router: this.#router,
      registry: this.registry,
      throttle: new LoginThrottle(),
      authCache: this.authCache,
      authDeadlines: this.#authDeadlines,
      metrics: this.metrics,
      log: this.log,
      federation: this.#federation,
      loginBurst: this.#burst,
    };
    this.#listener = await this.deps.net.listen({
      hostname: this.opts.host,
      port: this.opts.port,
      tls: this.opts.tls,
    });
    this.log.info("listening", {
      host: this.#listener.addr.hostname,
      port: this.#listener.addr.port,
      domain: this.#options.domain,
      tls: this.opts.tls !== undefined,
    });
    await this.#federation?.start();
    const listener = this.#listener;
    this.#acceptLoop = (async () => {
      const counter = new ConnectionCounter(
        this.opts.maxConnections ?? 10_000,
        this.opts.maxConnectionsPerIp ?? 100,
      );
      // One function for every session (not a closure per connection).
      const onEnd = (ended: Session) => {
        this.#sessions.delete(ended);
        counter.remove(ended.remoteIp);
      };
      for await (const conn of listener) {
        const ip = conn.remoteAddr.hostname;
        if (!counter.tryAdd(ip)) {
          // Over a limit: say why (0x83, try later) and close, before any work.
          this.metrics.connectionsRefused++;
          const close = () => conn.close();
          conn.send(REFUSED).then(close, close);
          continue;
        }
        this.metrics.connectionsAccepted++;
        const session = new Session(conn, ctx, onEnd);
        this.#sessions.add(session);
        session.start();
      }
    })().catch((e) => this.log.error("accept loop failed", { error: String(e) }));
  }

  /**
   * Graceful stop: stop accepting; every session answers the request it is
   * handling and reads no more; queued writes commit; output is flushed and
   * connections close. After `deadlineMs` whatever is left is closed hard.
   * The store is not closed (the caller owns it).
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.#listener?.close();
    this.#listener = null;
    await this.#acceptLoop;
    const deadline = Date.now() + deadlineMs;
    for (const s of this.#sessions) s.shutdown();
    while (this.#sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#federation?.stop();
    this.#authDeadlines.clear();
    this.#burst?.stop();
    await this.commits.drained();
    for (const s of this.#sessions) s.close();
  }
}
