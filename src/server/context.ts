import type { FifoDeadlines } from "./deadlines.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import type { LoginThrottle } from "./login-throttle.ts";
import type { AuthCache } from "./auth-cache.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { Registry } from "./registry.ts";
import type { Router } from "./router.ts";
import type { Session } from "./session.ts";
import type { Federation } from "../federation/federation.ts";
import type { BurstCollector } from "./burst-collector.ts";

/** Settings the sessions read (a subset of the configuration). */
export interface SessionOptions {
  readonly domain: string;
  readonly maxPayload: number;
  readonly authTimeoutMs: number;
  readonly passwordCost: number;
  /** Unsent output allowed per connection before it is dropped as too slow. */
  readonly maxOutputBytes: number;
  /** Largest Message content in bytes (longer: 0x02). */
  readonly maxMessageBytes: number;
  /** Requests per second per client connection (0: unlimited) and the burst allowed. */
  readonly rateLimit: number;
  readonly rateBurst: number;
  /** The same for server links, which carry many users' traffic. */
  readonly peerRateLimit: number;
  readonly peerRateBurst: number;
}

/** What every session shares. */
export interface ServerContext {
  readonly options: SessionOptions;
  readonly store: Store;
  readonly router: Router;
  readonly registry: Registry<Session>;
  readonly throttle: LoginThrottle;
  readonly authCache: AuthCache;
  /** The handshake/login time limit of each new connection (one timer for all). */
  readonly authDeadlines: FifoDeadlines<Session>;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  /** Set when this server federates (it has an identity key). */
  readonly federation: Federation | null;
  /** Told of every login, when the runtime can collect garbage after a burst of them. */
  readonly loginBurst: BurstCollector | null;
}
