/**
 * Soak: kill -9 the server again and again under sustained message load.
 *
 *   bun scripts/soak-crash.ts [--runtime bun|deno] [--cycles 5] [--seconds 6]
 *                             [--writers 20] [--window 32] [--rate-limit 0]
 *
 * Each cycle starts `solec serve` (child process) on the same SQLite store,
 * lets `--writers` clients send (half direct messages to a user who stays
 * offline, half to a channel), and kills the server with SIGKILL at a random
 * moment in the second half of `--seconds`. Clients count the Success
 * replies they got. After the last cycle the server starts once more, must
 * serve, and stops cleanly; then the store is read.
 *
 * Must: every acknowledged message is in history exactly once (messages
 * lost 0, duplicated 0); each direct one also in the recipient's inbox
 * exactly once (same commit); the server restarts every time.
 */
import process from "node:process";
import { conversation } from "../src/store/mod.ts";
import { provision, ServerProcess } from "../test/support/server-process.ts";
import { LoadWriter, totals } from "../test/support/load.ts";
import {
  checkAcked,
  contentsUnder,
  historyOf,
  inboxContents,
} from "../test/support/store-check.ts";
import {
  Flags,
  fmtMiB,
  fmtMs,
  median,
  Report,
  Rng,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const D = "localhost";
const SINK = `sink@${D}`;
const CHANNEL = `#load@${D}`;

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const cycles = flags.num("cycles", 5);
  const seconds = flags.num("seconds", 6);
  const nWriters = flags.num("writers", 20);
  const window = flags.num("window", 32);
  const rateLimit = flags.num("rate-limit", 0);
  const seed = flags.num("seed", Date.now() % 1_000_000);
  flags.done();
  const rng = new Rng(seed);

  const tmp = tempDir("soak-crash");
  const writers = Array.from({ length: nWriters }, (_, i) => `w${i}@${D}`);
  const direct = (i: number) => i % 2 === 0;
  await provision(tmp.dir, {
    users: [...writers, SINK].map((u) => [u, "pw"] as const),
    contacts: writers.filter((_, i) => direct(i)).map((w) => [w, SINK] as const),
  });
  const report = new Report(
    `soak-crash: ${runtime} server, ${cycles} kill -9 cycles of ~${seconds} s, ${nWriters} writers, seed ${seed}`,
  );
  const args = ["--rate-limit", String(rateLimit)];
  const all: LoadWriter[] = [];
  const startMs: number[] = [];
  const rates: number[] = [];
  let peakRss = 0, restarts = 0;

  for (let cycle = 0; cycle < cycles; cycle++) {
    const t0 = performance.now();
    const server = await ServerProcess.start({ runtime, dir: tmp.dir, domain: D, args });
    startMs.push(performance.now() - t0);
    restarts++;
    if (cycle === 0) {
      for (const [i, w] of writers.entries()) {
        if (direct(i)) continue;
        const c = await WireClient.login(server.port, w, "pw");
        c.write({ type: 0x07, user: w, channel: CHANNEL, mode: 1 });
        await c.next(5000);
        c.close();
      }
    }
    const load = await Promise.all(writers.map((w, i) =>
      LoadWriter.open({
        port: server.port,
        user: w,
        password: "pw",
        target: direct(i) ? SINK : CHANNEL,
        prefix: `${cycle}/${w} `,
        tsBase: 1_767_225_600_000 + cycle * 1_000_000_000 + i * 10_000_000,
        window,
      })
    ));
    for (const w of load) w.start();
    const runFor = (seconds / 2 + rng.next() * seconds / 2) * 1000;
    const loadFrom = performance.now();
    await sleep(runFor);
    peakRss = Math.max(peakRss, server.figures()?.rssKiB ?? 0);
    await server.crash();
    await Promise.all(load.map((w) => w.stop(1000)));
    const sum = totals(load);
    rates.push(sum.acked / ((performance.now() - loadFrom) / 1000));
    console.log(
      `cycle ${cycle + 1}: killed after ${
        fmtMs(runFor)
      }: ${sum.acked} acked, ${sum.inDoubt} in flight (${server.exitSignal})`,
    );
    all.push(...load);
  }

  // Once more: it must serve, then stop cleanly.
  const t0 = performance.now();
  const server = await ServerProcess.start({ runtime, dir: tmp.dir, domain: D, args });
  startMs.push(performance.now() - t0);
  let serves = false;
  try {
    const c = await WireClient.login(server.port, writers[0], "pw");
    c.write({
      type: 0x05,
      source: writers[0],
      target: SINK,
      timestamp: 2_000_000_000_000,
      content: "final",
    });
    serves = (await c.next(5000)).type === 0x01;
    c.close();
  } catch {
    serves = false;
  }
  const exit = await server.stop();

  const sum = totals(all);
  let lost = 0, duplicated = 0, stored = 0, unacked = 0, inboxMismatch = 0;
  const examples: string[] = [];
  const channelHist = await contentsUnder(tmp.dir, conversation(CHANNEL));
  for (const [i, w] of writers.entries()) {
    const acked = all.filter((l) => l.o.user === w).flatMap((l) => l.acked);
    const hist = direct(i) ? await historyOf(tmp.dir, w, SINK) : channelHist;
    const mine = new Map([...hist].filter(([c]) => c.includes(`/${w} `)));
    const check = checkAcked(acked, mine);
    lost += check.lost;
    duplicated += check.duplicated;
    stored += check.stored;
    unacked += check.unacked;
    examples.push(...check.examples);
    if (direct(i)) {
      const inbox = new Map(
        [...(await inboxContents(tmp.dir, SINK))].filter(([c]) => c.includes(`/${w} `)),
      );
      for (const [c, n] of mine) if (inbox.get(c) !== n) inboxMismatch++;
      if (inbox.size !== mine.size) inboxMismatch += Math.abs(inbox.size - mine.size);
    }
  }
  report.figure("faults survived (kill -9)", `${cycles}`);
  report.figure(
    "held load per cycle (acked/s)",
    `median ${median(rates).toFixed(0)}, min ${Math.min(...rates).toFixed(0)}`,
  );
  report.figure("messages sent / acked", `${sum.sent} / ${sum.acked}`);
  report.figure("in flight at a kill (no reply)", sum.inDoubt);
  report.figure("of those stored anyway", unacked);
  report.figure("refused", sum.refused);
  report.figure("stored in history", stored);
  report.figure(
    "messages lost / duplicated",
    `${lost} / ${duplicated} ${examples.slice(0, 3).join("; ")}`,
  );
  report.figure("inbox vs history mismatches", inboxMismatch);
  report.figure(
    "start to listening (median / max)",
    `${fmtMs(median(startMs))} / ${fmtMs(Math.max(...startMs))}`,
  );
  report.figure("server peak RSS", fmtMiB(peakRss));
  report.figure("final start serves / exit on SIGTERM", `${serves} / ${exit}`);
  report.must("restarted after every kill", restarts === cycles && serves);
  report.must("messages lost 0", lost === 0);
  report.must("messages duplicated 0", duplicated === 0);
  report.must("inbox written with history (atomic)", inboxMismatch === 0);
  report.must("clean stop at the end (exit 0)", exit === 0);
  report.must("load was sustained", sum.acked > cycles * 100);
  report.print();
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
