/**
 * `solec serve` as an operator runs it: a real child process on this
 * runtime over a SQLite file, with the HTTP listener on a free loopback port.
 * Health, readiness and metrics while it serves real clients; the graceful
 * stop on SIGTERM (readiness drops at once, the request in hand is answered,
 * exit 0); the deadline and a second signal cutting the stop short.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { provisionStore, type RunningServer, runSolec, startSolecServe } from "../support/cli.ts";
import { SolecClient, SolecError } from "../../src/client/client.ts";
import { platform } from "../support/platform.ts";

const HOST = "127.0.0.1";

/** GET with a bound; the body is read in full. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${HOST}:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** A sample's value in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function connect(port: number): Promise<SolecClient> {
  return SolecClient.connect({ net: platform.net, hostname: HOST, port });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Log records (JSON lines) a server wrote so far. */
function records(server: RunningServer): Record<string, unknown>[] {
  return server.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

describe("solec serve: HTTP health, readiness, metrics and lifecycle", () => {
  let dir: string;
  let common: string[];
  /**
   * For servers that log in "slow": the same cost as its hash, so a login does
   * not re-hash it at the server's cost (which would make later logins fast).
   */
  let slowServe: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "solec-ops-"));
    common = await provisionStore(dir);
    // A user whose login costs ~0.3-0.7 s of scrypt: a request that is still
    // in hand when the signal arrives.
    const r = await runSolec(
      ["user", "add", "slow", "--password-stdin", ...common, "--password-cost", "17"],
      { stdin: "pw-slow\n" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await runSolec(["contact", "add", "alice", "bob", ...common])).code, 0);
    slowServe = [...common, "--password-cost", "17"];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("serves /healthz, /readyz and /metrics counting a real login and message", async () => {
    const server = await startSolecServe([...common, "--http-port", "0"], {}, { http: true });
    const http = server.httpPort!;
    try {
      assert.ok(http > 0 && http !== server.port);
      const health = await get(http, "/healthz");
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.body), { status: "ok" });
      const ready = await get(http, "/readyz");
      assert.equal(ready.status, 200, ready.body);
      assert.deepEqual(JSON.parse(ready.body), {
        status: "ok",
        checks: { listener: "ok", store: "ok", shutdown: "ok" },
      });

      let metrics = (await get(http, "/metrics")).body;
      for (
        const family of [
          "solec_connections gauge",
          "solec_messages_total counter",
          "solec_frames_received_total counter",
          "solec_frames_sent_total counter",
          "solec_bytes_received_total counter",
          "solec_bytes_sent_total counter",
          "solec_auth_failures_total counter",
          "solec_outbox_pending gauge",
          "solec_peer_up gauge",
          "solec_request_duration_seconds histogram",
          "solec_process_resident_memory_bytes gauge",
          "solec_process_uptime_seconds gauge",
        ]
      ) {
        assert.ok(metrics.includes(`\n# TYPE ${family}\n`), `missing ${family}\n${metrics}`);
      }
      assert.equal(sample(metrics, 'solec_messages_total{route="local"}'), 0);
      assert.equal(sample(metrics, 'solec_connections{kind="server"}'), 0);
      assert.equal(sample(metrics, "solec_outbox_pending"), 0);

      const alice = await connect(server.port);
      const bob = await connect(server.port);
      const mallory = await connect(server.port);
      try {
        await alice.login("alice@a.test", "pw-alice");
        await bob.login("bob@a.test", "pw-bob");
        await assert.rejects(mallory.login("bob@a.test", "wrong"), SolecError);
        await alice.send("bob@a.test", "hello over the metrics");
        const got = await bob.messages().next();
        assert.equal(got.value?.content, "hello over the metrics");

        metrics = (await get(http, "/metrics")).body;
        assert.equal(sample(metrics, 'solec_messages_total{route="local"}'), 1);
        assert.equal(sample(metrics, 'solec_messages_total{route="channel"}'), 0);
        assert.ok(sample(metrics, 'solec_connections{kind="client"}')! >= 2, metrics);
        assert.equal(sample(metrics, "solec_auth_failures_total"), 1);
        assert.equal(sample(metrics, 'solec_frames_received_total{type="UserAuth"}'), 3);
        assert.equal(sample(metrics, 'solec_frames_received_total{type="Message"}'), 1);
        assert.ok(sample(metrics, 'solec_frames_sent_total{type="Message"}')! >= 1, metrics);
        assert.ok(sample(metrics, "solec_bytes_received_total")! > 0, metrics);
        assert.ok(sample(metrics, "solec_bytes_sent_total")! > 0, metrics);
        assert.equal(
          sample(metrics, 'solec_request_duration_seconds_bucket{type="Message",le="+Inf"}'),
          1,
        );
        assert.equal(sample(metrics, 'solec_request_duration_seconds_count{type="Message"}'), 1);
        assert.ok(sample(metrics, "solec_process_resident_memory_bytes")! > 0, metrics);
        // The SQLite store's flusher thread runs in the real server, and the message's
        // group commit is counted.
        assert.equal(sample(metrics, "solec_store_flusher_up"), 1, metrics);
        assert.ok(sample(metrics, "solec_store_commits_total")! >= 1, metrics);
        assert.ok(sample(metrics, "solec_store_writes_total")! >= 1, metrics);
      } finally {
        alice.close();
        bob.close();
        mallory.close();
      }
    } finally {
      const code = await server.stop("SIGTERM");
      assert.equal(code, 0, server.stderr());
    }
    // Nothing logged the password or the message text.
    assert.doesNotMatch(server.stderr(), /pw-alice|pw-bob|wrong|hello over the metrics/);
    const msgs = records(server).map((r) => r.msg);
    for (const m of ["listening", "http listening", "stopping", "stopped"]) {
      assert.ok(msgs.includes(m), `no "${m}" log line:\n${server.stderr()}`);
    }
  });

  it("on SIGTERM: /readyz is 503 at once, the request in hand is answered, exit 0", async () => {
    const server = await startSolecServe([...slowServe, "--http-port", "0"], {}, { http: true });
    const http = server.httpPort!;
    let slow: SolecClient | undefined;
    try {
      slow = await connect(server.port);
      const seen = async () =>
        sample((await get(http, "/metrics")).body, 'solec_frames_received_total{type="UserAuth"}');
      const login = slow.login("slow@a.test", "pw-slow");
      login.catch(() => {}); // awaited below
      // The server has read the login request (it counts frames before handling them).
      await waitFor(
        "the login request to be in hand",
        async () => ((await seen()) ? true : undefined),
      );

      server.signal("SIGTERM");
      const ready = await waitFor("/readyz to fail", async () => {
        const r = await get(http, "/readyz");
        return r.status === 503 ? r : undefined;
      });
      assert.deepEqual(JSON.parse(ready.body), {
        status: "unavailable",
        checks: { listener: "not listening", store: "ok", shutdown: "shutting down" },
      });
      assert.equal((await get(http, "/healthz")).status, 200, "alive while stopping");
      // The SOLEC listener takes no new connections.
      await assert.rejects(connect(server.port).then((c) => c.close()));

      await login; // answered: Success, not a dropped connection
      assert.equal(slow.address, "slow@a.test");
      const reason = await slow.closed; // then the server closes the session
      assert.ok(reason === undefined || !(reason instanceof SolecError), String(reason));
      assert.equal(await server.exited, 0, server.stderr());
    } finally {
      slow?.close();
      server.signal("SIGKILL"); // no-op once exited
      await server.exited;
    }
    const stopping = records(server).find((r) => r.msg === "stopping");
    assert.deepEqual([stopping?.signal, stopping?.timeoutMs], ["SIGTERM", 10_000]);
    assert.ok(records(server).some((r) => r.msg === "stopped"), server.stderr());
    await assert.rejects(get(http, "/healthz"), "HTTP listener closed after exit");
  });

  it("closes sessions still busy at the deadline, and a second signal exits at once", async () => {
    // Deadline: four slow logins queue behind two scrypt workers (>= 0.7 s);
    // a 200 ms budget cuts them off and the process still exits 0 promptly.
    let server = await startSolecServe(
      [...slowServe, "--http-port", "0", "--shutdown-timeout-ms", "200"],
      {},
      { http: true },
    );
    let clients: SolecClient[] = [];
    const startLogins = async (s: RunningServer) => {
      clients = await Promise.all([1, 2, 3, 4].map(() => connect(s.port)));
      for (const c of clients) c.login("slow@a.test", "pw-slow").catch(() => {});
      await waitFor("logins in hand", async () => {
        const n = sample(
          (await get(s.httpPort!, "/metrics")).body,
          'solec_frames_received_total{type="UserAuth"}',
        );
        return n === 4 ? true : undefined;
      });
    };
    try {
      await startLogins(server);
      const started = Date.now();
      server.signal("SIGTERM");
      assert.equal(await server.exited, 0, server.stderr());
      assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
      await Promise.all(clients.map((c) => c.closed));
    } finally {
      for (const c of clients) c.close();
      server.signal("SIGKILL");
      await server.exited;
    }

    // Second signal: the graceful stop is abandoned, exit 1.
    server = await startSolecServe([...slowServe, "--http-port", "0"], {}, { http: true });
    try {
      await startLogins(server);
      server.signal("SIGTERM");
      await waitFor("/readyz to fail", async () => {
        return (await get(server.httpPort!, "/readyz")).status === 503 ? true : undefined;
      });
      server.signal("SIGINT");
      assert.equal(await server.exited, 1, server.stderr());
      assert.ok(
        records(server).some((r) =>
          r.msg === "second signal; exiting now" && r.signal === "SIGINT"
        ),
        server.stderr(),
      );
    } finally {
      for (const c of clients) c.close();
      server.signal("SIGKILL");
      await server.exited;
    }
  });

  it("exits 1 naming the problem when the HTTP port is taken; runs without HTTP when off", async () => {
    const first = await startSolecServe([...common, "--http-port", "0"], {}, { http: true });
    try {
      const r = await runSolec([
        "serve",
        ...common,
        "--host",
        HOST,
        "--port",
        "0",
        "--http-port",
        String(first.httpPort),
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /"msg":"http start failed"/);
    } finally {
      assert.equal(await first.stop(), 0, first.stderr());
    }
    const off = await startSolecServe([...common, "--http-port", "off"]);
    assert.equal(off.httpPort, undefined);
    assert.equal(await off.stop("SIGINT"), 0, off.stderr());
    assert.ok(!records(off).some((r) => r.msg === "http listening"), off.stderr());
  });
});
