/**
 * Soak: brute force on one account, and login timing.
 *
 *   bun scripts/soak-bruteforce.ts [--runtime bun|deno] [--attempts 1000]
 *                                  [--concurrency 200] [--ips 10] [--samples 300]
 *                                  [--auth-timeout-ms 10000]
 *
 * Phase 1: `--attempts` wrong passwords for victim@localhost from
 * `--concurrency` parallel connections spread over `--ips` loopback
 * addresses, each a fresh connection (Handshake, UserAuth, wait for the
 * answer or the close). Meanwhile a logged-in user pings and another user
 * logs in now and then from a clean address. The server's CPU is sampled.
 * Phase 2: the owner logs in with the right password, from an attacking
 * address and from a clean one.
 * Phase 3 (on a fresh account set and fresh addresses, so no throttling is
 * involved): `--samples` wrong-password logins for existing users and as
 * many for unknown users, interleaved; the time from UserAuth to Error 0x01
 * of each, with medians.
 *
 * Must: the server stays up; other users are served; the owner logs in.
 * Targets: password checks during the attack stay well below the attempt
 * rate (throttled); unknown-user and wrong-password medians within 10 %.
 */
import process from "node:process";
import { provision, ServerProcess } from "../test/support/server-process.ts";
import {
  Flags,
  fmtMiB,
  fmtMs,
  loopbackIp,
  median,
  percentile,
  ProcSampler,
  Report,
  Rng,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { loginBytes, WireClient } from "../test/support/wire-client.ts";

const D = "localhost";
const VICTIM = `victim@${D}`;
const RIGHT = "correct horse battery staple";

type Outcome = "ok" | "closed" | "timeout" | number;

/** One login on a fresh connection: the outcome and the time from UserAuth to it. */
async function attempt(
  port: number,
  user: string,
  password: string,
  localAddress: string,
  timeoutMs: number,
): Promise<{ outcome: Outcome; ms: number }> {
  let c: WireClient;
  try {
    c = await WireClient.connect(port, { localAddress, keep: 8 });
  } catch {
    return { outcome: "closed", ms: 0 };
  }
  try {
    const greeting = await c.next(5000).catch(() => null);
    if (greeting === null || greeting.type !== 0x03) {
      return { outcome: greeting?.type === 0x02 ? greeting.code : "closed", ms: 0 };
    }
    const t0 = performance.now();
    c.write(loginBytes(user, password));
    const p = await c.next(timeoutMs).catch(() => null);
    const ms = performance.now() - t0;
    if (p === null) return { outcome: c.ended ? "closed" : "timeout", ms };
    if (p.type === 0x01) return { outcome: "ok", ms };
    return { outcome: p.type === 0x02 ? p.code : "closed", ms };
  } finally {
    c.close();
  }
}

/** Mann-Whitney U as a z score (normal approximation, no tie correction). */
function mannWhitneyZ(a: readonly number[], b: readonly number[]): number {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) =>
    x.v - y.v
  );
  let ra = 0;
  all.forEach((x, i) => {
    if (x.g === 0) ra += i + 1;
  });
  const n1 = a.length, n2 = b.length;
  const u = ra - (n1 * (n1 + 1)) / 2;
  return (u - (n1 * n2) / 2) / Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
}

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const attempts = flags.num("attempts", 1000);
  const concurrency = flags.num("concurrency", 200);
  const ips = flags.num("ips", 10);
  const samples = flags.num("samples", 300);
  const authTimeoutMs = flags.num("auth-timeout-ms", 10_000);
  const seed = flags.num("seed", Date.now() % 1_000_000);
  flags.done();
  const rng = new Rng(seed);

  const tmp = tempDir("soak-brute");
  const timingUsers = Array.from({ length: Math.ceil(samples / 2) }, (_, i) => `t${i}@${D}`);
  await provision(tmp.dir, {
    users: [
      [VICTIM, RIGHT],
      [`calm@${D}`, "pw"],
      [`other@${D}`, "pw"],
      ...timingUsers.map((u) => [u, "pw"] as const),
    ],
  });
  const server = await ServerProcess.start({
    runtime,
    dir: tmp.dir,
    domain: D,
    args: ["--auth-timeout-ms", String(authTimeoutMs)],
  });
  const sampler = new ProcSampler(server.pid, 250);
  const report = new Report(
    `soak-bruteforce: ${runtime} server, ${attempts} wrong passwords from ${concurrency} connections over ${ips} addresses`,
  );

  // Bystanders: a logged-in user pinging; another logging in from a clean address every 2 s.
  const calm = await WireClient.login(server.port, `calm@${D}`, "pw");
  let stop = false;
  const pings: number[] = [];
  let pingFailures = 0;
  const pinger = (async () => {
    while (!stop) {
      try {
        pings.push(await calm.ping(10_000));
      } catch {
        pingFailures++;
      }
      await sleep(100);
    }
  })();
  const others: Outcome[] = [];
  const otherLoop = (async () => {
    let i = 0;
    while (!stop) {
      others.push(
        (await attempt(server.port, `other@${D}`, "pw", loopbackIp(91, i++), authTimeoutMs + 5000))
          .outcome,
      );
      await sleep(2000);
    }
  })();

  // Phase 1: the attack.
  await sleep(1000);
  const cpuFrom = sampler.samples.at(-1)?.t ?? 0;
  const t0 = performance.now();
  let next = 0;
  const results: { outcome: Outcome; ms: number }[] = [];
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    while (next < attempts) {
      const i = next++;
      results.push(
        await attempt(
          server.port,
          VICTIM,
          `guess-${i}`,
          loopbackIp(90, w % ips),
          authTimeoutMs + 15_000,
        ),
      );
    }
  }));
  const attackSeconds = (performance.now() - t0) / 1000;
  const cpuTo = sampler.samples.at(-1)?.t ?? 0;
  const checkedFailures = server.count("login failed");

  // Phase 2: the owner, from an attacking address and from a clean one.
  const [ownerAttacked, ownerClean] = await Promise.all([
    attempt(server.port, VICTIM, RIGHT, loopbackIp(90, 0), authTimeoutMs + 15_000),
    attempt(server.port, VICTIM, RIGHT, loopbackIp(92, 1), authTimeoutMs + 15_000),
  ]);
  stop = true;
  await Promise.all([pinger, otherLoop]);
  calm.close();

  // Phase 3: timing, unthrottled: every address and account used at most twice.
  const kinds = [
    ...Array(samples).fill("wrong"),
    ...Array(samples).fill("unknown"),
  ] as ("wrong" | "unknown")[];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const timing = { wrong: [] as number[], unknown: [] as number[] };
  let wrongN = 0, unknownN = 0, timingOdd = 0;
  for (const [i, kind] of kinds.entries()) {
    const user = kind === "wrong"
      ? timingUsers[wrongN++ % timingUsers.length]
      : `ghost${unknownN++}@${D}`;
    const r = await attempt(
      server.port,
      user,
      `nope-${i}`,
      loopbackIp(93, Math.floor(i / 2)),
      10_000,
    );
    if (r.outcome === 0x01) timing[kind].push(r.ms);
    else timingOdd++;
  }
  sampler.stop();
  const alive = server.alive;
  const exit = await server.stop();

  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const answered = results.filter((r) => r.outcome === 0x01);
  const cut = count("closed");
  const cpu = sampler.cpu(cpuFrom, cpuTo);
  const mw = median(timing.wrong), mu = median(timing.unknown);
  const diff = Math.abs(mw - mu) / Math.min(mw, mu);
  const z = mannWhitneyZ(timing.wrong, timing.unknown);
  report.figure(
    "attempts made",
    `${results.length} in ${attackSeconds.toFixed(1)} s (${
      (results.length / attackSeconds).toFixed(1)
    }/s)`,
  );
  report.figure(
    "answered 0x01 (password checked)",
    `${answered.length} (${
      (answered.length / attackSeconds).toFixed(1)
    }/s); server logged ${checkedFailures} failures`,
  );
  report.figure("closed unanswered (throttled past the limit)", cut);
  report.figure("refused 0x83 (connection limits)", count(0x83));
  report.figure("other outcomes", results.length - answered.length - cut - count(0x83));
  report.figure(
    "time to answer p50 / p90 / max",
    `${fmtMs(median(results.map((r) => r.ms)))} / ${
      fmtMs(percentile(results.map((r) => r.ms), 90))
    } / ${fmtMs(Math.max(...results.map((r) => r.ms)))}`,
  );
  report.figure(
    "server CPU during attack avg / peak",
    `${(cpu.avg * 100).toFixed(0)}% / ${(cpu.peak * 100).toFixed(0)}% of a core`,
  );
  report.figure("server peak RSS", fmtMiB(sampler.peakRssKiB));
  report.figure(
    "bystander ping p50 / p99 / failures",
    `${fmtMs(median(pings))} / ${fmtMs(percentile(pings, 99))} / ${pingFailures}`,
  );
  report.figure(
    "other user logins ok / tried",
    `${others.filter((o) => o === "ok").length} / ${others.length}`,
  );
  report.figure(
    "owner from an attacking address",
    `${ownerAttacked.outcome} after ${fmtMs(ownerAttacked.ms)}`,
  );
  report.figure(
    "owner from a clean address",
    `${ownerClean.outcome} after ${fmtMs(ownerClean.ms)}`,
  );
  report.figure(
    "timing: wrong password p50 / p10 / p90",
    `${fmtMs(mw)} / ${fmtMs(percentile(timing.wrong, 10))} / ${
      fmtMs(percentile(timing.wrong, 90))
    } (n=${timing.wrong.length})`,
  );
  report.figure(
    "timing: unknown user p50 / p10 / p90",
    `${fmtMs(mu)} / ${fmtMs(percentile(timing.unknown, 10))} / ${
      fmtMs(percentile(timing.unknown, 90))
    } (n=${timing.unknown.length})`,
  );
  report.figure(
    "timing: median difference / Mann-Whitney z",
    `${(diff * 100).toFixed(1)} % / ${z.toFixed(2)}${
      timingOdd ? ` (${timingOdd} odd outcomes)` : ""
    }`,
  );
  report.figure(
    "server log lines warn / error",
    `${server.levels.get("warn") ?? 0} / ${server.levels.get("error") ?? 0}`,
  );
  report.figure("server exit on SIGTERM", String(exit));
  report.must("server stayed up", alive && exit === 0);
  report.must(
    "a logged-in bystander was answered throughout",
    pingFailures === 0 && pings.length > 0,
  );
  report.must(
    "another user logged in throughout",
    others.length > 0 && others.every((o) => o === "ok"),
  );
  report.must(
    "the real user still logs in (from an attacking address)",
    ownerAttacked.outcome === "ok",
  );
  report.must("the real user still logs in (from a clean address)", ownerClean.outcome === "ok");
  report.target(
    "throttled: password checks < 25 % of attempts",
    answered.length < results.length / 4,
  );
  report.target("server CPU during attack below one core on average", cpu.avg < 1);
  report.target("unknown user vs wrong password: medians within 10 %", diff <= 0.1);
  report.print();
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
