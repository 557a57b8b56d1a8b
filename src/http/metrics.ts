/**
 * The metric families `/metrics` exposes, read from a {@link ServerStatus}
 * and the process at scrape time.
 */
import process from "node:process";
import { typeName } from "../protocol/mod.ts";
import { REQUEST_BUCKETS, ServerMetrics } from "../server/metrics.ts";
import type { HistogramSeries, MetricFamily } from "./prometheus.ts";
import type { ServerStatus } from "./status.ts";
import type { KvStoreStats } from "../kv/kv.ts";

/** Process figures; injectable so tests get fixed values. */
export interface ProcessInfo {
  readonly runtime: string;
  readonly runtimeVersion: string;
  readonly residentBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly uptimeSeconds: number;
}

/** The running process (node:process works on Bun and Deno alike). */
export function currentProcess(): ProcessInfo {
  const mem = process.memoryUsage();
  const versions = process.versions as Record<string, string | undefined>;
  const runtime = versions.bun !== undefined ? "bun" : versions.deno !== undefined ? "deno" : "js";
  return {
    runtime,
    runtimeVersion: versions[runtime] ?? versions.node ?? "",
    residentBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    heapTotalBytes: mem.heapTotal,
    uptimeSeconds: process.uptime(),
  };
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "counter", samples: [{ value }] };
}

function gauge(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: "gauge", samples: [{ value }] };
}

function framesByType(name: string, help: string, counts: Float64Array): MetricFamily {
  return {
    name,
    help,
    type: "counter",
    samples: ServerMetrics.byType(counts).map(([type, value]) => ({ labels: { type }, value })),
  };
}

/** The store's background disk work (SQLite's flusher threads); none for other stores. */
function diskFamilies(disk: KvStoreStats | undefined): MetricFamily[] {
  if (disk === undefined) return [];
  return [
    gauge(
      "solec_store_flusher_up",
      "1 while the SQLite store's flusher threads run (fsyncs, checkpoints), else 0.",
      disk.flusherUp ? 1 : 0,
    ),
    counter(
      "solec_store_wal_checkpoints_total",
      "WAL checkpoints run by the flusher's checkpoint thread.",
      disk.checkpoints,
    ),
    counter(
      "solec_store_wal_restarts_total",
      "Times the WAL was emptied and started over.",
      disk.walRestarts,
    ),
    gauge("solec_store_wal_frames", "WAL length in pages at the last checkpoint.", disk.walFrames),
    counter(
      "solec_store_commit_hold_seconds_total",
      "Time commits were held while the WAL was emptied for a restart.",
      disk.commitHoldSeconds,
    ),
    counter(
      "solec_store_commit_holds_ran_out_total",
      "Holds for a WAL restart that reached their time limit before the WAL emptied.",
      disk.commitHoldsRanOut,
    ),
    counter(
      "solec_store_fsyncs_total",
      "Fsyncs of the SQLite WAL that made commits durable (each covers every commit before it).",
      disk.fsyncs,
    ),
  ];
}

/** Every family, in a fixed order. */
export function collectMetrics(
  status: ServerStatus,
  proc: ProcessInfo = currentProcess(),
): MetricFamily[] {
  const m = status.metrics;
  const conns = status.connections();
  const msgs = status.messages();
  const outbox = status.outbox();
  const store = status.store();
  const requestSeries: HistogramSeries[] = [...m.requestSeconds.entries()]
    .sort(([a], [b]) => a - b)
    .map(([type, h]) => ({
      labels: { type: typeName(type) },
      counts: h.counts,
      sum: h.sum,
      count: h.count,
    }));
  return [
    {
      name: "solec_connections",
      help: "Open connections: client = user sessions, server = peer server links.",
      type: "gauge",
      samples: [
        { labels: { kind: "client" }, value: conns.client },
        { labels: { kind: "server" }, value: conns.server },
      ],
    },
    gauge(
      "solec_connections_awaiting_login",
      "Open connections on the SOLEC listener that have not sent their login yet (inside the login time limit).",
      conns.awaitingLogin,
    ),
    counter(
      "solec_connections_accepted_total",
      "Client connections accepted by the SOLEC listener.",
      m.connectionsAccepted,
    ),
    {
      name: "solec_messages_total",
      help:
        "Messages routed: local = direct between local users, channel = to local channels, remote = to peers, inbound = from peers.",
      type: "counter",
      samples: (["local", "channel", "remote", "inbound"] as const).map((route) => ({
        labels: { route },
        value: msgs[route],
      })),
    },
    framesByType(
      "solec_frames_received_total",
      "Frames received from clients, by payload type.",
      m.framesReceived,
    ),
    framesByType(
      "solec_frames_sent_total",
      "Frames sent to clients, by payload type.",
      m.framesSent,
    ),
    counter("solec_bytes_received_total", "Bytes received from clients.", m.bytesReceived),
    counter("solec_bytes_sent_total", "Bytes sent to clients.", m.bytesSent),
    counter("solec_auth_failures_total", "Failed client logins.", m.authFailures),
    counter(
      "solec_auth_timeouts_total",
      "Connections closed for not completing handshake and login in time.",
      m.authTimeouts,
    ),
    counter(
      "solec_connections_refused_total",
      "Connections refused at accept by the global or per-IP connection limit.",
      m.connectionsRefused,
    ),
    counter(
      "solec_rate_limited_total",
      "Requests refused by the per-connection rate limit (error 0x82).",
      m.rateLimited,
    ),
    counter(
      "solec_abuse_disconnects_total",
      "Connections cut off for exceeding the rate limit persistently.",
      m.abuseDisconnects,
    ),
    counter(
      "solec_slow_consumer_disconnects_total",
      "Connections closed because they did not read their output.",
      m.slowConsumerDrops,
    ),
    counter(
      "solec_protocol_errors_total",
      "Malformed or disallowed frames (answered with error 0x80) and other protocol errors.",
      m.protocolErrors,
    ),
    gauge(
      "solec_outbox_pending",
      "Messages queued for peer servers, not yet delivered.",
      outbox.pending,
    ),
    counter("solec_outbox_sent_total", "Outbox messages delivered to peer servers.", outbox.sent),
    counter(
      "solec_outbox_rejected_total",
      "Outbox messages a peer server refused for good.",
      outbox.rejected,
    ),
    counter(
      "solec_outbox_expired_total",
      "Outbox messages dropped undelivered after their time limit.",
      outbox.expired,
    ),
    {
      name: "solec_peer_up",
      help: "1 while the link to the peer server is up, else 0.",
      type: "gauge",
      samples: status.peers().map((p) => ({ labels: { peer: p.domain }, value: p.up ? 1 : 0 })),
    },
    counter("solec_store_commits_total", "Group-commit transactions committed.", store.commits),
    counter("solec_store_writes_total", "Writes in those transactions.", store.writes),
    ...diskFamilies(store.disk),
    {
      name: "solec_request_duration_seconds",
      help: "Time to handle a client request, by request payload type.",
      type: "histogram",
      buckets: REQUEST_BUCKETS,
      series: requestSeries,
    },
    gauge(
      "solec_process_resident_memory_bytes",
      "Resident set size of the process.",
      proc.residentBytes,
    ),
    gauge("solec_process_heap_used_bytes", "JavaScript heap in use.", proc.heapUsedBytes),
    gauge("solec_process_heap_total_bytes", "JavaScript heap reserved.", proc.heapTotalBytes),
    gauge("solec_process_uptime_seconds", "Seconds since the process started.", proc.uptimeSeconds),
    {
      name: "solec_build_info",
      help: "Always 1; labels name the runtime and its version.",
      type: "gauge",
      samples: [{ labels: { runtime: proc.runtime, version: proc.runtimeVersion }, value: 1 }],
    },
  ];
}
