import { DatabaseSync } from "node:sqlite";
import type { OpenSqlite, SqliteDatabase, SqliteStatement, SqliteValue } from "../../platform.ts";
import { type StartSqliteFlusher, workerThread } from "../../kv/sqlite-flusher.ts";

/** SQLite through Deno's built-in `node:sqlite`, narrowed to `SqliteDatabase`. */
export const openSqlite: OpenSqlite = (path: string): SqliteDatabase => {
  const db = new DatabaseSync(path);
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql): SqliteStatement {
      const stmt = db.prepare(sql);
      return {
        run: (...params: SqliteValue[]) => void stmt.run(...params),
        all: (...params: SqliteValue[]) => stmt.all(...params) as Record<string, unknown>[],
        get: (...params: SqliteValue[]) =>
          stmt.get(...params) as Record<string, unknown> | undefined,
      };
    },
    close: () => db.close(),
  };
};

/** A thread of the store's flusher; its entry must be in the single binary (see package.json). */
export const startSqliteFlusher: StartSqliteFlusher = () =>
  workerThread(new URL("./sqlite-flusher.ts", import.meta.url));
