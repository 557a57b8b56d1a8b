/** The operations HTTP app (Hono, no sockets) over a fake server status. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHttpApp } from "../../src/http/app.ts";
import type { ProcessInfo } from "../../src/http/metrics.ts";
import type {
  MessageCounts,
  OutboxStatus,
  PeerStatus,
  ServerStatus,
  StoreStatus,
} from "../../src/http/status.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/http/prometheus.ts";
import { ServerMetrics } from "../../src/server/metrics.ts";
import { PayloadType } from "../../src/protocol/mod.ts";
import { createLogger } from "../../src/log.ts";

interface FakeState {
  listening: boolean;
  shuttingDown: boolean;
  ping: () => Promise<void>;
  client: number;
  server: number;
  awaitingLogin: number;
  messages: MessageCounts;
  outbox: OutboxStatus;
  peers: PeerStatus[];
  store: StoreStatus;
}

function fakeStatus(
  overrides: Partial<FakeState> = {},
): { status: ServerStatus; state: FakeState } {
  const state: FakeState = {
    listening: true,
    shuttingDown: false,
    ping: () => Promise.resolve(),
    client: 0,
    server: 0,
    awaitingLogin: 0,
    messages: { local: 0, channel: 0, remote: 0, inbound: 0 },
    outbox: { pending: 0, sent: 0, rejected: 0, expired: 0 },
    peers: [],
    store: { commits: 0, writes: 0 },
    ...overrides,
  };
  const metrics = new ServerMetrics();
  return {
    state,
    status: {
      listening: () => state.listening,
      shuttingDown: () => state.shuttingDown,
      pingStore: () => state.ping(),
      metrics,
      connections: () => ({
        client: state.client,
        server: state.server,
        awaitingLogin: state.awaitingLogin,
      }),
      messages: () => state.messages,
      outbox: () => state.outbox,
      peers: () => state.peers,
      store: () => state.store,
    },
  };
}

const PROC: ProcessInfo = {
  runtime: "bun",
  runtimeVersion: "1.2.3",
  residentBytes: 52428800,
  heapUsedBytes: 1048576,
  heapTotalBytes: 2097152,
  uptimeSeconds: 12.5,
};

describe("HTTP app: /healthz and /readyz", () => {
  it("/healthz is 200 whatever the server's state", async () => {
    const { status } = fakeStatus({ listening: false, shuttingDown: true });
    const app = createHttpApp(status);
    const res = await app.request("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    assert.equal(res.headers.get("cache-control"), "no-store");
    const head = await app.request("/healthz", { method: "HEAD" });
    assert.equal(head.status, 200);
  });

  it("/readyz is 200 with every check ok", async () => {
    const app = createHttpApp(fakeStatus().status);
    const res = await app.request("/readyz");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await res.json(), {
      status: "ok",
      checks: { listener: "ok", store: "ok", shutdown: "ok" },
    });
  });

  it("/readyz is 503 naming a failing store", async () => {
    const app = createHttpApp(
      fakeStatus({ ping: () => Promise.reject(new Error("disk I/O error")) }).status,
    );
    const res = await app.request("/readyz");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      status: "unavailable",
      checks: { listener: "ok", store: "error: disk I/O error", shutdown: "ok" },
    });
  });

  it("/readyz is 503 when the store does not answer in time", async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const app = createHttpApp(
      fakeStatus({
        ping: () => new Promise((resolve) => (timer = setTimeout(resolve, 5_000))),
      }).status,
      { storeTimeoutMs: 50 },
    );
    try {
      const started = Date.now();
      const res = await app.request("/readyz");
      assert.ok(Date.now() - started < 2_000);
      assert.equal(res.status, 503);
      const body = await res.json() as { checks: { store: string } };
      assert.equal(body.checks.store, "error: no answer within 50 ms");
    } finally {
      clearTimeout(timer);
    }
  });

  it("/readyz is 503 while not listening and from the moment shutdown begins", async () => {
    const { status, state } = fakeStatus();
    const app = createHttpApp(status);
    assert.equal((await app.request("/readyz")).status, 200);
    state.shuttingDown = true;
    let res = await app.request("/readyz");
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      status: "unavailable",
      checks: { listener: "ok", store: "ok", shutdown: "shutting down" },
    });
    state.listening = false;
    res = await app.request("/readyz");
    assert.deepEqual((await res.json() as { checks: unknown }).checks, {
      listener: "not listening",
      store: "ok",
      shutdown: "shutting down",
    });
  });
});

describe("HTTP app: /metrics", () => {
  it("exposes every family in Prometheus text format", async () => {
    const { status } = fakeStatus({
      client: 3,
      server: 1,
      awaitingLogin: 2,
      messages: { local: 5, channel: 7, remote: 2, inbound: 4 },
      outbox: { pending: 9, sent: 21, rejected: 1, expired: 2 },
      peers: [{ domain: "b.test", up: true }, { domain: "c.test", up: false }],
      store: {
        commits: 40,
        writes: 900,
        disk: {
          flusherUp: true,
          checkpoints: 6,
          walRestarts: 2,
          walFrames: 8300,
          commitHoldSeconds: 0.004,
          commitHoldsRanOut: 1,
          fsyncs: 35,
        },
      },
    });
    const m = status.metrics;
    m.bytesReceived = 1234;
    m.bytesSent = 5678;
    m.authFailures = 2;
    m.connectionsAccepted = 11;
    m.authTimeouts = 12;
    m.connectionsRefused = 13;
    m.rateLimited = 14;
    m.abuseDisconnects = 15;
    m.slowConsumerDrops = 16;
    m.protocolErrors = 17;
    m.countReceived(PayloadType.UserAuth);
    m.countReceived(PayloadType.Message);
    m.countReceived(PayloadType.Message);
    m.framesSent[PayloadType.Success] += 3;
    m.observeRequest(PayloadType.Message, 0.0003);
    m.observeRequest(PayloadType.Message, 0.02);
    m.observeRequest(PayloadType.UserAuth, 0.3);

    const app = createHttpApp(status, { process: () => PROC });
    const res = await app.request("/metrics");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    const text = await res.text();
    assert.ok(text.endsWith("\n"));
    const lines = new Set(text.split("\n"));
    for (
      const line of [
        "# TYPE solec_connections gauge",
        'solec_connections{kind="client"} 3',
        'solec_connections{kind="server"} 1',
        "# TYPE solec_connections_awaiting_login gauge",
        "solec_connections_awaiting_login 2",
        "solec_connections_accepted_total 11",
        "# TYPE solec_messages_total counter",
        'solec_messages_total{route="local"} 5',
        'solec_messages_total{route="channel"} 7',
        'solec_messages_total{route="remote"} 2',
        'solec_messages_total{route="inbound"} 4',
        "# TYPE solec_frames_received_total counter",
        'solec_frames_received_total{type="UserAuth"} 1',
        'solec_frames_received_total{type="Message"} 2',
        "# TYPE solec_frames_sent_total counter",
        'solec_frames_sent_total{type="Success"} 3',
        "solec_bytes_received_total 1234",
        "solec_bytes_sent_total 5678",
        "solec_auth_failures_total 2",
        "# TYPE solec_outbox_pending gauge",
        "solec_outbox_pending 9",
        "solec_outbox_sent_total 21",
        "solec_outbox_rejected_total 1",
        "solec_outbox_expired_total 2",
        "solec_auth_timeouts_total 12",
        "solec_connections_refused_total 13",
        "solec_rate_limited_total 14",
        "solec_abuse_disconnects_total 15",
        "solec_slow_consumer_disconnects_total 16",
        "solec_protocol_errors_total 17",
        "solec_store_commits_total 40",
        "solec_store_writes_total 900",
        "# TYPE solec_store_flusher_up gauge",
        "solec_store_flusher_up 1",
        "solec_store_wal_checkpoints_total 6",
        "solec_store_wal_restarts_total 2",
        "# TYPE solec_store_wal_frames gauge",
        "solec_store_wal_frames 8300",
        "solec_store_commit_hold_seconds_total 0.004",
        "solec_store_commit_holds_ran_out_total 1",
        "solec_store_fsyncs_total 35",
        "# TYPE solec_peer_up gauge",
        'solec_peer_up{peer="b.test"} 1',
        'solec_peer_up{peer="c.test"} 0',
        "# TYPE solec_request_duration_seconds histogram",
        'solec_request_duration_seconds_bucket{type="UserAuth",le="0.25"} 0',
        'solec_request_duration_seconds_bucket{type="UserAuth",le="0.5"} 1',
        'solec_request_duration_seconds_bucket{type="UserAuth",le="+Inf"} 1',
        'solec_request_duration_seconds_count{type="UserAuth"} 1',
        'solec_request_duration_seconds_bucket{type="Message",le="0.0001"} 0',
        'solec_request_duration_seconds_bucket{type="Message",le="0.0005"} 1',
        'solec_request_duration_seconds_bucket{type="Message",le="0.025"} 2',
        'solec_request_duration_seconds_bucket{type="Message",le="+Inf"} 2',
        'solec_request_duration_seconds_count{type="Message"} 2',
        "solec_process_resident_memory_bytes 52428800",
        "solec_process_heap_used_bytes 1048576",
        "solec_process_heap_total_bytes 2097152",
        "solec_process_uptime_seconds 12.5",
        'solec_build_info{runtime="bun",version="1.2.3"} 1',
      ]
    ) {
      assert.ok(lines.has(line), `missing line: ${line}\n${text}`);
    }
    // Every family has HELP then TYPE; no sample line lacks its family.
    const families = text.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) =>
      l.split(" ")[2]
    );
    assert.equal(new Set(families).size, families.length);
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const name = line.split(/[{ ]/)[0];
      assert.ok(
        families.some((f) => name === f || name.startsWith(`${f}_`)),
        `sample without family: ${line}`,
      );
    }
    const sum = /solec_request_duration_seconds_sum\{type="Message"\} ([0-9.e-]+)/.exec(text);
    assert.ok(sum !== null && Math.abs(Number(sum[1]) - 0.0203) < 1e-9, text);
  });

  it("leaves out the disk families for a store without background disk work", async () => {
    const app = createHttpApp(fakeStatus({ store: { commits: 1, writes: 2 } }).status);
    const text = await (await app.request("/metrics")).text();
    assert.match(text, /^solec_store_commits_total 1$/m);
    assert.doesNotMatch(text, /solec_store_flusher_up|solec_store_wal_/);
  });

  it("reads the real process by default", async () => {
    const app = createHttpApp(fakeStatus().status);
    const text = await (await app.request("/metrics")).text();
    const rss = /^solec_process_resident_memory_bytes (\d+)$/m.exec(text);
    assert.ok(rss !== null && Number(rss[1]) > 1_000_000, text);
    const up = /^solec_process_uptime_seconds ([0-9.e+-]+)$/m.exec(text);
    assert.ok(up !== null && Number(up[1]) > 0, text);
    assert.match(text, /^solec_build_info\{runtime="(bun|deno)",version="[^"]+"\} 1$/m);
  });
});

describe("HTTP app: errors", () => {
  it("answers unknown paths with a JSON 404", async () => {
    const app = createHttpApp(fakeStatus().status);
    const res = await app.request("/nope");
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { status: "not found" });
    assert.equal((await app.request("/healthz", { method: "POST" })).status, 404);
  });

  it("turns a failing handler into a JSON 500 and logs it", async () => {
    const { status } = fakeStatus();
    status.connections = () => {
      throw new Error("expected test failure");
    };
    const lines: string[] = [];
    const app = createHttpApp(status, { log: createLogger("debug", (l) => lines.push(l)) });
    const res = await app.request("/metrics");
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { status: "error" });
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      records.some((r) => r.msg === "http handler failed" && r.error === "expected test failure"),
      lines.join("\n"),
    );
    assert.ok(
      records.some((r) => r.msg === "http request" && r.path === "/metrics" && r.status === 500),
      lines.join("\n"),
    );
  });
});
