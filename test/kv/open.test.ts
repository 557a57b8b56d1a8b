import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MemoryKv } from "../../src/kv/memory.ts";
import { openKv } from "../../src/kv/open.ts";
import { SqliteKv } from "../../src/kv/sqlite.ts";
import { openSqliteForRuntime, tempSqliteFile } from "../support/kv-backends.ts";

const deps = { openSqlite: await openSqliteForRuntime() };

describe("openKv", () => {
  it("memory: opens a MemoryKv", async () => {
    const kv = openKv("memory:", deps);
    assert.ok(kv instanceof MemoryKv);
    assert.deepStrictEqual(kv.capabilities, { durable: false, sharedAcrossProcesses: false });
    await kv.close();
  });

  it("sqlite:PATH opens a SqliteKv on that file, with or without //", async () => {
    const file = tempSqliteFile();
    try {
      for (
        const url of [
          `sqlite:${file.path}`,
          `sqlite://${file.path}`,
          `SQLite:${file.path}?synchronous=normal`,
        ]
      ) {
        const kv = openKv(url, deps);
        assert.ok(kv instanceof SqliteKv, url);
        assert.deepStrictEqual(kv.capabilities, { durable: true, sharedAcrossProcesses: true });
        await kv.set(["url"], url);
        await kv.close();
      }
      assert.ok(existsSync(file.path));
      const kv = openKv(`sqlite:${file.path}?synchronous=off`, deps);
      assert.equal((await kv.get(["url"])).value, `SQLite:${file.path}?synchronous=normal`);
      await kv.close();
    } finally {
      file.remove();
    }
  });

  it("names the problem for unknown schemes without echoing the rest of the URL", () => {
    assert.throws(
      () => openKv("redis://user:secret@host:6379", deps),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.message, 'unknown store "redis:…": supported are memory: and sqlite:PATH');
        return true;
      },
    );
    assert.throws(
      () => openKv("./solec.db", deps),
      /unknown store "\.\/solec\.db": supported are memory: and sqlite:PATH/,
    );
    assert.throws(() => openKv("constructor:x", deps), /unknown store/);
  });

  it("names bad sqlite options and paths", () => {
    const file = tempSqliteFile();
    try {
      const p = join(file.dir, "never.db");
      assert.throws(
        () => openKv(`sqlite:${p}?synchronous=sometimes`, deps),
        /synchronous must be one of normal, full, off, not "sometimes"/,
      );
      assert.throws(() => openKv(`sqlite:${p}?cache=big`, deps), /unknown option "cache"/);
      assert.throws(() => openKv("sqlite:", deps), /needs a file path/);
      assert.throws(() => openKv("sqlite:?synchronous=full", deps), /needs a file path/);
      assert.throws(() => openKv("memory:extra", deps), /memory: takes no path or options/);
      assert.ok(!existsSync(p), "no file is created for a rejected URL");
    } finally {
      file.remove();
    }
  });
});
