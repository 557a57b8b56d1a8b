/**
 * Soak: a client that never reads while many messages are sent to it.
 *
 *   bun scripts/soak-slowreader.ts [--runtime bun|deno] [--messages 100000]
 *                                  [--senders 50] [--size 200] [--rate 90]
 *
 * `solec serve` (child process, default limits: 100 requests/s per
 * connection, 1 MiB unsent output per connection) has bob logged in on a
 * connection that stops reading right after login. `--senders` users send
 * bob `--messages` direct messages in total (each paced at `--rate`/s, under
 * the rate limit) of `--size` bytes. Two other users talk meanwhile, as
 * before it (the idle baseline). Then bob logs in again and reads his inbox.
 *
 * Must: bob's stuck connection is dropped; the server's memory stays
 * bounded (peak RSS of the last third of the sending within 1.25x of the
 * first third, or +32 MiB); every acknowledged message is in history
 * exactly once (messages lost 0); bob's next login delivers exactly what
 * was put in his inbox; the bystanders lose nothing. Target: their median
 * ack latency during the load within 2x of idle.
 */
import process from "node:process";
import { conversation, inboxOf } from "../src/store/mod.ts";
import { provision, ServerProcess } from "../test/support/server-process.ts";
import { LoadWriter, totals } from "../test/support/load.ts";
import { checkAcked, contentsUnder } from "../test/support/store-check.ts";
import {
  Flags,
  fmtMs,
  median,
  percentile,
  ProcSampler,
  Report,
  reportServerUsage,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const DOMAIN = "localhost";
const BOB = `bob@${DOMAIN}`;
const CAROL = `carol@${DOMAIN}`;
const DAVE = `dave@${DOMAIN}`;

/** Carol → dave direct messages at `rate`/s until `stop()`; ack latency by time. */
class Bystander {
  readonly records: { at: number; ms: number }[] = [];
  sent = 0;
  failures = 0;
  #stop = false;
  #loop: Promise<void> | null = null;
  constructor(readonly carol: WireClient, readonly dave: WireClient, readonly rate: number) {}

  start(): void {
    this.#loop = (async () => {
      while (!this.#stop) {
        const t0 = performance.now();
        const at = performance.now();
        this.carol.write({
          type: 0x05,
          source: CAROL,
          target: DAVE,
          timestamp: 1_767_225_600_000 + this.sent,
          content: `c${this.sent++}`,
        });
        const r = await this.carol.next(10_000).catch(() => null);
        if (r?.type === 0x01) this.records.push({ at, ms: performance.now() - t0 });
        else this.failures++;
        const wait = 1000 / this.rate - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }

  /** Messages dave got, in order and once each. */
  async delivered(): Promise<boolean> {
    const got: string[] = [];
    for (let k = 0; k < 100 && got.length < this.sent; k++) {
      await this.dave.waitActivity(100);
      for (const p of this.dave.frames.splice(0)) if (p.type === 0x05) got.push(p.content);
    }
    return got.length === this.sent && got.every((c, i) => c === `c${i}`);
  }
}

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const total = flags.num("messages", 100_000);
  const nSenders = flags.num("senders", 50);
  const size = flags.num("size", 200);
  const rate = flags.num("rate", 90);
  flags.done();

  const tmp = tempDir("soak-slow");
  const senders = Array.from({ length: nSenders }, (_, i) => `s${i}@${DOMAIN}`);
  await provision(tmp.dir, {
    users: [BOB, CAROL, DAVE, ...senders].map((u) => [u, "pw"] as const),
    contacts: [[CAROL, DAVE], ...senders.map((s) => [s, BOB] as const)],
  });
  const server = await ServerProcess.start({ runtime, dir: tmp.dir, domain: DOMAIN });
  const sampler = new ProcSampler(server.pid, 250);
  const report = new Report(
    `soak-slowreader: ${runtime} server, ${total} messages of ${size} B to a client that never reads`,
  );

  const stuck = await WireClient.login(server.port, BOB, "pw", { keep: 4 });
  stuck.pauseReading();
  const carol = await WireClient.login(server.port, CAROL, "pw");
  const dave = await WireClient.login(server.port, DAVE, "pw", { keep: 1_000_000 });
  const bystander = new Bystander(carol, dave, 20);
  bystander.start();
  await sleep(3000);
  const loadFrom = performance.now();
  const sFrom = sampler.samples.at(-1)?.t ?? 0;
  const rss0 = sampler.samples.at(-1)?.rssKiB ?? 0;

  const per = Math.ceil(total / nSenders);
  const writers = await Promise.all(senders.map((s, i) =>
    LoadWriter.open({
      port: server.port,
      user: s,
      password: "pw",
      target: BOB,
      prefix: `${s} `,
      tsBase: 1_767_225_600_000 + i * 10_000_000,
      window: 16,
      rate,
      size,
      max: Math.min(per, total - i * per),
    })
  ));
  for (const w of writers) w.start();
  let dropAt = NaN, droppedAfter = NaN;
  const limit = performance.now() + (per / rate) * 1000 * 3 + 60_000;
  while (performance.now() < limit) {
    const sum = totals(writers);
    if (Number.isNaN(dropAt) && server.count("slow consumer disconnected") > 0) {
      dropAt = (performance.now() - loadFrom) / 1000;
      droppedAfter = sum.acked;
    }
    if (writers.every((w) => w.sent >= (w.o.max ?? 0) && w.outstanding === 0)) break;
    if (writers.every((w) => w.client.ended)) break;
    await sleep(100);
  }
  await Promise.all(writers.map((w) => w.stop(5000)));
  const loadSeconds = (performance.now() - loadFrom) / 1000;
  const sTo = sampler.samples.at(-1)?.t ?? 0;
  await sleep(2000);
  await bystander.stop();
  const bystanderOk = await bystander.delivered();
  const sum = totals(writers);

  // Bob comes back and reads his inbox.
  const inboxBefore = await contentsUnder(tmp.dir, inboxOf(BOB));
  stuck.close();
  const t0 = performance.now();
  const again = await WireClient.login(server.port, BOB, "pw", { keep: 10_000_000 });
  const got = new Map<string, number>();
  let quiet = 0;
  while (quiet < 20 && got.size < inboxBefore.size) {
    const before = got.size;
    await again.waitActivity(100);
    for (const p of again.frames.splice(0)) {
      if (p.type === 0x05) got.set(p.content.trimEnd(), (got.get(p.content.trimEnd()) ?? 0) + 1);
    }
    quiet = got.size === before ? quiet + 1 : 0;
  }
  const drainMs = performance.now() - t0;
  again.close();
  carol.close();
  dave.close();
  sampler.stop();
  const alive = server.alive;
  const exit = await server.stop();
  const inboxAfter = await contentsUnder(tmp.dir, inboxOf(BOB));
  const hist = await contentsUnder(tmp.dir, conversation(BOB, BOB)).then(async () => {
    const all = new Map<string, number>();
    for (const s of senders) {
      for (const [c, n] of await contentsUnder(tmp.dir, conversation(s, BOB))) all.set(c, n);
    }
    return all;
  });
  const check = checkAcked(writers.flatMap((w) => w.acked), hist);
  const inboxCheck = checkAcked(inboxBefore.keys(), got);

  const mem = sampler.growth(sFrom, sTo);
  const cpu = sampler.cpu(sFrom, sTo);
  const idle = bystander.records.filter((r) => r.at < loadFrom).map((r) => r.ms);
  const during = bystander.records.filter((r) =>
    r.at >= loadFrom && r.at < loadFrom + loadSeconds * 1000
  ).map((r) => r.ms);
  const refused = [...writers.flatMap((w) => [...w.refused])].reduce(
    (m, [c, n]) => m.set(c, (m.get(c) ?? 0) + n),
    new Map<number, number>(),
  );
  report.figure(
    "messages sent / acked",
    `${sum.sent} / ${sum.acked} in ${loadSeconds.toFixed(1)} s (${
      (sum.acked / loadSeconds).toFixed(0)
    }/s held)`,
  );
  report.figure(
    "refused",
    [...refused].map(([c, n]) => `0x${c.toString(16)}:${n}`).join(" ") || "0",
  );
  report.figure(
    "stuck client dropped",
    `${server.count("slow consumer disconnected")} time(s), after ${
      dropAt.toFixed(1)
    } s / ${droppedAfter} acked`,
  );
  report.figure(
    "history: stored / lost / duplicated",
    `${check.stored} / ${check.lost} / ${check.duplicated}`,
  );
  report.figure(
    "inbox after the drop / delivered at re-login",
    `${inboxBefore.size} / ${got.size} in ${fmtMs(drainMs)}`,
  );
  report.figure("inbox left after re-login", inboxAfter.size);
  reportServerUsage(report, sampler, { rss0KiB: rss0, rss0Label: "before", mem, cpu });
  report.figure(
    "bystander ack p50 idle / load",
    `${fmtMs(median(idle))} / ${fmtMs(median(during))} (x${
      (median(during) / median(idle)).toFixed(2)
    })`,
  );
  report.figure(
    "bystander ack p99 idle / load",
    `${fmtMs(percentile(idle, 99))} / ${fmtMs(percentile(during, 99))}`,
  );
  report.figure("bystander messages", `${bystander.sent} sent, ${bystander.failures} failed`);
  report.figure(
    "server log lines warn / error",
    `${server.levels.get("warn") ?? 0} / ${server.levels.get("error") ?? 0}`,
  );
  report.figure("server exit on SIGTERM", String(exit));
  report.must("server stayed up", alive);
  report.must(
    "the client that never reads was dropped",
    server.count("slow consumer disconnected") >= 1,
  );
  report.must(
    "messages lost 0 (every ack in history exactly once)",
    check.lost === 0 && check.duplicated === 0,
    check.examples.join("; "),
  );
  report.must(
    "all messages were sent and acknowledged",
    sum.acked === total,
    `${total - sum.acked} not acked`,
  );
  report.must(
    "inbox delivered exactly at re-login",
    inboxCheck.lost === 0 && inboxCheck.duplicated === 0 && inboxAfter.size === 0,
  );
  report.must(
    "memory bounded (last third <= 1.25x first third, or +32 MiB)",
    mem.lastKiB <= mem.firstKiB * 1.25 || mem.lastKiB - mem.firstKiB <= 32 * 1024,
  );
  report.must("bystanders: messages lost 0", bystanderOk && bystander.failures === 0);
  report.target("bystander p50 ack during load <= 2x idle", median(during) <= 2 * median(idle));
  report.print();
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
