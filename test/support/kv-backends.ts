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
