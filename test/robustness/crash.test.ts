/**
 * Robustness, quick version of scripts/soak-crash.ts: `solec serve` (a
 * child process on this runtime) is killed with SIGKILL in the middle of
 * sustained message load. After a restart, every message a client got
 * Success for is in the store exactly once (direct and channel history,
 * and the offline inbox written in the same commit); the server serves on.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { conversation } from "../../src/store/mod.ts";
import { HERE, provision, ServerProcess } from "../support/server-process.ts";
import { LoadWriter, totals } from "../support/load.ts";
import { checkAcked, contentsUnder, historyOf, inboxContents } from "../support/store-check.ts";
import { sleep, tempDir } from "../support/soak-kit.ts";
import { WireClient } from "../support/wire-client.ts";

const D = "a.test";
const SINK = `sink@${D}`;
const CHANNEL = `#load@${D}`;
const WRITERS = 4;

describe(`crash safety (${HERE})`, () => {
  const tmp = tempDir("crash");
  let server: ServerProcess | null = null;
  const writers = Array.from({ length: WRITERS }, (_, i) => `w${i}@${D}`);

  before(async () => {
    await provision(tmp.dir, {
      users: [...writers, SINK].map((u) => [u, "pw"] as const),
      contacts: writers.map((w) => [w, SINK] as const),
    });
  });

  after(async () => {
    await server?.stop();
    tmp.remove();
  });

  it("keeps every acknowledged message exactly once across a kill -9 under load", async () => {
    server = await ServerProcess.start({
      runtime: HERE,
      dir: tmp.dir,
      domain: D,
      args: ["--rate-limit", "0"],
    });
    // Half the writers post to a channel (they join it first), half send direct messages.
    for (const w of writers.slice(WRITERS / 2)) {
      const c = await WireClient.login(server.port, w, "pw");
      c.write({ type: 0x07, user: w, channel: CHANNEL, mode: 1 });
      assert.deepEqual(await c.next(5000), { type: 0x01 });
      c.close();
    }
    const load = await Promise.all(writers.map((w, i) =>
      LoadWriter.open({
        port: (server as ServerProcess).port,
        user: w,
        password: "pw",
        target: i < WRITERS / 2 ? SINK : CHANNEL,
        prefix: `${w} `,
        tsBase: 1_767_225_600_000 + i * 10_000_000,
        window: 32,
      })
    ));
    for (const w of load) w.start();
    await sleep(1500 + Math.random() * 1000);
    await server.crash();
    assert.equal(server.exitSignal, "SIGKILL");
    await Promise.all(load.map((w) => w.stop(1000)));
    const sum = totals(load);
    assert.ok(sum.acked > 100, `load was sustained: ${sum.acked} acknowledged`);

    // Restart on the same store: it serves again.
    server = await ServerProcess.start({ runtime: HERE, dir: tmp.dir, domain: D });
    const again = await WireClient.login(server.port, writers[0], "pw");
    again.write({
      type: 0x05,
      source: writers[0],
      target: SINK,
      timestamp: 1_900_000_000_000,
      content: "after",
    });
    assert.deepEqual(await again.next(5000), { type: 0x01 });
    again.close();
    assert.equal(await server.stop(), 0);
    server = null;

    let lost = 0, duplicated = 0, stored = 0;
    for (let i = 0; i < WRITERS; i++) {
      const w = load[i];
      const direct = i < WRITERS / 2;
      const hist = direct
        ? await historyOf(tmp.dir, writers[i], SINK)
        : await contentsUnder(tmp.dir, conversation(CHANNEL));
      const mine = new Map([...hist].filter(([c]) => c.startsWith(`${writers[i]} `)));
      const check = checkAcked(w.acked, mine);
      assert.equal(check.lost, 0, `${writers[i]}: ${check.examples}`);
      assert.equal(check.duplicated, 0, `${writers[i]}: ${check.examples}`);
      lost += check.lost;
      duplicated += check.duplicated;
      stored += check.stored;
      if (direct) {
        // The sink never logged in: history and inbox were written in one commit.
        const inbox = new Map(
          [...(await inboxContents(tmp.dir, SINK))].filter(([c]) => c.startsWith(`${writers[i]} `)),
        );
        assert.deepEqual(inbox, mine, `${writers[i]}: inbox and history differ`);
      }
    }
    console.log(
      `crash (${HERE}): ${sum.sent} sent, ${sum.acked} acknowledged, ${sum.inDoubt} in flight at the kill, ` +
        `${stored} stored; lost ${lost}, duplicated ${duplicated}`,
    );
  });
});
