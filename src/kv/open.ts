/**
 * Store URLs → `Kv`. Each backend is one entry in `STORES`; adding one (say `redis:`) is a
 * new line there plus its opener.
 *
 *   memory:                                   in-process, lost on exit
 *   sqlite:PATH                               SQLite file (created when missing)
 *   sqlite:PATH?synchronous=normal|full|off   … with SQLite's durability setting
 *   sqlite:PATH?sync_interval_ms=N            … at most one WAL fsync per N ms (default 2)
 *
 * `sqlite://PATH` is accepted too (`sqlite:///var/lib/solec.db` is the absolute path).
 */
import type { OpenSqlite } from "../platform.ts";
import type { Kv } from "./kv.ts";
import { MemoryKv } from "./memory.ts";
import { MAX_SYNC_INTERVAL_MS, SqliteKv } from "./sqlite.ts";
import type { ForcedHoldReport, SqliteSynchronous } from "./sqlite.ts";
import type { StartSqliteFlusher } from "./sqlite-flusher.ts";

/** What the entry point injects: the runtime's SQLite driver. */
export interface OpenKvDeps {
  readonly openSqlite: OpenSqlite;
  /** For long-running processes (the server): SQLite's fsyncs and checkpoints on a thread. */
  readonly startSqliteFlusher?: StartSqliteFlusher;
  /** With a flusher: told when a forced WAL-restart hold ran out (a slow disk). */
  readonly onForcedHoldRanOut?: (report: ForcedHoldReport) => void;
}

interface StoreOpener {
  /** How the URL looks, for error messages. */
  readonly usage: string;
  /** `rest` is everything after `scheme:`; `url` is the full text for messages. */
  open(rest: string, url: string, deps: OpenKvDeps): Kv;
}

const STORES: Readonly<Record<string, StoreOpener>> = {
  memory: { usage: "memory:", open: openMemory },
  sqlite: { usage: "sqlite:PATH", open: openSqliteStore },
};

function supported(): string {
  const usages = Object.values(STORES).map((s) => s.usage);
  return usages.length === 1
    ? usages[0]
    : `${usages.slice(0, -1).join(", ")} and ${usages[usages.length - 1]}`;
}

function openMemory(rest: string, url: string): Kv {
  if (rest !== "") throw new Error(`invalid store "${url}": memory: takes no path or options`);
  return new MemoryKv();
}

const SYNCHRONOUS_MODES: readonly SqliteSynchronous[] = ["normal", "full", "off"];

function openSqliteStore(rest: string, url: string, deps: OpenKvDeps): Kv {
  const q = rest.indexOf("?");
  let path = q === -1 ? rest : rest.slice(0, q);
  const params = new URLSearchParams(q === -1 ? "" : rest.slice(q + 1));
  if (path.startsWith("//")) path = path.slice(2);
  if (path === "") {
    throw new Error(`invalid store "${url}": sqlite: needs a file path, e.g. sqlite:./solec.db`);
  }
  let synchronous: SqliteSynchronous | undefined;
  let syncIntervalMs: number | undefined;
  for (const [name, value] of params) {
    if (name === "sync_interval_ms") {
      // Plain decimal digits only: Number() would also take "", "1e3" and "0x10".
      if (!/^\d{1,4}(\.\d+)?$/.test(value) || Number(value) > MAX_SYNC_INTERVAL_MS) {
        throw new Error(
          `invalid store "${url}": sync_interval_ms must be a number of milliseconds from 0 to ${MAX_SYNC_INTERVAL_MS}, not "${value}"`,
        );
      }
      syncIntervalMs = Number(value);
      continue;
    }
    if (name !== "synchronous") {
      throw new Error(
        `invalid store "${url}": unknown option "${name}" (supported: synchronous=${
          SYNCHRONOUS_MODES.join("|")
        }, sync_interval_ms=N)`,
      );
    }
    const mode = value.toLowerCase() as SqliteSynchronous;
    if (!SYNCHRONOUS_MODES.includes(mode)) {
      throw new Error(
        `invalid store "${url}": synchronous must be one of ${
          SYNCHRONOUS_MODES.join(", ")
        }, not "${value}"`,
      );
    }
    synchronous = mode;
  }
  return new SqliteKv({
    openSqlite: deps.openSqlite,
    startFlusher: deps.startSqliteFlusher,
    onForcedHoldRanOut: deps.onForcedHoldRanOut,
    path,
    synchronous,
    syncIntervalMs,
  });
}

/**
 * Open the store a URL names. Throws an Error whose message says what is wrong with the URL.
 * For unknown schemes only the scheme is echoed, since URLs of other stores may carry
 * credentials.
 */
export function openKv(url: string, deps: OpenKvDeps): Kv {
  if (typeof url !== "string") throw new TypeError("store URL must be a string");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  const opener = m ? STORES[m[1].toLowerCase()] : undefined;
  if (!m || !opener || !Object.hasOwn(STORES, m[1].toLowerCase())) {
    const shown = m ? `${m[1]}:…` : url;
    throw new Error(`unknown store "${shown}": supported are ${supported()}`);
  }
  return opener.open(url.slice(m[0].length), url, deps);
}
