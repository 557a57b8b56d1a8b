import type { Logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import type { LoginThrottle } from "./login-throttle.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { Registry } from "./registry.ts";
import type { Router } from "./router.ts";
import type { ClientSession } from "./client-session.ts";

/** Settings the sessions read (a subset of the configuration). */
export interface SessionOptions {
  readonly domain: string;
  readonly maxPayload: number;
  readonly authTimeoutMs: number;
  readonly passwordCost: number;
  /** Unsent output allowed per connection before it is dropped as too slow. */
  readonly maxOutputBytes: number;
}

/** What every session shares. */
export interface ServerContext {
  readonly options: SessionOptions;
  readonly store: Store;
  readonly router: Router;
  readonly registry: Registry<ClientSession>;
  readonly throttle: LoginThrottle;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
}
