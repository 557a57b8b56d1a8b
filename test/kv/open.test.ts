import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MemoryKv } from "../../src/kv/memory.ts";
import { openKv } from "../../src/kv/open.ts";
import { SqliteKv } from "../../src/kv/sqlite.ts";
import {
  openSqliteForRuntime,
  startFlusherForRuntime,
  tempSqliteFile,
} from "../support/kv-backends.ts";

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

  it("sqlite:PATH?sync_interval_ms=N spaces the flusher's fsyncs N ms apart", async () => {
    const file = tempSqliteFile();
    const withFlusher = { ...deps, startSqliteFlusher: await startFlusherForRuntime() };
    try {
      const kv = openKv(`sqlite:${file.path}?synchronous=full&sync_interval_ms=300`, withFlusher);
      await kv.set(["a"], 1);
      // The second commit's fsync may start only 300 ms after the first one did.
      const started = performance.now();
      await kv.set(["b"], 2);
      const waited = performance.now() - started;
      await kv.close();
      assert.ok(waited >= 200, `acknowledged after ${waited} ms`);
      // Fractions of a millisecond are allowed too.
      const again = openKv(`sqlite:${file.path}?sync_interval_ms=0.5`, withFlusher);
      assert.equal((await again.get(["b"])).value, 2);
      await again.close();
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
      for (const bad of ["", "-1", "2ms", "1001", "1e3", "NaN"]) {
        assert.throws(
          () => openKv(`sqlite:${p}?sync_interval_ms=${bad}`, deps),
          new RegExp(
            `sync_interval_ms must be a number of milliseconds from 0 to 1000, not "${bad}"`,
          ),
          bad,
        );
      }
      assert.throws(() => openKv("sqlite:", deps), /needs a file path/);
      assert.throws(() => openKv("sqlite:?synchronous=full", deps), /needs a file path/);
      assert.throws(() => openKv("memory:extra", deps), /memory: takes no path or options/);
      assert.ok(!existsSync(p), "no file is created for a rejected URL");
    } finally {
      file.remove();
    }
  });
});
