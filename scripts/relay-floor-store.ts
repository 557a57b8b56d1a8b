/**
 * The store half of the durable null relays (`relay-floor-{bun,deno}.ts PORT SQLITE_PATH`):
 * what any server that writes each message into SQLite before delivering it pays at the
 * least. Every chunk a relay reads in one turn of the event loop becomes one row, the
 * turn's rows are committed in one transaction at the end of the turn, and only then are
 * the chunks forwarded: solec's group commit with nothing else around it (no protocol,
 * no acknowledgement, no keys to build).
 *
 * It is a lower bound, not a model of solec: the WAL is never checkpointed and never
 * fsynced during the run (`wal_autocheckpoint = 0`, `synchronous = NORMAL`, which in WAL
 * mode syncs only at checkpoints), so it grows by the run's whole traffic (~8 KB a
 * message at 5,000 msg/s, when most transactions hold one row) and the file is removed
 * when the relay starts. solec checkpoints and fsyncs on a second thread on the same core.
 */
import type { OpenSqlite } from "../src/platform.ts";
import { rmSync } from "node:fs";
import { setImmediate } from "node:timers";

/** Stores `bytes` for `target`; `deliver(target, bytes)` runs once its row is committed. */
export type StoreThenDeliver<T> = (target: T, conversation: string, bytes: Uint8Array) => void;

/** A fresh database at `path` (a previous run's files are removed first). */
export function storeThenDeliver<T>(
  openSqlite: OpenSqlite,
  path: string,
  deliver: (target: T, bytes: Uint8Array) => void,
): StoreThenDeliver<T> {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  const db = openSqlite(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA wal_autocheckpoint = 0");
  db.exec(
    "CREATE TABLE IF NOT EXISTS messages (conversation TEXT, seq INTEGER, body BLOB, " +
      "PRIMARY KEY (conversation, seq)) WITHOUT ROWID",
  );
  const insert = db.prepare("INSERT INTO messages VALUES (?, ?, ?)");
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  let seq = 0;
  let targets: T[] = [];
  let conversations: string[] = [];
  let rows: Uint8Array[] = [];

  function commitTurn(): void {
    const to = targets;
    const convs = conversations;
    const bodies = rows;
    targets = [];
    conversations = [];
    rows = [];
    begin.run();
    for (let i = 0; i < bodies.length; i++) insert.run(convs[i], ++seq, bodies[i]);
    commit.run();
    for (let i = 0; i < bodies.length; i++) deliver(to[i], bodies[i]);
  }

  return (target, conversation, bytes) => {
    if (rows.length === 0) setImmediate(commitTurn);
    targets.push(target);
    conversations.push(conversation);
    rows.push(bytes);
  };
}
