/**
 * Small tools shared by the soak scripts (scripts/soak-*.ts) and the
 * robustness tests: flag parsing, a seeded PRNG, percentiles, a sampler of
 * the server's memory and CPU, and the figure table with "must" verdicts
 * that decides the exit code.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { HERE, procFigures, type RuntimeName } from "./server-process.ts";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `--name value` / `--name=value` flags into a map; `--flag` alone is "true". */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq !== -1) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out.set(a.slice(2), argv[++i]);
    else out.set(a.slice(2), "true");
  }
  return out;
}

export class Flags {
  readonly #map: Map<string, string>;
  readonly #known = new Set<string>();
  constructor(argv: readonly string[] = process.argv.slice(2)) {
    this.#map = parseFlags(argv);
  }

  num(name: string, def: number): number {
    this.#known.add(name);
    const v = this.#map.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name}: not a number: ${v}`);
    return n;
  }

  str(name: string, def: string): string {
    this.#known.add(name);
    return this.#map.get(name) ?? def;
  }

  runtime(): RuntimeName {
    const r = this.str("runtime", HERE);
    if (r !== "bun" && r !== "deno") throw new Error(`--runtime: bun or deno, not ${r}`);
    return r;
  }

  /** Throws on flags nobody asked for (typos). Call after reading all flags. */
  done(): void {
    for (const k of this.#map.keys()) {
      if (!this.#known.has(k)) throw new Error(`unknown flag --${k}`);
    }
  }
}

/** mulberry32: small, fast, seeded; good enough for fuzzing choices. */
export class Rng {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** p-th percentile (0-100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export const fmtMs = (ms: number): string =>
  Number.isNaN(ms) ? "-" : ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`;
export const fmtMiB = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;

/** Samples a process's RSS and CPU every `everyMs`. */
export class ProcSampler {
  readonly samples: { t: number; rssKiB: number; cpuSeconds: number }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #t0 = performance.now();

  constructor(readonly pid: number, everyMs = 500) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const f = procFigures(this.pid);
    if (f === null) return;
    this.samples.push({
      t: (performance.now() - this.#t0) / 1000,
      rssKiB: f.rssKiB,
      cpuSeconds: f.cpuSeconds,
    });
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  get peakRssKiB(): number {
    return Math.max(0, ...this.samples.map((s) => s.rssKiB));
  }

  /** Samples with t in [from, to) seconds. */
  between(from: number, to: number): { t: number; rssKiB: number; cpuSeconds: number }[] {
    return this.samples.filter((s) => s.t >= from && s.t < to);
  }

  /** Average CPU use (1.0 = one core) between two times, and the highest 1-sample rate. */
  cpu(from = 0, to = Infinity): { avg: number; peak: number } {
    const s = this.between(from, to);
    if (s.length < 2) return { avg: NaN, peak: NaN };
    let peak = 0;
    for (let i = 1; i < s.length; i++) {
      const dt = s[i].t - s[i - 1].t;
      if (dt > 0) peak = Math.max(peak, (s[i].cpuSeconds - s[i - 1].cpuSeconds) / dt);
    }
    const avg = (s[s.length - 1].cpuSeconds - s[0].cpuSeconds) / (s[s.length - 1].t - s[0].t);
    return { avg, peak };
  }

  /**
   * Memory bound check over a load phase [from, to): the peak RSS of its
   * last third against the peak of its first third. A server that leaks
   * keeps climbing; one that is bounded levels off after warm-up.
   */
  growth(from: number, to: number): { firstKiB: number; lastKiB: number; ratio: number } {
    const third = (to - from) / 3;
    const peak = (a: number, b: number) => Math.max(0, ...this.between(a, b).map((s) => s.rssKiB));
    const firstKiB = peak(from, from + third);
    const lastKiB = peak(to - third, to);
    return { firstKiB, lastKiB, ratio: firstKiB > 0 ? lastKiB / firstKiB : NaN };
  }
}

/** "12% / 80% of a core". */
export function fmtCpu(cpu: { avg: number; peak: number }): string {
  return `${(cpu.avg * 100).toFixed(0)}% / ${(cpu.peak * 100).toFixed(0)}% of a core`;
}

/** The server's memory and CPU over a soak, as the soaks report them. */
export function reportServerUsage(
  report: Report,
  sampler: ProcSampler,
  usage: {
    /** RSS when the load began, and what the soak calls that moment ("start", "before"). */
    rss0KiB: number;
    rss0Label: string;
    mem: { firstKiB: number; lastKiB: number; ratio: number };
    cpu: { avg: number; peak: number };
  },
): void {
  const { rss0KiB, rss0Label, mem, cpu } = usage;
  report.figure(
    `server RSS ${rss0Label} / peak / end`,
    `${fmtMiB(rss0KiB)} / ${fmtMiB(sampler.peakRssKiB)} / ${
      fmtMiB(sampler.samples.at(-1)?.rssKiB ?? 0)
    }`,
  );
  report.figure(
    "RSS peak 1st third / last third",
    `${fmtMiB(mem.firstKiB)} / ${fmtMiB(mem.lastKiB)} (x${mem.ratio.toFixed(2)})`,
  );
  report.figure("server CPU avg / peak", fmtCpu(cpu));
}

/** The figure table and the verdicts that decide the exit code. */
export class Report {
  readonly #rows: [string, string][] = [];
  readonly #musts: { name: string; ok: boolean; detail: string }[] = [];
  readonly #targets: { name: string; ok: boolean; detail: string }[] = [];

  constructor(readonly title: string) {}

  figure(name: string, value: string | number): void {
    this.#rows.push([name, String(value)]);
  }

  /** A requirement: failing it makes the script exit 1. */
  must(name: string, ok: boolean, detail = ""): void {
    this.#musts.push({ name, ok, detail });
  }

  /** A performance target: reported, never changes the exit code (shared, noisy machines). */
  target(name: string, ok: boolean, detail = ""): void {
    this.#targets.push({ name, ok, detail });
  }

  get ok(): boolean {
    return this.#musts.every((m) => m.ok);
  }

  print(): void {
    const w = Math.max(...this.#rows.map(([k]) => k.length), 10);
    const lines = [`\n== ${this.title}`];
    for (const [k, v] of this.#rows) lines.push(`  ${k.padEnd(w)}  ${v}`);
    for (const m of this.#musts) {
      lines.push(
        `  MUST   ${m.ok ? "PASS" : "FAIL"}  ${m.name}${m.detail ? ` (${m.detail})` : ""}`,
      );
    }
    for (const t of this.#targets) {
      lines.push(
        `  TARGET ${t.ok ? "met " : "MISS"}  ${t.name}${t.detail ? ` (${t.detail})` : ""}`,
      );
    }
    lines.push(`  RESULT ${this.ok ? "PASS" : "FAIL"}`);
    console.log(lines.join("\n"));
  }
}

/** A fresh temp directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `solec-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Loopback source address number `i` inside block `block` (127.block.x.y, never .0/.255). */
export function loopbackIp(block: number, i: number): string {
  return `127.${block}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}
