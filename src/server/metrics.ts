import { typeName } from "../protocol/mod.ts";

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
  readonly framesReceived = new Float64Array(256);
  readonly framesSent = new Float64Array(256);

  countReceived(type: number): void {
    this.framesReceived[type]++;
  }

  /** Non-zero per-type counters as [type name, count]. */
  static byType(counts: Float64Array): [string, number][] {
    const out: [string, number][] = [];
    for (let t = 0; t < 256; t++) if (counts[t] > 0) out.push([typeName(t), counts[t]]);
    return out;
  }
}
