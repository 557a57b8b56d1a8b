/**
 * A small renderer for Prometheus' text exposition format (version 0.0.4).
 *
 * The server keeps its metrics as plain counters (see `ServerMetrics`), read
 * at scrape time; this module only turns a snapshot of metric families into
 * text: `# HELP` and `# TYPE` per family, escaped label values, histograms
 * with cumulative `_bucket` lines ending in `le="+Inf"`, then `_sum` and
 * `_count`. No registry, no state, no dependencies.
 *
 * (prom-client runs on both runtimes, but its default process collectors
 * report nonsense there — event-loop lag, Bun's heap — and it is built around
 * push-style instruments; rendering the counters the server already has takes
 * less code than bridging them.)
 */

/** The `Content-Type` of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

export interface HistogramSeries {
  readonly labels?: Labels;
  /**
   * Observations per bucket, NOT cumulative: `counts[i]` for bucket `i` of
   * the family's `buckets`, one more slot at the end for `+Inf`.
   */
  readonly counts: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

export interface ScalarFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: readonly Sample[];
}

export interface HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "histogram";
  /** Upper bounds, strictly increasing, finite (`+Inf` is implied). */
  readonly buckets: readonly number[];
  readonly series: readonly HistogramSeries[];
}

export type MetricFamily = ScalarFamily | HistogramFamily;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `\` → `\\`, `"` → `\"`, line feed → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text: `\` → `\\`, line feed → `\n`. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample value as Prometheus parses it: `+Inf`, `-Inf`, `NaN`, else JS number text. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  if (labels !== undefined) {
    for (const [name, value] of Object.entries(labels)) {
      if (!LABEL_NAME.test(name) || name.startsWith("__") || name === "le") {
        throw new TypeError(`invalid label name ${JSON.stringify(name)}`);
      }
      parts.push(`${name}="${escapeLabelValue(value)}"`);
    }
  }
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/**
 * The exposition text for `families`, in the order given (samples too).
 * Ends with a line feed. Throws TypeError for an invalid metric or label name,
 * a duplicate family, or a histogram series whose counts do not match its
 * buckets.
 */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    const { name } = family;
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new TypeError(`duplicate metric family ${name}`);
    seen.add(name);
    out.push(`# HELP ${name} ${escapeHelp(family.help)}`);
    out.push(`# TYPE ${name} ${family.type}`);
    if (family.type === "histogram") {
      const bounds = family.buckets;
      for (let i = 0; i < bounds.length; i++) {
        if (!Number.isFinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
          throw new TypeError(`${name}: buckets must be finite and strictly increasing`);
        }
      }
      for (const series of family.series) {
        if (series.counts.length !== bounds.length + 1) {
          throw new TypeError(
            `${name}: ${series.counts.length} bucket counts for ${bounds.length} buckets + Inf`,
          );
        }
        let cumulative = 0;
        for (let i = 0; i <= bounds.length; i++) {
          cumulative += series.counts[i];
          const le = i < bounds.length ? formatValue(bounds[i]) : "+Inf";
          out.push(`${name}_bucket${formatLabels(series.labels, ["le", le])} ${cumulative}`);
        }
        const labels = formatLabels(series.labels);
        out.push(`${name}_sum${labels} ${formatValue(series.sum)}`);
        out.push(`${name}_count${labels} ${formatValue(series.count)}`);
      }
    } else {
      for (const sample of family.samples) {
        out.push(`${name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
      }
    }
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
