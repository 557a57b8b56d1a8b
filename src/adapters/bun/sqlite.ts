import { Database } from "bun:sqlite";
import type { OpenSqlite, SqliteDatabase, SqliteStatement, SqliteValue } from "../../platform.ts";

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
