/**
 * openStore, the CLI's door to the configured store: for the server it starts SQLite's
 * flusher threads and logs a disk too slow for a WAL restart.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../../src/cli/open-store.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { LogFields, Logger } from "../../src/log.ts";
import { tempSqliteFile } from "../support/kv-backends.ts";
import { platform } from "../support/platform.ts";
import { catchUp, ScriptedThread } from "../support/scripted-flusher.ts";

/** A logger that keeps its warnings. */
function warnings(): { log: Logger; warned: { msg: string; fields?: LogFields }[] } {
  const warned: { msg: string; fields?: LogFields }[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn(msg, fields) {
      warned.push({ msg, fields });
    },
    error() {},
  };
  return { log, warned };
}

describe("openStore", () => {
  it("for the server, logs a WAL restart whose forced hold ran out (a slow disk)", async () => {
    const file = tempSqliteFile();
    const thread = new ScriptedThread();
    const { log, warned } = warnings();
    const config = loadConfig({
      argv: ["--store", `sqlite:${file.path}?synchronous=normal`],
      env: {},
    });
    const kv = openStore(config, { ...platform, startSqliteFlusher: () => thread }, { log });
    try {
      await kv.set(["k"], "before");
      // A WAL past the size bound (4 x 8192 pages by default): a forced restart, which the
      // scripted thread never finishes.
      thread.checkpointed(0, 40_000);
      catchUp(thread, 40_010);
      const started = performance.now();
      assert.ok((await kv.set(["k"], "held")).ok);
      assert.ok(performance.now() - started >= 240, "held up to the default 250 ms");
      assert.equal(warned.length, 1, JSON.stringify(warned));
      assert.match(warned[0].msg, /disk slow/);
      const fields = warned[0].fields ?? {};
      assert.ok(Number(fields.heldMs) >= 240, JSON.stringify(fields));
      assert.equal(fields.walPages, 40_010);
      assert.equal(fields.nextTryMs, 1000);
    } finally {
      await kv.close();
      file.remove();
    }
  });

  it("for a one-shot command, starts no flusher", async () => {
    const file = tempSqliteFile();
    let started = 0;
    const config = loadConfig({ argv: ["--store", `sqlite:${file.path}`], env: {} });
    const kv = openStore(config, {
      ...platform,
      startSqliteFlusher: () => {
        started++;
        return new ScriptedThread();
      },
    });
    try {
      await kv.set(["k"], "v");
      assert.equal(started, 0);
      assert.equal(kv.storeStats?.()?.flusherUp ?? false, false);
    } finally {
      await kv.close();
      file.remove();
    }
  });
});
