/**
 * Robustness, quick version of scripts/soak-federation.ts: a.test (this
 * runtime) queues direct messages for ben@b.test (the other runtime) in
 * its durable outbox while its users send under load; a.test is killed
 * with SIGKILL in the middle and restarted. b.test must end up with every
 * message a.test acknowledged, exactly once (re-sends after the crash are
 * recognised), and a.test's outbox must drain.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HERE,
  identityOf,
  provision,
  type RuntimeName,
  ServerProcess,
} from "../support/server-process.ts";
import { LoadWriter, totals } from "../support/load.ts";
import { checkAcked, historyOf, outboxSize } from "../support/store-check.ts";
import { sleep, tempDir } from "../support/soak-kit.ts";
import { WireClient } from "../support/wire-client.ts";

const OTHER: RuntimeName = HERE === "bun" ? "deno" : "bun";
const BEN = "ben@b.test";
const WRITERS = 3;

describe(`outbox crash safety: a.test (${HERE}) → b.test (${OTHER})`, () => {
  const ta = tempDir("outbox-a");
  const tb = tempDir("outbox-b");
  let A: ServerProcess | null = null;
  let B: ServerProcess | null = null;
  const writers = Array.from({ length: WRITERS }, (_, i) => `w${i}@a.test`);

  before(async () => {
    const [ia, ib] = [await identityOf(ta.dir), await identityOf(tb.dir)];
    await provision(tb.dir, {
      users: [[BEN, "pw"]],
      oneWay: writers.map((w) => [BEN, w] as const),
      peers: [{ domain: "a.test", publicKey: ia.publicKeyBase64, address: "127.0.0.1:1" }],
    });
    B = await ServerProcess.start({
      runtime: OTHER,
      dir: tb.dir,
      domain: "b.test",
      args: ["--rate-limit", "0"],
    });
    await provision(ta.dir, {
      users: writers.map((w) => [w, "pw"] as const),
      oneWay: writers.map((w) => [w, BEN] as const),
      peers: [{ domain: "b.test", publicKey: ib.publicKeyBase64, address: `127.0.0.1:${B.port}` }],
    });
  });

  after(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    ta.remove();
    tb.remove();
  });

  it("delivers every message a.test acknowledged exactly once after a kill -9 of a.test", async () => {
    const b = B as ServerProcess;
    const ben = await WireClient.login(b.port, BEN, "pw", { keep: 1_000_000 });
    A = await ServerProcess.start({
      runtime: HERE,
      dir: ta.dir,
      domain: "a.test",
      args: ["--rate-limit", "0"],
    });
    const load = await Promise.all(writers.map((w, i) =>
      LoadWriter.open({
        port: (A as ServerProcess).port,
        user: w,
        password: "pw",
        target: BEN,
        prefix: `${w} `,
        tsBase: 1_767_225_600_000 + i * 10_000_000,
        window: 16,
      })
    ));
    for (const w of load) w.start();
    await sleep(1500 + Math.random() * 1000);
    await A.crash();
    await Promise.all(load.map((w) => w.stop(1000)));
    const sum = totals(load);
    assert.ok(sum.acked > 50, `load was sustained: ${sum.acked} acknowledged`);

    // Restart: the outbox is sent on.
    A = await ServerProcess.start({ runtime: HERE, dir: ta.dir, domain: "a.test" });
    const want = new Set(load.flatMap((w) => w.acked));
    const got = new Map<string, number>();
    const deadline = performance.now() + 30_000;
    const seen = () => [...want].every((c) => got.has(c));
    while (!seen() && performance.now() < deadline) {
      await ben.waitActivity(200);
      for (const p of ben.frames.splice(0)) {
        if (p.type === 0x05) got.set(p.content, (got.get(p.content) ?? 0) + 1);
      }
    }
    await sleep(300); // anything re-sent late would show up now
    for (const p of ben.frames.splice(0)) {
      if (p.type === 0x05) got.set(p.content, (got.get(p.content) ?? 0) + 1);
    }
    ben.close();
    assert.equal(await A.stop(), 0);
    assert.equal(await b.stop(), 0);
    const pending = await outboxSize(ta.dir);

    const pushed = checkAcked(want, got);
    let lost = 0, duplicated = 0, stored = 0;
    for (const w of writers) {
      const onB = await historyOf(tb.dir, w, BEN);
      const onA = await historyOf(ta.dir, w, BEN);
      const mine = load[writers.indexOf(w)].acked;
      const cb = checkAcked(mine, onB);
      const ca = checkAcked(mine, onA);
      assert.equal(ca.lost + ca.duplicated, 0, `a.test's copy, ${w}: ${ca.examples}`);
      assert.equal(cb.lost, 0, `b.test lost, ${w}: ${cb.examples}`);
      assert.equal(cb.duplicated, 0, `b.test duplicated, ${w}: ${cb.examples}`);
      lost += cb.lost;
      duplicated += cb.duplicated;
      stored += cb.stored;
    }
    assert.equal(pushed.lost, 0, `ben was not pushed: ${pushed.examples}`);
    assert.equal(pushed.duplicated, 0, `ben got twice: ${pushed.examples}`);
    assert.equal(pending, 0, "a.test's outbox drained");
    console.log(
      `outbox crash (${HERE}→${OTHER}): ${sum.sent} sent, ${sum.acked} acknowledged by a.test, ` +
        `${sum.inDoubt} in flight at the kill, ${stored} stored on b.test; lost ${lost}, duplicated ${duplicated}`,
    );
  });
});
