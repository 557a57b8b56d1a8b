/**
 * Robustness, quick version of scripts/soak-slowreader.ts: a logged-in
 * client stops reading while messages keep coming for it. The server drops
 * it once its unsent output passes the bound; every acknowledged message is
 * in history exactly once; what came after the drop waits in the inbox and
 * is delivered at the next login; other users are served throughout.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { conversation, inboxOf } from "../../src/store/mod.ts";
import { startServer } from "../support/server.ts";
import { LoadWriter } from "../support/load.ts";
import { checkAcked, contentsUnder } from "../support/store-check.ts";
import { sleep } from "../support/soak-kit.ts";
import { WireClient } from "../support/wire-client.ts";

describe("slow reader", () => {
  it("drops a client that never reads, loses nothing acknowledged, and nobody else waits", async () => {
    const t = await startServer({ rateLimit: 0 }); // maxOutputBytes: the default 1 MiB;
    try {
      const [alice, bob, carol, dave] = await Promise.all(
        ["alice", "bob", "carol", "dave"].map((n) => t.addUser(n)),
      );
      await t.contacts(alice, bob);
      await t.contacts(carol, dave);
      const stuck = await WireClient.login(t.port, bob, "pw-bob");
      stuck.pauseReading();
      const d = await WireClient.login(t.port, dave, "pw-dave", { keep: 100_000 });
      const c = await WireClient.login(t.port, carol, "pw-carol");

      const load = await LoadWriter.open({
        port: t.port,
        user: alice,
        password: "pw-alice",
        target: bob,
        prefix: "m",
        tsBase: 1_767_225_600_000,
        window: 64,
        size: 500, // inbox batches (500) stay well under the output bound; see docs/robustness.md
        max: 60_000,
      });
      load.start();
      // The bystanders talk meanwhile: every message acknowledged and delivered.
      let n = 0, dropAt = -1;
      const deadline = performance.now() + 30_000;
      while (performance.now() < deadline) {
        c.write({
          type: 0x05,
          source: carol,
          target: dave,
          timestamp: 1_767_225_600_000 + n,
          content: `c${n++}`,
        });
        assert.deepEqual(await c.next(5000), { type: 0x01 });
        if (dropAt < 0 && t.server.metrics.slowConsumerDrops > 0) dropAt = load.acked.length;
        // Keep going a while after the drop: those messages go to bob's inbox.
        if (dropAt >= 0 && load.acked.length > dropAt + 2000) break;
        if (load.sent >= 60_000 && load.outstanding === 0) break;
        await sleep(5);
      }
      await load.stop();
      assert.equal(t.server.metrics.slowConsumerDrops, 1, `dropped (after ${dropAt} messages)`);
      assert.equal(t.server.registry.isOnline(bob), false);
      const fromCarol: string[] = [];
      for (let k = 0; k < 100 && fromCarol.length < n; k++) {
        await d.waitActivity(50);
        for (const p of d.frames.splice(0)) if (p.type === 0x05) fromCarol.push(p.content);
      }
      assert.deepEqual(fromCarol, Array.from({ length: n }, (_, i) => `c${i}`));

      // Nothing acknowledged is lost: all in history, once.
      const hist = await contentsUnder(t.dir, conversation(alice, bob));
      const check = checkAcked(load.acked, hist);
      assert.equal(check.lost, 0, String(check.examples));
      assert.equal(check.duplicated, 0, String(check.examples));
      // What arrived after the drop is in the inbox and comes with bob's next login.
      const inbox = await contentsUnder(t.dir, inboxOf(bob));
      assert.ok(inbox.size >= 2000, `inbox holds ${inbox.size}`);
      stuck.close();
      const again = await WireClient.login(t.port, bob, "pw-bob", { keep: 1_000_000 });
      const got = new Map<string, number>();
      for (let k = 0; k < 200 && got.size < inbox.size; k++) {
        await again.waitActivity(50);
        for (const p of again.frames.splice(0)) {
          if (p.type === 0x05) {
            got.set(p.content.trimEnd(), (got.get(p.content.trimEnd()) ?? 0) + 1);
          }
        }
      }
      assert.deepEqual(got, inbox);
      for (let k = 0; k < 50 && (await contentsUnder(t.dir, inboxOf(bob))).size > 0; k++) {
        await sleep(20);
      }
      assert.equal((await contentsUnder(t.dir, inboxOf(bob))).size, 0, "inbox emptied");
      console.log(
        `slow reader: dropped after ${dropAt} acknowledged messages; ${load.acked.length} acknowledged, ` +
          `${check.stored} in history, ${inbox.size} delivered from the inbox; bystander ${n} messages`,
      );
      again.close();
      c.close();
      d.close();
    } finally {
      await t.cleanup();
    }
  });
});
