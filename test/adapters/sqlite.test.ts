import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { platform } from "../support/platform.ts";

/** Own enumerable keys and values of a row, whatever its prototype. */
const plain = (row: Record<string, unknown> | undefined) =>
  row === undefined ? undefined : Object.fromEntries(Object.entries(row));

describe(`SQLite adapter (${platform.runtime})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "solec-sqlite-adapter-"));
  const db = platform.openSqlite(join(dir, "t.db"));
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  db.exec("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB, n INTEGER, s TEXT)");
  const insert = db.prepare("INSERT INTO t (k, v, n, s) VALUES (?, ?, ?, ?)");
  insert.run(new Uint8Array([1]), new Uint8Array([10, 11]), 5, "five");
  insert.run(new Uint8Array([2]), null, -7, "seven");

  it("gets one row keyed by column name, the same statement many times", () => {
    const get = db.prepare("SELECT v, n, s FROM t WHERE k = ?");
    for (let i = 0; i < 3; i++) {
      const row = get.get(new Uint8Array([1]));
      assert.ok(row !== undefined);
      assert.deepEqual(Object.keys(row), ["v", "n", "s"]);
      assert.ok(row.v instanceof Uint8Array);
      assert.deepEqual([...(row.v as Uint8Array)], [10, 11]);
      assert.equal(row.n, 5);
      assert.equal(row.s, "five");
    }
    assert.deepEqual(plain(get.get(new Uint8Array([2]))), { v: null, n: -7, s: "seven" });
  });

  it("gets undefined when there is no row, and an empty list from all()", () => {
    assert.equal(db.prepare("SELECT n FROM t WHERE k = ?").get(new Uint8Array([9])), undefined);
    assert.deepEqual(db.prepare("SELECT n FROM t WHERE k = ?").all(new Uint8Array([9])), []);
  });

  it("lists every row in order with all()", () => {
    const rows = db.prepare("SELECT n, s FROM t ORDER BY k").all();
    assert.deepEqual(rows.map(plain), [{ n: 5, s: "five" }, { n: -7, s: "seven" }]);
  });

  it("names a PRAGMA's columns and an expression's alias", () => {
    const version = db.prepare("PRAGMA data_version").get();
    assert.equal(typeof version?.data_version, "number");
    assert.deepEqual(plain(db.prepare("SELECT 1 + 1 AS two, 'x' AS x").get()), { two: 2, x: "x" });
  });
});
