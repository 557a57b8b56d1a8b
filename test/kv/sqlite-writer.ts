/**
 * A separate process writing to a shared SQLite KV file, for the multi-process test in
 * sqlite.test.ts (the CLI next to a running server). Not a test file itself.
 *
 *   <bun|deno run -A> test/kv/sqlite-writer.ts PATH NAME COUNT [START_AT_MS]
 *
 * Waits until START_AT_MS (epoch ms) so that concurrently spawned writers really overlap
 * despite different start-up times, then commits COUNT times (each: bump a shared counter and write [NAME, i]) and prints the
 * versionstamps it got as a JSON array.
 */
import process from "node:process";
import { SqliteKv } from "../../src/kv/sqlite.ts";
import { openSqliteForRuntime } from "../support/kv-backends.ts";

const [path, name, countText, startAtText] = process.argv.slice(2);
const count = Number(countText);
if (!path || !name || !Number.isInteger(count)) {
  console.error("usage: sqlite-writer.ts PATH NAME COUNT");
  process.exit(2);
}
const kv = new SqliteKv({ openSqlite: await openSqliteForRuntime(), path });
const startAt = Number(startAtText ?? 0);
if (startAt > Date.now()) await new Promise((r) => setTimeout(r, startAt - Date.now()));
const stamps: string[] = [];
for (let i = 0; i < count; i++) {
  const res = await kv.atomic().sum(["shared", "counter"], 1n).set([name, i], { by: name, i })
    .commit();
  if (!res.ok) throw new Error("unchecked commit failed");
  stamps.push(res.versionstamp);
  // Yield between commits as a server would between messages; a tight loop re-takes the
  // write lock before SQLite's busy handler in the other process wakes up, so nothing
  // would interleave.
  await new Promise((r) => setTimeout(r, 0));
}
await kv.close();
console.log(JSON.stringify(stamps));
