import { ConfigError } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { openKv } from "../kv/open.ts";
import type { Kv } from "../kv/kv.ts";
import type { Logger } from "../log.ts";
import type { Platform } from "../platform.ts";

/**
 * Opens the configured store; a bad store URL is a configuration error (exit 2).
 * For the server (`server` given), SQLite's disk flushes move to a thread of their own, which
 * a one-shot command would only pay to start, and a slow disk is logged.
 */
export function openStore(config: Config, platform: Platform, server?: { log: Logger }): Kv {
  try {
    return openKv(config.store, {
      openSqlite: platform.openSqlite,
      startSqliteFlusher: server ? platform.startSqliteFlusher : undefined,
      onForcedHoldRanOut: server
        ? (r) =>
          server.log.warn(
            "disk slow: a WAL restart held commits and deliveries, and did not finish",
            {
              heldMs: Math.round(r.heldMs),
              walPages: r.walFrames,
              nextTryMs: Math.round(r.nextTryMs),
            },
          )
        : undefined,
    });
  } catch (e) {
    throw new ConfigError([
      { source: "SOLEC_STORE / --store", message: e instanceof Error ? e.message : String(e) },
    ]);
  }
}
