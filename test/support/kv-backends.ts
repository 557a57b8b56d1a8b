/**
 * Picks the running runtime's SQLite adapter for tests and scripts, and makes throwaway
 * SQLite files.
 *
 * The adapter is imported through a computed specifier on purpose: with a literal one,
 * `deno check`/`deno test` would type-check `src/adapters/bun/sqlite.ts`, which imports
 * `bun:sqlite` and cannot resolve under Deno.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectRuntime } from "../../src/adapters/runtime.ts";
import type { OpenSqlite } from "../../src/platform.ts";
import type { StartSqliteFlusher } from "../../src/kv/sqlite-flusher.ts";
import type { Kv } from "../../src/kv/kv.ts";
import { SqliteKv, type SqliteKvOptions } from "../../src/kv/sqlite.ts";
import type { KvHarness } from "../kv/conformance.ts";

let cached: Promise<OpenSqlite> | undefined;

/** The current runtime's `openSqlite` (bun:sqlite on Bun, node:sqlite on Deno). */
export function openSqliteForRuntime(): Promise<OpenSqlite> {
  cached ??= (async () => {
    const spec = "../../src/adapters/" + detectRuntime() + "/sqlite.ts";
    const mod: { openSqlite?: unknown } = await import(spec);
    if (typeof mod.openSqlite !== "function") throw new Error(`${spec} exports no openSqlite`);
    return mod.openSqlite as OpenSqlite;
  })();
  return cached;
}

/** The current runtime's SQLite flusher thread (see src/kv/sqlite-flusher.ts). */
export async function startFlusherForRuntime(): Promise<StartSqliteFlusher> {
  const spec = "../../src/adapters/" + detectRuntime() + "/sqlite.ts";
  const mod: { startSqliteFlusher?: unknown } = await import(spec);
  if (typeof mod.startSqliteFlusher !== "function") {
    throw new Error(`${spec} exports no startSqliteFlusher`);
  }
  return mod.startSqliteFlusher as StartSqliteFlusher;
}

/** A fresh temporary directory with a database path inside; `remove()` deletes it all. */
export function tempSqliteFile(label = "solec-kv"): { dir: string; path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  return {
    dir,
    path: join(dir, "kv.db"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Options of `SqliteKv` other than the file. */
export type SqliteTestOptions = Omit<SqliteKvOptions, "path">;

/**
 * A temp SQLite file and a way to open handles on it (`open(extra)` adds to `options`);
 * every handle is closed and the file deleted once `fn` ends.
 */
export async function withSqliteFile(
  options: SqliteTestOptions,
  fn: (path: string, open: (extra?: Partial<SqliteTestOptions>) => SqliteKv) => Promise<void>,
): Promise<void> {
  const file = tempSqliteFile();
  const handles: SqliteKv[] = [];
  const open = (extra: Partial<SqliteTestOptions> = {}) => {
    const kv = new SqliteKv({ ...options, ...extra, path: file.path });
    handles.push(kv);
    return kv;
  };
  try {
    await fn(file.path, open);
  } finally {
    for (const h of handles) await h.close();
    file.remove();
  }
}

/** The conformance suite's harness over a temp SQLite file, every handle opened with `options`. */
export function sqliteHarness(options: SqliteTestOptions): Promise<KvHarness> {
  const file = tempSqliteFile();
  const handles: Kv[] = [];
  const open = () => {
    const kv = new SqliteKv({ ...options, path: file.path });
    handles.push(kv);
    return kv;
  };
  const kv = open();
  return Promise.resolve({
    kv,
    async reopen() {
      await kv.close();
      return open();
    },
    openAnother: () => Promise.resolve(open()),
    async cleanup() {
      for (const h of handles) await h.close();
      file.remove();
    },
  });
}
