/**
 * After a restart, a server must still deliver the messages of remote
 * channels its users joined before the restart: b.test's user is a member
 * of #room@a.test; b.test restarts; a message posted on a.test reaches him.
 *
 * Regression test for finding 4 of docs/robustness.md: b.test kept the local
 * members of remote channels in a map filled lazily and never from the
 * store at start, so after a restart the home's fan-out was acknowledged
 * and dropped.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HERE,
  identityOf,
  provision,
  type RuntimeName,
  ServerProcess,
  withStore,
} from "../support/server-process.ts";
import { Peers } from "../../src/federation/peers.ts";
import { sleep, tempDir } from "../support/soak-kit.ts";
import { WireClient } from "../support/wire-client.ts";

const OTHER: RuntimeName = HERE === "bun" ? "deno" : "bun";
const ROOM = "#room@a.test";

async function trust(dir: string, domain: string, peerDir: string, port: number): Promise<void> {
  const key = (await identityOf(peerDir)).publicKeyBase64;
  await withStore(
    dir,
    (s) =>
      new Peers(s.kv).set({ domain, publicKey: key, address: `127.0.0.1:${port}`, tls: false }),
  );
}

async function nextMessage(c: WireClient, ms: number): Promise<string | null> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const p = await c.next(Math.max(1, deadline - performance.now())).catch(() => null);
    if (p === null) return null;
    if (p.type === 0x05) return p.content;
  }
  return null;
}

describe(`remote channel members after a restart: a.test (${HERE}) home, b.test (${OTHER})`, () => {
  const ta = tempDir("rc-a");
  const tb = tempDir("rc-b");
  let A: ServerProcess | null = null;
  let B: ServerProcess | null = null;

  after(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    ta.remove();
    tb.remove();
  });

  it(
    "delivers a remote channel's messages to members who joined before the restart",
    async () => {
      await provision(ta.dir, { users: [["ann@a.test", "pw"]] });
      await provision(tb.dir, { users: [["ben@b.test", "pw"]] });
      A = await ServerProcess.start({ runtime: HERE, dir: ta.dir, domain: "a.test" });
      B = await ServerProcess.start({ runtime: OTHER, dir: tb.dir, domain: "b.test" });
      await trust(ta.dir, "b.test", tb.dir, B.port);
      await trust(tb.dir, "a.test", ta.dir, A.port);
      const a = A;
      const ann = await WireClient.login(a.port, "ann@a.test", "pw");
      ann.write({ type: 0x07, user: "ann@a.test", channel: ROOM, mode: 1 });
      assert.deepEqual(await ann.next(5000), { type: 0x01 });
      let ben = await WireClient.login((B as ServerProcess).port, "ben@b.test", "pw");
      ben.write({ type: 0x07, user: "ben@b.test", channel: ROOM, mode: 1 });
      assert.deepEqual(await ben.next(10_000), { type: 0x01 });
      ann.write({
        type: 0x05,
        source: "ann@a.test",
        target: ROOM,
        timestamp: 1_767_225_600_000,
        content: "before",
      });
      assert.deepEqual(await ann.next(5000), { type: 0x01 });
      assert.equal(await nextMessage(ben, 10_000), "before");
      ben.close();

      // b.test restarts (cleanly) on the same port; ben logs in again.
      const port = (B as ServerProcess).port;
      assert.equal(await (B as ServerProcess).stop(), 0);
      B = await ServerProcess.start({ runtime: OTHER, dir: tb.dir, domain: "b.test", port });
      ben = await WireClient.login(B.port, "ben@b.test", "pw");
      await sleep(200);
      ann.write({
        type: 0x05,
        source: "ann@a.test",
        target: ROOM,
        timestamp: 1_767_225_601_000,
        content: "after",
      });
      assert.deepEqual(await ann.next(5000), { type: 0x01 });
      assert.equal(await nextMessage(ben, 10_000), "after");
      ben.close();
      ann.close();
    },
  );
});
