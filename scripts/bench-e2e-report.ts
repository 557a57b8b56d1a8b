/**
 * Ratio tables for scripts/bench-e2e.sh: reads loadgen's JSON lines (one per
 * run), takes the median per (server, scenario), and prints markdown: every
 * server next to ngIRCd and the null relay, then the performance issue's
 * targets for each solec variant with "met" / "NOT met".
 *
 *   bun scripts/bench-e2e-report.ts results.jsonl [more.jsonl ...]
 *
 * solec variants are told apart by label: `-mem` = memory store, else SQLite;
 * `deno` in the label = Deno, else Bun.
 */
import process from "node:process";
import { readFileSync } from "node:fs";

type Run = Record<string, unknown>;

function num(run: Run, path: string): number | undefined {
  let cur: unknown = run;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return 0; // loadgen omits zero values
  return typeof cur === "number" ? cur : undefined;
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

type Case = "pairs" | "rate" | "fanout" | "conns";

function caseOf(run: Run): Case | undefined {
  const params = (run.params ?? {}) as Record<string, unknown>;
  switch (run.scenario) {
    case "pairs":
      return params.rate !== undefined && params.rate !== 0 ? "rate" : "pairs";
    case "fanout":
    case "conns":
      return run.scenario;
  }
  return undefined;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: bench-e2e-report.ts RESULTS.jsonl ...");
  process.exit(2);
}
const runs = new Map<string, Run[]>(); // `${case} ${label}` -> runs
const labels: string[] = [];
for (const f of files) {
  for (const line of readFileSync(f, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    let run: Run;
    try {
      run = JSON.parse(line);
    } catch {
      continue;
    }
    const c = caseOf(run);
    const label = String(run.label ?? "");
    if (c === undefined) continue;
    if (!labels.includes(label)) labels.push(label);
    const k = `${c} ${label}`;
    runs.set(k, [...(runs.get(k) ?? []), run]);
  }
}

const med = (c: Case, label: string, path: string): number | undefined => {
  const xs: number[] = [];
  for (const r of runs.get(`${c} ${label}`) ?? []) {
    const x = num(r, path);
    if (x !== undefined) xs.push(x);
  }
  return median(xs);
};
const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;
const fmt = (x: number | undefined, digits = 0): string =>
  x === undefined ? "-" : x.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
const times = (x: number | undefined): string => (x === undefined ? "-" : `${x.toFixed(2)}x`);
const NAMES: Record<string, string> = { relay: "null relay", ngircd: "ngIRCd" };
const name = (l: string) => NAMES[l] ?? l;

// ---------------------------------------------------------------- side by side
const out: string[] = [];
out.push(
  "## Side by side (medians; ratios against ngIRCd and the null relay)",
  "",
  "other load: cores of the 2 busy with neither this server nor the harness during a " +
    "message run (worst run; machine busy - server - harness): other work on a shared machine.",
  "",
);
out.push(
  "| server | runs | pairs msg/s | x ngIRCd | x relay | fanout deliveries/s | x ngIRCd | x relay " +
    "| rate 5k p99 us | x relay | conns ok / alive | RSS per conn B | lost | errors | other load |",
);
out.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const l of labels) {
  const pairs = med("pairs", l, "delivered_per_s");
  const fan = med("fanout", l, "delivered_per_s");
  const p99 = med("rate", l, "latency.p99_us");
  const all = (["pairs", "rate", "fanout", "conns"] as Case[]).flatMap((c) =>
    runs.get(`${c} ${l}`) ?? []
  );
  const sum = (path: string) => all.reduce((s, r) => s + (num(r, path) ?? 0), 0);
  const connsRuns = runs.get(`conns ${l}`) ?? [];
  // Cores busy with neither server nor harness (other work on a shared machine), worst run.
  const other = Math.max(
    ...all.filter((r) => r.scenario !== "conns").map((r) =>
      (num(r, "machine_busy_cores") ?? 0) - (num(r, "server_cpu_cores") ?? 0) -
      (num(r, "harness_cpu_cores") ?? 0)
    ),
  );
  out.push(
    `| ${name(l)} | ${all.length} | ${fmt(pairs)} | ${
      times(ratio(pairs, med("pairs", "ngircd", "delivered_per_s")))
    } | ${times(ratio(pairs, med("pairs", "relay", "delivered_per_s")))} | ${fmt(fan)} | ${
      times(ratio(fan, med("fanout", "ngircd", "delivered_per_s")))
    } | ${times(ratio(fan, med("fanout", "relay", "delivered_per_s")))} | ${fmt(p99)} | ${
      times(ratio(p99, med("rate", "relay", "latency.p99_us")))
    } | ${
      connsRuns.length === 0
        ? "-"
        : `${fmt(med("conns", l, "conns_ok"))} / ${fmt(med("conns", l, "alive_after_hold"))}`
    } | ${fmt(med("conns", l, "server_rss_per_conn_bytes"))} | ${fmt(sum("lost"))} | ${
      fmt(sum("errors_total"))
    } | ${Number.isFinite(other) ? `<= ${Math.max(0, other).toFixed(2)}` : "-"} |`,
  );
}

// ---------------------------------------------------------------- targets
const solec = labels.filter((l) => l.startsWith("solec"));
const isMem = (l: string) => l.endsWith("-mem");
const isDeno = (l: string) => l.includes("deno");
const cmp = (x: number | undefined, op: ">=" | "<=", bound: number): boolean | undefined =>
  x === undefined ? undefined : op === ">=" ? x >= bound : x <= bound;
const verdict = (
  ok: boolean | undefined,
) => (ok === undefined ? "no data" : ok ? "met" : "NOT met");

out.push("", "## The issue's targets", "");
out.push("| check | server | measured | ratio | target | verdict |");
out.push("|---|---|---|---|---|---|");
const row = (check: string, l: string, measured: string, r: string, target: string, ok?: boolean) =>
  out.push(`| ${check} | ${l} | ${measured} | ${r} | ${target} | ${verdict(ok)} |`);

const ngPairs = med("pairs", "ngircd", "delivered_per_s");
for (const l of solec) {
  const v = med("pairs", l, "delivered_per_s");
  if (v === undefined) {
    const target = isDeno(l)
      ? `>= 0.6x ${l.replace("deno", "bun")}${isMem(l) ? "" : ", >= 0.5x ngIRCd"}`
      : `>= ${isMem(l) ? "1.0" : "0.5"}x ngIRCd`;
    row("pairs 50, full speed, msg/s", l, "no result", "-", target, undefined);
    continue;
  }
  const r = ratio(v, ngPairs);
  const want = isMem(l) ? (isDeno(l) ? undefined : 1.0) : 0.5;
  if (want !== undefined) {
    row(
      "pairs 50, full speed, msg/s",
      l,
      fmt(v),
      `${times(r)} ngIRCd`,
      `>= ${want.toFixed(1)}x ngIRCd (${isMem(l) ? "memory" : "sqlite"})`,
      r === undefined ? undefined : r >= want,
    );
  }
  if (isDeno(l)) {
    const bun = l.replace("deno", "bun");
    const rb = ratio(v, med("pairs", bun, "delivered_per_s"));
    row(
      "pairs 50, full speed, msg/s",
      l,
      fmt(v),
      `${times(rb)} ${bun}`,
      `>= 0.6x ${bun}`,
      cmp(rb, ">=", 0.6),
    );
  }
}
const ngFan = med("fanout", "ngircd", "delivered_per_s");
for (const l of solec) {
  const v = med("fanout", l, "delivered_per_s");
  if (v === undefined) {
    row("fanout 100 members, deliveries/s", l, "no result", "-", ">= 1.0x ngIRCd", undefined);
    continue;
  }
  const r = ratio(v, ngFan);
  row(
    "fanout 100 members, deliveries/s",
    l,
    fmt(v),
    `${times(r)} ngIRCd`,
    ">= 1.0x ngIRCd",
    cmp(r, ">=", 1.0),
  );
}
const relayP99 = med("rate", "relay", "latency.p99_us");
for (const l of solec) {
  const v = med("rate", l, "latency.p99_us");
  if (v === undefined) {
    row("latency at 5,000 msg/s, p99 us", l, "no result", "-", "<= 1.5x relay p99", undefined);
    continue;
  }
  const r = ratio(v, relayP99);
  row(
    "latency at 5,000 msg/s, p99 us",
    l,
    fmt(v),
    `${times(r)} relay`,
    "<= 1.5x relay p99",
    cmp(r, "<=", 1.5),
  );
}
for (const l of solec) {
  const cr = runs.get(`conns ${l}`) ?? [];
  if (cr.length === 0) continue;
  const n = Math.min(...cr.map((r) => Number((r.params as Record<string, unknown>)?.n ?? 5000)));
  const okMin = Math.min(...cr.map((r) => num(r, "conns_ok") ?? 0));
  const aliveMin = Math.min(...cr.map((r) => num(r, "alive_after_hold") ?? 0));
  row(
    "conns 5,000 logged in and held",
    l,
    `${fmt(okMin)} ok, ${fmt(aliveMin)} alive (worst run)`,
    "-",
    `all ${fmt(n)}`,
    okMin === n && aliveMin === n,
  );
  const per = med("conns", l, "server_rss_per_conn_bytes");
  const limit = isDeno(l) ? 8000 : 4000;
  row(
    "conns: server memory per connection",
    l,
    `${fmt(per)} B`,
    "-",
    `<= ${limit / 1000} KB (${isDeno(l) ? "Deno" : "Bun"})`,
    per === undefined || okMin === 0 ? undefined : per <= limit,
  );
}
for (const l of solec) {
  const all = (["pairs", "rate", "fanout", "conns"] as Case[]).flatMap((c) =>
    runs.get(`${c} ${l}`) ?? []
  );
  if (all.length === 0) continue;
  const bad = all.filter((r) => (num(r, "lost") ?? 0) > 0 || (num(r, "errors_total") ?? 0) > 0);
  // A run without a result line (loadgen aborted by its watchdog, or the server did not start).
  const missing = (["pairs", "rate", "fanout", "conns"] as Case[]).reduce(
    (m, c) =>
      m + Math.max(0, ...labels.map((o) => runs.get(`${c} ${o}`)?.length ?? 0)) -
      (runs.get(`${c} ${l}`)?.length ?? 0),
    0,
  );
  const lost = all.reduce((s, r) => s + (num(r, "lost") ?? 0), 0);
  const errors = all.reduce((s, r) => s + (num(r, "errors_total") ?? 0), 0);
  row(
    "every run: zero lost, zero errors",
    l,
    `${bad.length} of ${all.length} runs with losses or errors (lost ${fmt(lost)}, errors ${
      fmt(errors)
    })${missing > 0 ? `; ${missing} run(s) without a result (harness aborted: see its log)` : ""}`,
    "-",
    "0 runs",
    bad.length === 0 && missing === 0,
  );
}
console.log(out.join("\n"));
