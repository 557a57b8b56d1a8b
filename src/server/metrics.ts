import { typeName } from "../protocol/mod.ts";

/** Upper bounds (seconds) of the request-time histogram buckets. */
export const REQUEST_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
] as const;

/** A fixed-bucket histogram (Prometheus semantics: cumulative when rendered). */
export class Histogram {
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  readonly counts = new Float64Array(REQUEST_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * Counters the server keeps on its hot paths: plain fields and arrays indexed
 * by payload type, so counting costs an increment. The HTTP layer renders
 * them in Prometheus' text format.
 */
export class ServerMetrics {
  readonly startedAt = Date.now();
  bytesReceived = 0;
  bytesSent = 0;
  authFailures = 0;
  connectionsAccepted = 0;
  /** Connections refused at accept by the global or per-IP limit. */
  connectionsRefused = 0;
  /** Requests refused by the rate limit (0x82), connections cut for abuse. */
  rateLimited = 0;
  abuseDisconnects = 0;
  /** Connections closed because they did not read their output. */
  slowConsumerDrops = 0;
  /** Connections closed by the handshake/auth time limit. */
  authTimeouts = 0;
  /** Frames answered with 0x80 (malformed or not allowed), and other protocol errors. */
  protocolErrors = 0;
  readonly framesReceived = new Float64Array(256);
  readonly framesSent = new Float64Array(256);
  /** Request handling time by request payload type. */
  readonly requestSeconds = new Map<number, Histogram>();

  countReceived(type: number): void {
    this.framesReceived[type]++;
  }

  observeRequest(type: number, seconds: number): void {
    let h = this.requestSeconds.get(type);
    if (h === undefined) this.requestSeconds.set(type, h = new Histogram());
    h.observe(seconds);
  }

  /** Non-zero per-type counters as [type name, count]. */
  static byType(counts: Float64Array): [string, number][] {
    const out: [string, number][] = [];
    for (let t = 0; t < 256; t++) if (counts[t] > 0) out.push([typeName(t), counts[t]]);
    return out;
  }
}
