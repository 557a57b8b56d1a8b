import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../../src/adapters/runtime.ts";
import { SqliteKv } from "../../src/kv/sqlite.ts";
import type { SqliteKvOptions } from "../../src/kv/sqlite.ts";
import { openSqliteForRuntime, sqliteHarness, withSqliteFile } from "../support/kv-backends.ts";
import { kvConformance } from "./conformance.ts";

const openSqlite = await openSqliteForRuntime();

kvConformance("SqliteKv", () => sqliteHarness({ openSqlite }));

/** Run `fn` with a temp database path; the files are removed afterwards. */
function withFile(
  fn: (path: string, opened: (o?: Partial<SqliteKvOptions>) => SqliteKv) => Promise<void>,
): Promise<void> {
  return withSqliteFile({ openSqlite }, fn);
}

function runWriter(path: string, name: string, count: number, startAt: number): Promise<string[]> {
  const script = fileURLToPath(new URL("./sqlite-writer.ts", import.meta.url));
  const args = detectRuntime() === "deno"
    ? ["run", "-A", "--quiet", script, path, name, String(count), String(startAt)]
    : [script, path, name, String(count), String(startAt)];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`writer ${name} failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(String(stdout)) as string[]);
    });
  });
}

describe("SqliteKv on disk", () => {
  it("creates the documented schema in WAL mode", () =>
    withFile(async (path, opened) => {
      const kv = opened();
      await kv.set(["a"], 1);
      await kv.atomic().set(["b"], 2).set(["c"], 3).commit();
      const db = openSqlite(path);
      try {
        assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
        const cols = db.prepare("SELECT name, type, pk FROM pragma_table_info('kv') ORDER BY cid")
          .all();
        assert.deepStrictEqual(
          cols.map((c) => [c.name, c.type, c.pk]),
          [["k", "BLOB", 1], ["v", "BLOB", 0], ["vs", "INTEGER", 0]],
        );
        // The end of the block of commit numbers the handle reserved.
        const version = db.prepare("SELECT value FROM kv_meta WHERE name = 'version'").get();
        assert.ok(Number(version?.value) >= 2, `version row ${version?.value}`);
        const rows = db.prepare("SELECT vs FROM kv ORDER BY k").all();
        assert.deepStrictEqual(rows.map((r) => r.vs), [1, 2, 2]);
      } finally {
        db.close();
      }
    }));

  it("accepts every synchronous mode", () =>
    withFile(async (_path, opened) => {
      for (const synchronous of ["full", "normal", "off"] as const) {
        const kv = opened({ synchronous });
        await kv.set(["mode", synchronous], true);
        await kv.close();
      }
      const kv = opened();
      assert.equal(
        (await kv.getMany([["mode", "full"], ["mode", "normal"], ["mode", "off"]])).length,
        3,
      );
      assert.throws(() => opened({ synchronous: "sometimes" as "full" }), TypeError);
    }));

  it("tells onApplied before commit() returns: final unless a sync to disk is still due", () =>
    withFile(async (_path, opened) => {
      for (const [synchronous, final] of [["full", false], ["normal", true]] as const) {
        const kv = opened({ synchronous });
        const heard: boolean[] = [];
        const promise = kv.atomic().set(["k", synchronous], 1).commit({
          onApplied: (_r, f) => heard.push(f),
        });
        assert.deepStrictEqual(heard, [final], `synchronous=${synchronous}`);
        assert.ok((await promise).ok);
        assert.deepStrictEqual(heard, [final]);
        await kv.close();
      }
    }));

  it("refuses a file whose schema version it does not know", () =>
    withFile(async (path, opened) => {
      await opened().close();
      const db = openSqlite(path);
      db.exec("UPDATE kv_meta SET value = 99 WHERE name = 'schema'");
      db.close();
      assert.throws(() => opened(), /schema version 99/);
    }));

  it("data survives close and reopen, and versionstamps continue from the file", () =>
    withFile(async (_path, opened) => {
      const first = opened();
      const a = await first.set(["msg", 1], { text: "persisted", raw: new Uint8Array([1, 2]) });
      await first.close();
      const second = opened();
      assert.deepStrictEqual(await second.get(["msg", 1]), {
        key: ["msg", 1],
        value: { text: "persisted", raw: new Uint8Array([1, 2]) },
        versionstamp: a.versionstamp,
      });
      assert.ok((await second.set(["msg", 2], 1)).versionstamp > a.versionstamp);
    }));

  it("two handles on one file (CLI + server) share data, order and conflicts", () =>
    withFile(async (_path, opened) => {
      const server = opened();
      const cli = opened();
      const s1 = await server.set(["user", "ada"], { role: "user" });
      const c1 = await cli.set(["user", "bob"], { role: "user" });
      assert.ok(c1.versionstamp > s1.versionstamp);
      const seen = await cli.get(["user", "ada"]);
      assert.equal(seen.versionstamp, s1.versionstamp);
      // The server changes the entry after the CLI read it: the CLI's checked write must fail.
      await server.set(["user", "ada"], { role: "user", away: true });
      assert.deepStrictEqual(
        await cli.atomic().check(seen).set(["user", "ada"], { role: "admin" }).commit(),
        {
          ok: false,
        },
      );
      assert.deepStrictEqual((await server.get(["user", "ada"])).value, {
        role: "user",
        away: true,
      });
      // Each handle hands out numbers from its own reserved block; interleaved commits
      // still get increasing versionstamps in commit order.
      let last = (await server.set(["order", 0], 0)).versionstamp;
      for (let i = 1; i <= 12; i++) {
        const handle = i % 3 === 0 ? server : cli;
        const { versionstamp } = await handle.set(["order", i], i);
        assert.ok(versionstamp > last, `commit ${i}: ${versionstamp} after ${last}`);
        last = versionstamp;
      }
    }));

  it("separate processes writing the same file never share a versionstamp", () =>
    withFile(async (path, opened) => {
      const kv = opened();
      await kv.set(["shared", "counter"], 0n);
      const perWriter = 200;
      // A common start time, so the writers overlap rather than run one after the other.
      const startAt = Date.now() + 1500;
      const children = [
        runWriter(path, "w1", perWriter, startAt),
        runWriter(path, "w2", perWriter, startAt),
      ];
      const mine: string[] = [];
      let settled = false;
      const all = Promise.all(children).finally(() => (settled = true));
      // Keep committing from this process while the children run.
      await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
      for (let i = 0; !settled || i < 20; i++) {
        const res = await kv.atomic().sum(["shared", "counter"], 1n).set(["parent", i], i).commit();
        assert.ok(res.ok);
        mine.push(res.versionstamp);
        await new Promise((r) => setTimeout(r, 1));
      }
      const [w1, w2] = await all;
      const stamps = [...mine, ...w1, ...w2];
      assert.equal(
        new Set(stamps).size,
        stamps.length,
        "versionstamps are unique across processes",
      );
      for (const list of [mine, w1, w2]) {
        for (let i = 1; i < list.length; i++) assert.ok(list[i] > list[i - 1]);
      }
      assert.equal((await kv.get(["shared", "counter"])).value, BigInt(stamps.length));
      for (const name of ["w1", "w2"]) {
        let n = 0;
        for await (const _ of kv.list({ prefix: [name] })) n++;
        assert.equal(n, perWriter);
      }
    }));
});
