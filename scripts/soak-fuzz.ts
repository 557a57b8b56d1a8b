/**
 * Soak: fuzz a live `solec serve` from many connections for a while.
 *
 *   bun scripts/soak-fuzz.ts [--runtime bun|deno] [--seconds 60] [--connections 50]
 *                            [--seed N] [--idle-seconds 5] [--probe-rate 20]
 *
 * The server runs as a child process (the runtime chosen) over SQLite, with
 * federation on and one trusted fake peer whose key the fuzzer holds. The
 * connections (see test/support/fuzz.ts) send random and mutated frames
 * before login, after login and on an authenticated peer link, and
 * reconnect whenever the server closes them. A well-behaved client, in its
 * own process so the fuzzers' CPU does not skew it, pings and sends direct
 * messages at a steady rate before (idle baseline), during and after.
 *
 * Must: the server never exits and still serves a fresh login afterwards;
 * it never sends an undecodable frame; its memory levels off (peak RSS of
 * the last third of the run within 1.5x of the first third, or +32 MiB);
 * the well-behaved client loses nothing. Target: its median latency during
 * the fuzzing is within 2x of idle.
 *
 * With --role probe it is that well-behaved client (used by the parent).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  FuzzStats,
  type FuzzTarget,
  linkActor,
  postauthActor,
  preauthActor,
} from "../test/support/fuzz.ts";
import { BIN, HERE, identityOf, provision, ServerProcess } from "../test/support/server-process.ts";
import {
  Flags,
  fmtMs,
  loopbackIp,
  median,
  percentile,
  ProcSampler,
  Report,
  reportServerUsage,
  Rng,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const DOMAIN = "localhost";
const CALM = `calm@${DOMAIN}`;
const CALM2 = `calm2@${DOMAIN}`;

interface ProbeRecord {
  /** Epoch ms when the operation started. */
  at: number;
  ping: number;
  ack: number;
}

/** The well-behaved client: ping + one direct message, `rate` times a second, for `seconds`. */
async function probe(port: number, seconds: number, rate: number): Promise<void> {
  const me = await WireClient.login(port, CALM, "pw");
  const partner = await WireClient.login(port, CALM2, "pw", { keep: 1_000_000 });
  const records: ProbeRecord[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0, failures = 0;
  while (performance.now() < end) {
    const started = performance.now();
    const at = Date.now();
    try {
      const ping = await me.ping(10_000);
      const t0 = performance.now();
      me.write({
        type: 0x05,
        source: CALM,
        target: CALM2,
        timestamp: 1_767_225_600_000 + n,
        content: `calm ${n}`,
      });
      const reply = await me.next(10_000);
      if (reply.type !== 0x01) throw new Error(`reply ${JSON.stringify(reply)}`);
      n++;
      records.push({ at, ping, ack: performance.now() - t0 });
    } catch {
      failures++;
      if (me.ended) break;
    }
    const wait = 1000 / rate - (performance.now() - started);
    if (wait > 0) await sleep(wait);
  }
  // Delivery check: every acknowledged message reached the partner, once, in order.
  const got: string[] = [];
  for (let k = 0; k < 100 && got.length < n; k++) {
    await partner.waitActivity(100);
    for (const p of partner.frames.splice(0)) if (p.type === 0x05) got.push(p.content);
  }
  let inOrder = got.length === n;
  for (let i = 0; inOrder && i < n; i++) inOrder = got[i] === `calm ${i}`;
  me.close();
  partner.close();
  console.log(JSON.stringify({ records, acked: n, delivered: got.length, inOrder, failures }));
}

function startProbe(port: number, seconds: number, rate: number): Promise<{
  records: ProbeRecord[];
  acked: number;
  delivered: number;
  inOrder: boolean;
  failures: number;
}> {
  const script = fileURLToPath(import.meta.url);
  const argv = HERE === "bun" ? [script] : ["run", "-A", "--quiet", script];
  argv.push(
    "--role",
    "probe",
    "--port",
    String(port),
    "--seconds",
    String(seconds),
    "--probe-rate",
    String(rate),
  );
  const child = spawn(BIN[HERE], argv, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  return new Promise((resolve, reject) =>
    child.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`probe exited ${code}: ${out.slice(-500)}`));
      }
    })
  );
}

async function main(): Promise<number> {
  const flags = new Flags();
  if (flags.str("role", "main") === "probe") {
    await probe(flags.num("port", 0), flags.num("seconds", 10), flags.num("probe-rate", 20));
    flags.done();
    return 0;
  }
  const runtime = flags.runtime();
  const seconds = flags.num("seconds", 60);
  const connections = flags.num("connections", 50);
  const idleSeconds = flags.num("idle-seconds", 5);
  const rate = flags.num("probe-rate", 20);
  const seed = flags.num("seed", Date.now() % 1_000_000);
  flags.done();

  const tmp = tempDir("soak-fuzz");
  const peerIdentity = await identityOf(join(tmp.dir, "peer"));
  const nLink = Math.max(1, Math.round(connections * 0.04));
  const nPost = Math.round(connections * 0.36);
  const nPre = connections - nLink - nPost;
  const users: [string, string][] = Array.from(
    { length: nPost },
    (_, i) => [`fz${i}@${DOMAIN}`, "pw"],
  );
  const contacts: [string, string][] = [[CALM, CALM2]];
  for (const [a] of users) for (const [b] of users) if (a < b) contacts.push([a, b]);
  await provision(tmp.dir, {
    users: [...users, [CALM, "pw"], [CALM2, "pw"]],
    contacts,
    oneWay: users.flatMap(([a]) => [[a, "f0@fuzz.peer"] as const]),
    peers: [{
      domain: "fuzz.peer",
      publicKey: peerIdentity.publicKeyBase64,
      address: "127.0.0.1:1",
    }],
  });
  const server = await ServerProcess.start({ runtime, dir: tmp.dir, domain: DOMAIN });
  const sampler = new ProcSampler(server.pid, 500);
  const target: FuzzTarget = {
    port: server.port,
    domain: DOMAIN,
    users,
    peer: { domain: "fuzz.peer", identity: peerIdentity },
  };
  const report = new Report(
    `soak-fuzz: ${runtime} server, ${connections} connections, ${seconds} s, seed ${seed}`,
  );

  const tProbe0 = Date.now();
  const probeDone = startProbe(server.port, idleSeconds + seconds + 5, rate);
  await sleep(idleSeconds * 1000 + 500);
  const fuzzFrom = Date.now();
  const sFrom = sampler.samples[sampler.samples.length - 1]?.t ?? 0;
  const stats = new FuzzStats();
  const deadline = performance.now() + seconds * 1000;
  const actors: Promise<void>[] = [];
  for (let i = 0; i < nPre; i++) {
    actors.push(
      preauthActor(target, {
        rng: new Rng(seed + i),
        stats,
        deadline,
        localAddress: loopbackIp(10, i),
      }),
    );
  }
  for (let i = 0; i < nPost; i++) {
    actors.push(
      postauthActor(target, {
        rng: new Rng(seed + 1000 + i),
        stats,
        deadline,
        localAddress: loopbackIp(20, i),
        user: users[i],
      }),
    );
  }
  for (let i = 0; i < nLink; i++) {
    actors.push(
      linkActor(target, {
        rng: new Rng(seed + 2000 + i),
        stats,
        deadline,
        localAddress: loopbackIp(30, i),
      }),
    );
  }
  await Promise.all(actors);
  const fuzzTo = Date.now();
  const sTo = sampler.samples[sampler.samples.length - 1]?.t ?? 0;
  const p = await probeDone;
  const alive = server.alive;
  let freshLogin = false;
  try {
    const c = await WireClient.login(server.port, CALM, "pw");
    freshLogin = (await c.ping()) >= 0;
    c.close();
  } catch {
    freshLogin = false;
  }
  sampler.stop();
  const exit = await server.stop();

  const idle = p.records.filter((r) => r.at >= tProbe0 + 500 && r.at < fuzzFrom);
  const during = p.records.filter((r) => r.at >= fuzzFrom && r.at < fuzzTo);
  const mem = sampler.growth(sFrom, sTo);
  const cpu = sampler.cpu(sFrom, sTo);
  const rss0 = sampler.between(0, sFrom)[0]?.rssKiB ?? 0;
  const others = [...stats.errors].filter(([c]) => c !== 0x80).map(([c, n]) =>
    `0x${c.toString(16)}:${n}`
  ).join(" ");
  report.figure(
    "inputs tried",
    `${stats.inputs} (${(stats.inputs / seconds).toFixed(0)}/s, ${
      (stats.bytes / 1e6).toFixed(1)
    } MB)`,
  );
  report.figure(
    "connections opened",
    `${stats.connections} (${stats.connectFailures} failed to connect)`,
  );
  report.figure("actors", `${nPre} before login, ${nPost} logged in, ${nLink} peer link`);
  report.figure("faults answered 0x80", stats.error(0x80));
  report.figure("other errors", others || "-");
  report.figure("closed by the server", stats.serverCloses);
  report.figure(
    "fuzz logins / link sessions",
    `${stats.logins} / ${stats.linksUp} (links refused ${stats.linksRefused})`,
  );
  report.figure(
    "server log lines warn / error",
    `${server.levels.get("warn") ?? 0} / ${server.levels.get("error") ?? 0} ${
      server.errorLines.slice(0, 3).join(" ")
    }`,
  );
  reportServerUsage(report, sampler, { rss0KiB: rss0, rss0Label: "start", mem, cpu });
  const pi = median(idle.map((r) => r.ping)), pd = median(during.map((r) => r.ping));
  const ai = median(idle.map((r) => r.ack)), ad = median(during.map((r) => r.ack));
  report.figure(
    "probe ping p50 idle / fuzz",
    `${fmtMs(pi)} / ${fmtMs(pd)} (x${(pd / pi).toFixed(2)})`,
  );
  report.figure(
    "probe ping p99 idle / fuzz",
    `${fmtMs(percentile(idle.map((r) => r.ping), 99))} / ${
      fmtMs(percentile(during.map((r) => r.ping), 99))
    }`,
  );
  report.figure(
    "probe send ack p50 idle / fuzz",
    `${fmtMs(ai)} / ${fmtMs(ad)} (x${(ad / ai).toFixed(2)})`,
  );
  report.figure(
    "probe send ack p99 idle / fuzz",
    `${fmtMs(percentile(idle.map((r) => r.ack), 99))} / ${
      fmtMs(percentile(during.map((r) => r.ack), 99))
    }`,
  );
  report.figure(
    "probe messages acked / delivered",
    `${p.acked} / ${p.delivered} (failures ${p.failures})`,
  );
  report.figure("server exit on SIGTERM afterwards", String(exit));
  report.must("server never exited during the fuzzing", alive);
  report.must("a fresh login works afterwards", freshLogin);
  report.must(
    "no undecodable frame from the server",
    stats.badFrames.length === 0,
    stats.badFrames.join("; "),
  );
  report.must("faults were answered with 0x80", stats.error(0x80) > 0);
  report.must(
    "memory bounded (last third <= 1.5x first third, or +32 MiB)",
    mem.lastKiB <= mem.firstKiB * 1.5 || mem.lastKiB - mem.firstKiB <= 32 * 1024,
  );
  report.must(
    "well-behaved client: messages lost 0",
    p.failures === 0 && p.inOrder && p.delivered === p.acked,
    `${p.acked - p.delivered} lost`,
  );
  report.target(
    "probe p50 latency during fuzz <= 2x idle (ping and send)",
    pd <= 2 * pi && ad <= 2 * ai,
  );
  report.print();
  if (!report.ok) console.log(server.tail.slice(-20).join("\n"));
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
