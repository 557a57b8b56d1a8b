/**
 * Soak: logged-in users ask about many made-up remote channels.
 *
 *   bun scripts/soak-history-junk.ts [--runtime bun|deno] [--connections 100]
 *                                    [--rate 90] [--seconds 30]
 *
 * `solec serve` (child process, default limits) federates with one known
 * peer (b.test, unreachable). `--connections` logged-in users each send
 * History requests at `--rate`/s (under the default rate limit of 100/s):
 * first for one and the same remote channel (control phase), then for a
 * new made-up channel of b.test every time (junk phase), `--seconds` each.
 * Every request is answered 0x02 (not a member) either way.
 *
 * Must: the server's memory does not depend on how many distinct names it
 * was asked about: RSS growth in the junk phase within the control phase's
 * growth + 16 MiB. (Fails today: see docs/robustness.md, "Findings".)
 */
import process from "node:process";
import { encode } from "../src/protocol/mod.ts";
import { identityOf, provision, ServerProcess } from "../test/support/server-process.ts";
import {
  Flags,
  fmtMiB,
  loopbackIp,
  ProcSampler,
  Report,
  sleep,
  tempDir,
} from "../test/support/soak-kit.ts";
import { WireClient } from "../test/support/wire-client.ts";

const D = "localhost";

async function main(): Promise<number> {
  const flags = new Flags();
  const runtime = flags.runtime();
  const n = flags.num("connections", 100);
  const rate = flags.num("rate", 90);
  const seconds = flags.num("seconds", 30);
  flags.done();

  const tmp = tempDir("soak-junk");
  const users = Array.from({ length: n }, (_, i) => `j${i}@${D}`);
  const peer = await identityOf(`${tmp.dir}/peer`);
  await provision(tmp.dir, {
    users: users.map((u) => [u, "pw"] as const),
    peers: [{ domain: "b.test", publicKey: peer.publicKeyBase64, address: "127.0.0.1:1" }],
  });
  const server = await ServerProcess.start({ runtime, dir: tmp.dir, domain: D });
  const sampler = new ProcSampler(server.pid, 500);
  const report = new Report(
    `soak-history-junk: ${runtime} server, ${n} users x ${rate} History/s, ${seconds} s same name, ${seconds} s new names`,
  );
  const clients = await Promise.all(
    users.map((u, i) =>
      WireClient.login(server.port, u, "pw", { keep: 4, localAddress: loopbackIp(95, i % 5) })
    ),
  );

  let sent = 0;
  async function phase(unique: boolean): Promise<{ from: number; to: number; answered: number }> {
    const from = sampler.samples.at(-1)?.t ?? 0;
    const end = performance.now() + seconds * 1000;
    const before = clients.reduce((s, c) => s + c.received, 0);
    await Promise.all(clients.map(async (c, k) => {
      const t0 = performance.now();
      let i = 0;
      while (performance.now() < end && !c.ended) {
        const target = unique ? `#junk${k}x${sent++}@b.test` : "#same@b.test";
        c.write(encode({ type: 0x08, target, since: 0, count: 1, offset: 0 }));
        c.frames.length = 0;
        const wait = ((++i) / rate) * 1000 - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
      }
    }));
    await sleep(1000);
    return {
      from,
      to: sampler.samples.at(-1)?.t ?? 0,
      answered: clients.reduce((s, c) => s + c.received, 0) - before,
    };
  }
  await sleep(1000);
  const rss0 = sampler.samples.at(-1)?.rssKiB ?? 0;
  const control = await phase(false);
  const rss1 = sampler.samples.at(-1)?.rssKiB ?? 0;
  const junk = await phase(true);
  const rss2 = sampler.samples.at(-1)?.rssKiB ?? 0;
  sampler.stop();
  const alive = server.alive;
  const errors = new Map<number, number>();
  for (const c of clients) {
    for (const [code, k] of c.errors) errors.set(code, (errors.get(code) ?? 0) + k);
    c.close();
  }
  const exit = await server.stop();

  const gControl = rss1 - rss0, gJunk = rss2 - rss1;
  report.figure("requests answered control / junk", `${control.answered} / ${junk.answered}`);
  report.figure(
    "answers by code",
    [...errors].map(([c, k]) => `0x${c.toString(16)}:${k}`).join(" "),
  );
  report.figure(
    "server RSS start / after control / after junk",
    `${fmtMiB(rss0)} / ${fmtMiB(rss1)} / ${fmtMiB(rss2)}`,
  );
  report.figure("RSS growth control / junk", `${fmtMiB(gControl)} / ${fmtMiB(gJunk)}`);
  report.figure(
    "retained per made-up name (approx.)",
    `${((Math.max(0, gJunk - gControl) * 1024) / Math.max(1, junk.answered)).toFixed(0)} B`,
  );
  report.figure("server exit on SIGTERM", String(exit));
  report.must("server stayed up", alive);
  report.must(
    "memory independent of the names asked about (junk growth <= control + 16 MiB)",
    gJunk <= gControl + 16 * 1024,
  );
  report.print();
  tmp.remove();
  return report.ok ? 0 : 1;
}

process.exit(await main());
