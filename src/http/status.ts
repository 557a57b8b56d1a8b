/**
 * What the HTTP endpoints read about the running server: {@link ServerStatus}.
 * `solec serve` builds one from its `SolecServer` with {@link serverStatus};
 * tests pass fakes. Every accessor is cheap and called at request time, so
 * values are always current.
 */
import type { KvStoreStats } from "../kv/kv.ts";
import type { ServerMetrics } from "../server/metrics.ts";

/** Messages routed since start, by route. */
export interface MessageCounts {
  /** Direct messages between local users. */
  readonly local: number;
  /** Messages to local channels. */
  readonly channel: number;
  /** Messages from local users to remote users or channels. */
  readonly remote: number;
  /** Messages that arrived from peer servers. */
  readonly inbound: number;
}

export interface PeerStatus {
  readonly domain: string;
  /** A server-to-server link to the peer is established. */
  readonly up: boolean;
}

/**
 * Server-to-server state, for metrics. The federation code provides it as
 * `server.federation.status()` (see {@link FederationStatusSource}).
 */
export interface FederationStatus {
  /** Open server-to-server connections, inbound and outbound. */
  readonly connections: number;
  /**
   * Of those, the inbound ones: they arrive on the SOLEC listener and so are
   * also counted in `SolecServer.connections`, which are subtracted from it
   * to count client connections. Absent: 0.
   */
  readonly inboundLinks?: number;
  /** Messages queued durably for peers and not yet acknowledged. */
  readonly outboxPending: number;
  /** Every known peer. */
  readonly peers: readonly PeerStatus[];
  /** Outbox messages delivered to peers since start. Absent: 0. */
  readonly outboxSent?: number;
  /** Outbox messages a peer refused for good. Absent: 0. */
  readonly outboxRejected?: number;
  /** Outbox messages dropped undelivered after their time limit. Absent: 0. */
  readonly outboxExpired?: number;
}

/** The outbox to peer servers. */
export interface OutboxStatus {
  readonly pending: number;
  readonly sent: number;
  readonly rejected: number;
  readonly expired: number;
}

/**
 * The optional plug-in point on the server object: `serve` reads
 * `server.federation?.status()` at every scrape; absent or null means no
 * federation (0 server connections, an empty outbox, no peers).
 */
export interface FederationStatusSource {
  status(): FederationStatus;
}

/** The store as the server uses it: group commits, and the store's own disk work. */
export interface StoreStatus {
  /** Group-commit transactions committed. */
  readonly commits: number;
  /** Writes (mutations) in them. */
  readonly writes: number;
  /** Absent for stores without background disk work (memory). */
  readonly disk?: KvStoreStats;
}

export interface ServerStatus {
  /** The SOLEC listener accepts connections. */
  listening(): boolean;
  /** Shutdown has begun (a signal arrived): not ready from that moment on. */
  shuttingDown(): boolean;
  /** Resolves when the store answers a trivial query. */
  pingStore(): Promise<void>;
  /** The server's hot-path counters. */
  readonly metrics: ServerMetrics;
  /**
   * Open connections: `client` = user sessions, `server` = peer links;
   * `awaitingLogin` = those on the listener still inside the login time limit.
   */
  connections(): {
    readonly client: number;
    readonly server: number;
    readonly awaitingLogin: number;
  };
  messages(): MessageCounts;
  outbox(): OutboxStatus;
  peers(): readonly PeerStatus[];
  store(): StoreStatus;
}

/**
 * What {@link serverStatus} reads from the server: `SolecServer` has this
 * shape (`federation` is its optional federation plug-in).
 */
export interface StatusSource {
  readonly listening: boolean;
  /** Open sessions on the SOLEC listener (clients, and inbound peer links). */
  readonly connections: number;
  /** Of those, the ones that have not sent their login (UserAuth, ServerAuth) yet. */
  readonly awaitingLogin: number;
  readonly metrics: ServerMetrics;
  /** The group-commit queue's counters. */
  readonly commits: { readonly commits: number; readonly mutations: number };
  readonly router: {
    readonly counters: {
      readonly local: number;
      readonly channel: number;
      readonly remote: number;
      readonly inbound?: number;
    };
  };
  readonly federation?: FederationStatusSource | null;
}

/** The HTTP endpoints' view of a started server. */
export function serverStatus(
  server: StatusSource,
  pingStore: () => Promise<void>,
  shuttingDown: () => boolean,
  storeStats: () => KvStoreStats | undefined = () => undefined,
): ServerStatus {
  const federation = () => server.federation?.status();
  return {
    listening: () => server.listening,
    shuttingDown,
    pingStore,
    metrics: server.metrics,
    connections: () => {
      const f = federation();
      // Inbound peer links arrive on the SOLEC listener: they are sessions too.
      const client = Math.max(0, server.connections - (f?.inboundLinks ?? 0));
      return { client, server: f?.connections ?? 0, awaitingLogin: server.awaitingLogin };
    },
    messages: () => {
      const c = server.router.counters;
      return { local: c.local, channel: c.channel, remote: c.remote, inbound: c.inbound ?? 0 };
    },
    outbox: () => {
      const f = federation();
      return {
        pending: f?.outboxPending ?? 0,
        sent: f?.outboxSent ?? 0,
        rejected: f?.outboxRejected ?? 0,
        expired: f?.outboxExpired ?? 0,
      };
    },
    peers: () => federation()?.peers ?? [],
    store: () => {
      const disk = storeStats();
      const c = server.commits;
      return disk === undefined
        ? { commits: c.commits, writes: c.mutations }
        : { commits: c.commits, writes: c.mutations, disk };
    },
  };
}
