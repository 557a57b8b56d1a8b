/**
 * Soak: kill -9 a federating server while its outbox is busy.
 *
 *   bun scripts/soak-federation.ts [--runtime bun|deno] [--peer-runtime bun|deno]
 *                                  [--cycles 3] [--seconds 6] [--writers 10]
 *                                  [--rate-limit 0]
 *
 * Two `solec serve` child processes: a.test (`--runtime`) and b.test
 * (`--peer-runtime`, default the other one). a.test's users send direct
 * messages to ben@b.test, who is online on b.test; a.test acknowledges each
 * once it is in its durable outbox and sends it on over its link. a.test is
 * killed with SIGKILL at a random moment of each cycle and restarted; after
 * the last cycle it drains its outbox.
 *
 * Must: b.test ends up with every message a.test acknowledged exactly once
 * (in its history and pushed to ben), a.test keeps its own copy exactly
 * once, and a.test's outbox is empty at the end. Figures include how many
 * re-sends after a crash b.test recognised and dropped (from its /metrics).
 */
import process from "node:process";
import {
  identityOf,
  provision,
  type RuntimeName,
  ServerProcess,
} from "../test/support/server-process.ts";
import { LoadWriter, totals } from "../test/support/load.ts";
import { checkAcked, historyOf, outboxSize } from "../test/support/store-check.ts";
import { Flags, fmtMs, median, Report, Rng, sleep, tempDir } from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const BEN = "ben@b.test";

/** Sum of a metric family's samples matching `labels` text, from b.test's /metrics. */
async function metric(httpPort: number | undefined, name: string, labels: string): Promise<number> {
  if (httpPort === undefined) return NaN;
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    let sum = NaN;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name + "{") || !line.includes(labels)) continue;
      sum = (Number.isNaN(sum) ? 0 : sum) + Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  } catch {
    return NaN;
  }
}

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const peerRuntime = flags.str("peer-runtime", runtime === "bun" ? "deno" : "bun") as RuntimeName;
  const cycles = flags.num("cycles", 3);
  const seconds = flags.num("seconds", 6);
  const nWriters = flags.num("writers", 10);
  const rateLimit = flags.num("rate-limit", 0);
  const seed = flags.num("seed", Date.now() % 1_000_000);
  flags.done();
  const rng = new Rng(seed);

  const ta = tempDir("soak-fed-a");
  const tb = tempDir("soak-fed-b");
  const writers = Array.from({ length: nWriters }, (_, i) => `w${i}@a.test`);
  const [ia, ib] = [await identityOf(ta.dir), await identityOf(tb.dir)];
  await provision(tb.dir, {
    users: [[BEN, "pw"]],
    oneWay: writers.map((w) => [BEN, w] as const),
    peers: [{ domain: "a.test", publicKey: ia.publicKeyBase64, address: "127.0.0.1:1" }],
  });
  const B = await ServerProcess.start({
    runtime: peerRuntime,
    dir: tb.dir,
    domain: "b.test",
    http: true,
    args: ["--rate-limit", String(rateLimit)],
  });
  await provision(ta.dir, {
    users: writers.map((w) => [w, "pw"] as const),
    oneWay: writers.map((w) => [w, BEN] as const),
    peers: [{ domain: "b.test", publicKey: ib.publicKeyBase64, address: `127.0.0.1:${B.port}` }],
  });
  const report = new Report(
    `soak-federation: a.test ${runtime} → b.test ${peerRuntime}, ${cycles} kill -9 cycles of a.test, ${nWriters} writers, seed ${seed}`,
  );
  const got = new Map<string, number>();
  const ben = await WireClient.login(B.port, BEN, "pw", {
    keep: 4,
    onFrame: (p) => {
      if (p.type === 0x05) got.set(p.content, (got.get(p.content) ?? 0) + 1);
    },
  });
  const args = ["--rate-limit", String(rateLimit)];
  const all: LoadWriter[] = [];
  const rates: number[] = [];
  let outboxAtKill = 0;

  for (let cycle = 0; cycle < cycles; cycle++) {
    const A = await ServerProcess.start({ runtime, dir: ta.dir, domain: "a.test", args });
    const load = await Promise.all(writers.map((w, i) =>
      LoadWriter.open({
        port: A.port,
        user: w,
        password: "pw",
        target: BEN,
        prefix: `${cycle}/${w} `,
        tsBase: 1_767_225_600_000 + cycle * 1_000_000_000 + i * 10_000_000,
        window: 16,
      })
    ));
    for (const w of load) w.start();
    const runFor = (seconds / 2 + rng.next() * seconds / 2) * 1000;
    const from = performance.now();
    await sleep(runFor);
    await A.crash();
    await Promise.all(load.map((w) => w.stop(1000)));
    const sum = totals(load);
    rates.push(sum.acked / ((performance.now() - from) / 1000));
    const pending = await outboxSize(ta.dir);
    outboxAtKill += pending;
    console.log(
      `cycle ${cycle + 1}: a.test killed after ${
        fmtMs(runFor)
      }: ${sum.acked} acked, ${sum.inDoubt} in flight, ${pending} in the outbox`,
    );
    all.push(...load);
  }

  // The last restart: a.test drains its outbox.
  const A = await ServerProcess.start({ runtime, dir: ta.dir, domain: "a.test", args });
  const want = all.flatMap((w) => w.acked);
  const t0 = performance.now();
  while (!want.every((c) => got.has(c)) && performance.now() - t0 < 120_000) await sleep(100);
  const drainMs = performance.now() - t0;
  await sleep(1000); // late re-sends would show now
  const resent = (await metric(B.httpPort, "solec_frames_received_total", 'type="Message"')) -
    (await metric(B.httpPort, "solec_messages_total", 'route="inbound"'));
  ben.close();
  const exitA = await A.stop();
  const exitB = await B.stop();
  const pendingEnd = await outboxSize(ta.dir);

  const sum = totals(all);
  let lost = 0, duplicated = 0, storedB = 0, unackedB = 0, badA = 0;
  const examples: string[] = [];
  for (const w of writers) {
    const acked = all.filter((l) => l.o.user === w).flatMap((l) => l.acked);
    const onB = checkAcked(acked, await historyOf(tb.dir, w, BEN));
    const onA = checkAcked(acked, await historyOf(ta.dir, w, BEN));
    lost += onB.lost;
    duplicated += onB.duplicated;
    storedB += onB.stored;
    unackedB += onB.unacked;
    badA += onA.lost + onA.duplicated;
    examples.push(...onB.examples);
  }
  const pushed = checkAcked(want, got);
  report.figure("faults survived (kill -9 of a.test)", cycles);
  report.figure(
    "held load per cycle (acked/s)",
    `median ${median(rates).toFixed(0)}, min ${Math.min(...rates).toFixed(0)}`,
  );
  report.figure("messages sent / acked by a.test", `${sum.sent} / ${sum.acked}`);
  report.figure("in flight at a kill (no reply)", sum.inDoubt);
  report.figure("outbox entries left at the kills (sum)", outboxAtKill);
  report.figure("drained after the last restart in", fmtMs(drainMs));
  report.figure(
    "re-sent and dropped as duplicates by b.test",
    Number.isNaN(resent) ? "n/a" : resent,
  );
  report.figure("b.test history: stored / unacked extras", `${storedB} / ${unackedB}`);
  report.figure(
    "messages lost / duplicated on b.test",
    `${lost} / ${duplicated} ${examples.slice(0, 3).join("; ")}`,
  );
  report.figure("pushed to ben: lost / duplicated", `${pushed.lost} / ${pushed.duplicated}`);
  report.figure("a.test's own copy: lost+duplicated", badA);
  report.figure("a.test outbox at the end", pendingEnd);
  report.figure("exit on SIGTERM a.test / b.test", `${exitA} / ${exitB}`);
  report.must(
    "messages lost 0 (b.test has every acknowledged message)",
    lost === 0 && pushed.lost === 0,
  );
  report.must(
    "exactly once on b.test (history and pushes)",
    duplicated === 0 && pushed.duplicated === 0,
  );
  report.must("a.test keeps its copy exactly once", badA === 0);
  report.must("a.test's outbox drained", pendingEnd === 0);
  report.must("load was sustained", sum.acked > cycles * 50);
  report.print();
  ta.remove();
  tb.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
