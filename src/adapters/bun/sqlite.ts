import { Database } from "bun:sqlite";
import type { OpenSqlite, SqliteDatabase, SqliteStatement, SqliteValue } from "../../platform.ts";
import { type StartSqliteFlusher, workerThread } from "../../kv/sqlite-flusher.ts";

/** SQLite through `bun:sqlite`, narrowed to the core's `SqliteDatabase`. */
export const openSqlite: OpenSqlite = (path: string): SqliteDatabase => {
  const db = new Database(path, { create: true, strict: true });
  return {
    exec: (sql) => void db.run(sql),
    prepare(sql): SqliteStatement {
      const stmt = db.prepare(sql);
      return {
        run: (...params: SqliteValue[]) => void stmt.run(...params),
        all: (...params: SqliteValue[]) => stmt.all(...params) as Record<string, unknown>[],
        // bun:sqlite answers null for "no row"; the contract says undefined.
        get: (...params: SqliteValue[]) =>
          (stmt.get(...params) as Record<string, unknown> | null) ?? undefined,
      };
    },
    close: () => db.close(),
  };
};

/**
 * A thread of the store's flusher. In a single binary every module's `import.meta.url` is the
 * binary's own (`…/$bunfs/root/…`) and the worker entry, built in as a second entry point
 * (package.json `compile:bun`), is stored under its path relative to `src/`.
 */
const flusherEntry = import.meta.url.includes("/$bunfs/")
  ? new URL("./adapters/bun/sqlite-flusher.js", import.meta.url)
  : new URL("./sqlite-flusher.ts", import.meta.url);

export const startSqliteFlusher: StartSqliteFlusher = () => workerThread(flusherEntry);
