/**
 * The durable null relay's store (scripts/relay-floor-store.ts): the benchmark's lower
 * bound for a server that stores messages is only a bound if every chunk really is
 * committed, one transaction per turn, before it is forwarded.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { platform } from "../support/platform.ts";
import { storeThenDeliver } from "../../scripts/relay-floor-store.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("relay floor store", () => {
  it("commits a turn's chunks in one transaction, then delivers them in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "relay-floor-"));
    const path = join(dir, "floor.db");
    try {
      // A previous run's files are replaced, not appended to.
      writeFileSync(path, "not a database");
      const reader = { db: null as ReturnType<typeof platform.openSqlite> | null };
      const delivered: { to: string; body: string; storedThen: number }[] = [];
      const store = storeThenDeliver<string>(platform.openSqlite, path, (to, body) => {
        // Another connection sees the row at delivery time: it was committed first.
        reader.db ??= platform.openSqlite(path);
        const row = reader.db.prepare("SELECT count(*) AS n FROM messages").get();
        delivered.push({ to, body: new TextDecoder().decode(body), storedThen: Number(row?.n) });
      });
      store("bob", "conv-a", bytes("one"));
      store("carol", "conv-b", bytes("two"));
      store("bob", "conv-a", bytes("three"));
      assert.deepEqual(delivered, [], "nothing is delivered before the end of the turn");
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(delivered, [
        { to: "bob", body: "one", storedThen: 3 },
        { to: "carol", body: "two", storedThen: 3 },
        { to: "bob", body: "three", storedThen: 3 },
      ]);
      store("carol", "conv-b", bytes("four"));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(delivered[3], { to: "carol", body: "four", storedThen: 4 });
      const rows = (reader.db as NonNullable<typeof reader.db>)
        .prepare("SELECT conversation, seq, body FROM messages ORDER BY seq").all();
      assert.deepEqual(
        rows.map((r) => [r.conversation, r.seq, new TextDecoder().decode(r.body as Uint8Array)]),
        [["conv-a", 1, "one"], ["conv-b", 2, "two"], ["conv-a", 3, "three"], [
          "conv-b",
          4,
          "four",
        ]],
      );
      reader.db?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
