/**
 * Soak: thousands of connections that never send.
 *
 *   bun scripts/soak-idle.ts [--runtime bun|deno] [--connections 2000] [--ips 20]
 *                            [--auth-timeout-ms 10000] [--partial-share 0.1]
 *                            [--login-every-ms 250] [--surplus 50] [--rounds 2]
 *
 * `solec serve` (child process, default limits: 10 000 connections, 100 per
 * IP) gets `--connections` connections spread over `--ips` loopback source
 * addresses (127.0.x.y). Most never send a byte; `--partial-share` of them
 * send a Handshake and then stop inside a UserAuth header. A further
 * `--surplus` connections from one address that is already at the per-IP
 * limit must be refused with 0x83. Meanwhile a real user logs in from
 * 127.0.0.1 every `--login-every-ms`, sends a message and leaves.
 *
 * This is done `--rounds` times in a row.
 *
 * Must: every idle connection is closed by the server at the time limit
 * (not before it, and within 3 s after it); every real login and message
 * succeeds; the server stays up; its memory is bounded: after a further
 * round it is within 32 MiB of where it was after the first (a runtime may
 * keep freed memory; it must not need more each time).
 */
import process from "node:process";
import { encode } from "../src/protocol/mod.ts";
import { provision, ServerProcess } from "../test/support/server-process.ts";
import {
  Flags,
  fmtCpu,
  fmtMiB,
  fmtMs,
  loopbackIp,
  median,
  percentile,
  ProcSampler,
  Report,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const DOMAIN = "localhost";
const ALICE = `alice@${DOMAIN}`;
const BOB = `bob@${DOMAIN}`;

interface Round {
  opened: number;
  connectFailures: number;
  openMs: number;
  held: number;
  closed: number;
  onTime: number;
  lifetimes: number[];
  surplusRefused: number;
  rssBefore: number;
  rssHeld: number;
  rssAfter: number;
}

/** Opens `n` silent connections (and the surplus), waits until the server closed them all. */
async function round(
  port: number,
  sampler: ProcSampler,
  o: {
    n: number;
    ips: number;
    partialShare: number;
    surplus: number;
    authTimeoutMs: number;
    block: number;
  },
): Promise<Round> {
  const rssBefore = sampler.samples.at(-1)?.rssKiB ?? 0;
  const t0 = performance.now();
  const idle: WireClient[] = [];
  let connectFailures = 0;
  for (let i = 0; i < o.n; i += 200) {
    const batch = await Promise.allSettled(
      Array.from(
        { length: Math.min(200, o.n - i) },
        (_, k) =>
          WireClient.connect(port, { localAddress: loopbackIp(o.block, (i + k) % o.ips), keep: 4 }),
      ),
    );
    for (const r of batch) {
      if (r.status === "fulfilled") idle.push(r.value);
      else connectFailures++;
    }
  }
  const openMs = performance.now() - t0;
  idle.forEach((c, i) => {
    if (i < o.n * o.partialShare) {
      c.write(encode({ type: 0x03, major: 0, minor: 2, connType: 1 }));
      c.write(new Uint8Array([0x04, 0x00]));
    }
  });
  // Per-IP limit: address 0 holds ceil(n / ips) connections; more from it are refused.
  const surplusClients = await Promise.all(
    Array.from(
      { length: o.surplus },
      () =>
        WireClient.connect(port, { localAddress: loopbackIp(o.block, 0), keep: 4 }).catch(() =>
          null
        ),
    ),
  );
  await sleep(500);
  const rssHeld = sampler.samples.at(-1)?.rssKiB ?? 0;
  const held = idle.filter((c) => !c.ended).length;
  const closed = await Promise.all(idle.map((c) => c.waitClosed(o.authTimeoutMs + 15_000)));
  const lifetimes = idle.map((c) => c.closedAt - c.openedAt);
  const surplusRefused =
    surplusClients.filter((c) =>
      c !== null && c.ended && c.frames.some((p) => p.type === 0x02 && p.code === 0x83)
    ).length;
  for (const c of [...idle, ...surplusClients]) c?.close();
  await sleep(2000);
  return {
    opened: idle.length,
    connectFailures,
    openMs,
    held,
    closed: closed.filter((x) => x).length,
    onTime:
      lifetimes.filter((ms) => ms >= o.authTimeoutMs - 100 && ms <= o.authTimeoutMs + 3000).length,
    lifetimes,
    surplusRefused,
    rssBefore,
    rssHeld,
    rssAfter: sampler.samples.at(-1)?.rssKiB ?? 0,
  };
}

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const n = flags.num("connections", 2000);
  const ips = flags.num("ips", 20);
  const authTimeoutMs = flags.num("auth-timeout-ms", 10_000);
  const partialShare = flags.num("partial-share", 0.1);
  const loginEvery = flags.num("login-every-ms", 250);
  const surplus = flags.num("surplus", 50);
  const nRounds = flags.num("rounds", 2);
  flags.done();

  const tmp = tempDir("soak-idle");
  await provision(tmp.dir, { users: [[ALICE, "pw"], [BOB, "pw"]], contacts: [[ALICE, BOB]] });
  const server = await ServerProcess.start({
    runtime,
    dir: tmp.dir,
    domain: DOMAIN,
    args: ["--auth-timeout-ms", String(authTimeoutMs)],
  });
  const sampler = new ProcSampler(server.pid, 250);
  await sleep(500);
  const report = new Report(
    `soak-idle: ${runtime} server, ${n} silent connections from ${ips} addresses, auth limit ${authTimeoutMs} ms`,
  );

  // Real users, all along.
  let stopLogins = false;
  const logins: { ok: boolean; ms: number; why?: string }[] = [];
  const loginLoop = (async () => {
    let i = 0;
    while (!stopLogins) {
      const t0 = performance.now();
      try {
        const c = await WireClient.login(server.port, ALICE, "pw", { timeoutMs: authTimeoutMs });
        c.write({
          type: 0x05,
          source: ALICE,
          target: BOB,
          timestamp: 1_767_225_600_000 + i++,
          content: "hi",
        });
        const r = await c.next(10_000);
        c.close();
        logins.push({ ok: r.type === 0x01, ms: performance.now() - t0, why: JSON.stringify(r) });
      } catch (e) {
        logins.push({ ok: false, ms: performance.now() - t0, why: String(e) });
      }
      await sleep(loginEvery);
    }
  })();

  // Rounds: open the silent connections (200 at a time), let the server close them.
  const rounds: Round[] = [];
  for (let r = 0; r < nRounds; r++) {
    rounds.push(
      await round(server.port, sampler, {
        n,
        ips,
        partialShare,
        surplus,
        authTimeoutMs,
        block: 80 + r,
      }),
    );
  }
  await sleep(1000);
  stopLogins = true;
  await loginLoop;
  sampler.stop();
  const alive = server.alive;
  const cpu = sampler.cpu();
  const exit = await server.stop();

  const okLogins = logins.filter((l) => l.ok);
  const loginMs = okLogins.map((l) => l.ms);
  for (const [i, r] of rounds.entries()) {
    const k = `round ${i + 1}: `;
    report.figure(
      k + "idle connections opened",
      `${r.opened} in ${fmtMs(r.openMs)} (${r.connectFailures} failed to connect)`,
    );
    report.figure(
      k + "held at once / stalled mid-frame",
      `${r.held} / ${Math.ceil(n * partialShare)}`,
    );
    report.figure(k + "closed by the server", `${r.closed} / ${r.opened}`);
    report.figure(
      k + "close after (min / p50 / max)",
      `${fmtMs(Math.min(...r.lifetimes))} / ${fmtMs(median(r.lifetimes))} / ${
        fmtMs(Math.max(...r.lifetimes))
      }`,
    );
    report.figure(
      k + "surplus from a full address refused 0x83",
      `${r.surplusRefused} / ${surplus}`,
    );
    report.figure(
      k + "server RSS before / holding / after",
      `${fmtMiB(r.rssBefore)} / ${fmtMiB(r.rssHeld)} / ${fmtMiB(r.rssAfter)} (${
        ((r.rssHeld - r.rssBefore) / Math.max(1, r.held)).toFixed(1)
      } KiB per connection)`,
    );
  }
  report.figure("server log: auth time limit", server.count("handshake/auth time limit"));
  report.figure("real logins ok / tried", `${okLogins.length} / ${logins.length}`);
  report.figure(
    "real login+send p50 / p99 / max",
    `${fmtMs(median(loginMs))} / ${fmtMs(percentile(loginMs, 99))} / ${
      fmtMs(Math.max(...loginMs))
    }`,
  );
  report.figure("server CPU avg / peak", fmtCpu(cpu));
  report.figure(
    "server log lines warn / error",
    `${server.levels.get("warn") ?? 0} / ${server.levels.get("error") ?? 0}`,
  );
  report.figure("server exit on SIGTERM", String(exit));
  report.must("server stayed up", alive);
  report.must(
    "every idle connection closed by the server",
    rounds.every((r) => r.closed === r.opened && r.opened === n),
  );
  report.must(
    "closed at the time limit (not before; within 3 s after)",
    rounds.every((r) => r.onTime === r.opened),
    rounds.map((r) => `${r.opened - r.onTime} off`).join(", "),
  );
  report.must(
    "every real login and message succeeded",
    okLogins.length === logins.length && logins.length > 0,
    logins.filter((l) => !l.ok).slice(0, 3).map((l) => l.why).join("; "),
  );
  report.must(
    "surplus connections from a full address refused",
    rounds.every((r) => r.surplusRefused === surplus),
  );
  const last = rounds[rounds.length - 1], first = rounds[0];
  report.must(
    "memory bounded: a further round ends within 32 MiB of the first",
    rounds.length < 2 || last.rssAfter <= first.rssAfter + 32 * 1024,
    `${fmtMiB(first.rssAfter)} after round 1, ${
      fmtMiB(last.rssAfter)
    } after round ${rounds.length}`,
  );
  report.print();
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
