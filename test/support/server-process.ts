/**
 * `solec serve` as a child process for robustness tests and soak scripts:
 * any runtime, any flags, the store and key in a directory of the caller's.
 * It reads the ports from the JSON log lines, counts log lines by `msg`,
 * keeps a bounded tail of the log, samples the child's memory and CPU from
 * /proc, and signals only its own child, by PID.
 *
 * Provisioning (users, contacts, peers) writes the store file before the
 * server starts, like test/support/node.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { openKv } from "../../src/kv/open.ts";
import { Store } from "../../src/store/mod.ts";
import { hashPassword } from "../../src/server/password.ts";
import { Peers } from "../../src/federation/peers.ts";
import { loadOrCreateIdentity, type ServerIdentity } from "../../src/federation/identity.ts";
import { detectRuntime } from "../../src/adapters/runtime.ts";
import { platform } from "./platform.ts";
import { cleanEnv, ROOT } from "./cli.ts";

export type RuntimeName = "bun" | "deno";

export const BIN: Record<RuntimeName, string> = {
  bun: join(ROOT, "node_modules/.bin/bun"),
  deno: join(ROOT, "node_modules/.bin/deno"),
};

/** The runtime running this process. */
export const HERE: RuntimeName = detectRuntime();

export interface ServeOptions {
  readonly runtime: RuntimeName;
  /** Holds solec.db and solec.key. */
  readonly dir: string;
  readonly domain?: string;
  readonly port?: number;
  /** Starts the HTTP listener on a free port (else `--http-port off`). */
  readonly http?: boolean;
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  /** Further `serve` flags, e.g. ["--auth-timeout-ms", "300"]. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
  /** `sqlite:` URL query, e.g. "?synchronous=full". */
  readonly storeQuery?: string;
}

export function storeUrl(dir: string, query = ""): string {
  return `sqlite:${join(dir, "solec.db")}${query}`;
}

export function keyPath(dir: string): string {
  return join(dir, "solec.key");
}

/** Opens the store in `dir` from this process, runs `fn`, closes it. */
export async function withStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const kv = openKv(storeUrl(dir), { openSqlite: platform.openSqlite });
  try {
    return await fn(new Store(kv));
  } finally {
    await kv.close();
  }
}

/** The key in `dir` (created if missing): for peers to trust. */
export async function identityOf(dir: string): Promise<ServerIdentity> {
  mkdirSync(dir, { recursive: true });
  return (await loadOrCreateIdentity(keyPath(dir))).identity;
}

export interface Provision {
  /** [address, password] */
  readonly users?: readonly (readonly [string, string])[];
  /** Mutual contacts [a, b] (both directions written). */
  readonly contacts?: readonly (readonly [string, string])[];
  /** One-way contacts [owner, other]. */
  readonly oneWay?: readonly (readonly [string, string])[];
  readonly peers?: readonly { domain: string; publicKey: string; address: string }[];
}

/** Writes users (scrypt cost 10), contacts and peers into the store in `dir`. */
export async function provision(dir: string, what: Provision): Promise<void> {
  // Hash each distinct password once (cost 10: ~5 ms each).
  const hashes = new Map<string, string>();
  for (const [, pw] of what.users ?? []) {
    if (!hashes.has(pw)) hashes.set(pw, await hashPassword(pw, { cost: 10 }));
  }
  await withStore(dir, async (s) => {
    const users = what.users ?? [];
    for (let i = 0; i < users.length; i += 500) {
      const op = s.kv.atomic();
      for (const [address, pw] of users.slice(i, i + 500)) {
        op.set(["users", address], { phc: hashes.get(pw) as string, created: Date.now() });
      }
      await op.commit();
    }
    const pairs: [string, string][] = [];
    for (const [a, b] of what.contacts ?? []) pairs.push([a, b], [b, a]);
    for (const [a, b] of what.oneWay ?? []) pairs.push([a, b]);
    for (let i = 0; i < pairs.length; i += 500) {
      const op = s.kv.atomic();
      for (const [a, b] of pairs.slice(i, i + 500)) op.set(["contacts", a, b], Date.now());
      await op.commit();
    }
    for (const p of what.peers ?? []) {
      await new Peers(s.kv).set({ ...p, tls: false });
    }
  });
}

export interface ProcFigures {
  /** Resident set (KiB) now and its high-water mark. */
  readonly rssKiB: number;
  readonly hwmKiB: number;
  /** User + system CPU seconds so far. */
  readonly cpuSeconds: number;
}

const CLK_TCK = 100;

/** Memory and CPU of a live process from /proc (Linux), or null once it is gone. */
export function procFigures(pid: number): ProcFigures | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
    // Fields after the parenthesised command name: state is field 3; utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), cpuSeconds: ticks / CLK_TCK };
  } catch {
    return null;
  }
}

export class ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  port = 0;
  httpPort: number | undefined;
  /** Log lines counted by their `msg`. */
  readonly counts = new Map<string, number>();
  /** Log lines counted by level; `error` lines are worth a look after any soak. */
  readonly levels = new Map<string, number>();
  /** The first few error-level lines. */
  readonly errorLines: string[] = [];
  /** The last lines of the log (bounded). */
  readonly tail: string[] = [];
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;
  exitSignal: string | null = null;
  #partial = "";
  #gone = false;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.pid = child.pid as number;
    this.exited = new Promise((resolve) =>
      child.on("close", (code, signal) => {
        this.#gone = true;
        this.exitCode = code;
        this.exitSignal = signal;
        resolve(code);
      })
    );
  }

  static start(o: ServeOptions): Promise<ServerProcess> {
    const argv = [
      ...(o.runtime === "bun" ? ["src/main/bun.ts"] : ["run", "-A", "--quiet", "src/main/deno.ts"]),
      "serve",
      "--domain",
      o.domain ?? "localhost",
      "--host",
      "127.0.0.1",
      "--port",
      String(o.port ?? 0),
      "--http-port",
      o.http === true ? "0" : "off",
      "--store",
      storeUrl(o.dir, o.storeQuery),
      "--key",
      keyPath(o.dir),
      "--password-cost",
      "10",
      "--log-level",
      o.logLevel ?? "info",
      ...(o.args ?? []),
    ];
    const child = spawn(BIN[o.runtime], argv, {
      cwd: ROOT,
      env: cleanEnv(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (child.pid === undefined) return Promise.reject(new Error(`could not start ${o.runtime}`));
    const sp = new ServerProcess(child);
    return new Promise((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        sp.kill("SIGKILL");
        reject(new Error(`serve did not start in time:\n${sp.tail.join("\n")}`));
      }, o.startTimeoutMs ?? 30_000);
      child.stderr?.on("data", (d: Uint8Array | string) => {
        sp.#onLog(String(d));
        if (started || sp.port === 0 || (o.http === true && sp.httpPort === undefined)) return;
        started = true;
        clearTimeout(timer);
        resolve(sp);
      });
      void sp.exited.then((code) => {
        if (started) return;
        clearTimeout(timer);
        reject(new Error(`serve exited with ${code} before listening:\n${sp.tail.join("\n")}`));
      });
    });
  }

  get alive(): boolean {
    return !this.#gone;
  }

  count(msg: string): number {
    return this.counts.get(msg) ?? 0;
  }

  /** Memory and CPU now (null once exited). */
  figures(): ProcFigures | null {
    return this.#gone ? null : procFigures(this.pid);
  }

  /** Signals this child (by its PID) unless it has exited. */
  kill(signal: "SIGTERM" | "SIGINT" | "SIGKILL"): void {
    if (this.#gone) return;
    try {
      process.kill(this.pid, signal);
    } catch (e) {
      if ((e as { code?: unknown }).code !== "ESRCH") throw e;
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`; resolves with the exit code. */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    if (this.#gone) return this.exitCode ?? null;
    this.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return await this.exited;
  }

  /** Kill -9 (a crash) and wait until the process is gone. */
  async crash(): Promise<void> {
    this.kill("SIGKILL");
    await this.exited;
  }

  #onLog(text: string): void {
    const lines = (this.#partial + text).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "") continue;
      this.tail.push(line);
      if (this.tail.length > 200) this.tail.shift();
      if (!line.startsWith("{")) continue;
      let rec: { msg?: unknown; port?: unknown; level?: unknown };
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof rec.level === "string") {
        this.levels.set(rec.level, (this.levels.get(rec.level) ?? 0) + 1);
        if (rec.level === "error" && this.errorLines.length < 10) this.errorLines.push(line);
      }
      if (typeof rec.msg !== "string") continue;
      this.counts.set(rec.msg, (this.counts.get(rec.msg) ?? 0) + 1);
      if (rec.msg === "listening" && typeof rec.port === "number") this.port = rec.port;
      if (rec.msg === "http listening" && typeof rec.port === "number") this.httpPort = rec.port;
    }
  }
}
