import { ConfigError } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { openKv } from "../kv/open.ts";
import type { Kv } from "../kv/kv.ts";
import type { Platform } from "../platform.ts";

/**
 * Opens the configured store; a bad store URL is a configuration error (exit 2).
 * `longRunning` (the server) moves SQLite's disk flushes to a thread of their own, which
 * a one-shot command would only pay to start.
 */
export function openStore(config: Config, platform: Platform, longRunning = false): Kv {
  try {
    return openKv(config.store, {
      openSqlite: platform.openSqlite,
      startSqliteFlusher: longRunning ? platform.startSqliteFlusher : undefined,
    });
  } catch (e) {
    throw new ConfigError([
      { source: "SOLEC_STORE / --store", message: e instanceof Error ? e.message : String(e) },
    ]);
  }
}
