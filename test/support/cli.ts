/**
 * Runs the solec CLI as a child process on the runtime running the tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../../src/adapters/runtime.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const runtime = detectRuntime();

/** argv (after the executable) that runs `solec ARGS` on this runtime. */
export function solecArgv(args: string[]): string[] {
  return runtime === "bun"
    ? ["src/main/bun.ts", ...args]
    : ["run", "-A", "--quiet", "src/main/deno.ts", ...args];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs to completion (bounded by `timeoutMs`), feeding `stdin`. */
export function runSolec(
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, solecArgv(args), {
      cwd: ROOT,
      env: { ...cleanEnv(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`solec ${args.join(" ")} timed out\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? "");
  });
}

/** The environment without SOLEC_* settings of the developer's shell. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("SOLEC_")) env[k] = v;
  }
  return env;
}

export interface RunningServer {
  readonly child: ChildProcess;
  readonly port: number;
  /** The HTTP listener's port, when started with `{ http: true }`. */
  readonly httpPort: number | undefined;
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends a signal without waiting. */
  signal(signal: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: "SIGTERM" | "SIGINT" | "SIGKILL"): Promise<number | null>;
}

/**
 * Starts `solec serve` and waits for its "listening" log line (and, with
 * `http`, for the "http listening" line too).
 */
export function startSolecServe(
  args: string[],
  env: Record<string, string> = {},
  options: { http?: boolean } = {},
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      solecArgv(["serve", "--port", "0", "--host", "127.0.0.1", ...args]),
      {
        cwd: ROOT,
        env: { ...cleanEnv(), ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    let resolved = false;
    let gone = false;
    const exited = new Promise<number | null>((r) =>
      child.on("close", (code) => {
        gone = true;
        r(code);
      })
    );
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start:\n${err}`));
    }, 30_000);
    child.stderr?.on("data", (d) => {
      err += d;
      if (resolved) return;
      let port: number | undefined;
      let httpPort: number | undefined;
      for (const line of err.split("\n")) {
        if (!line.startsWith("{")) continue;
        let rec: { msg?: string; port?: number };
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // a line still being written
        }
        if (rec.msg === "listening" && typeof rec.port === "number") port = rec.port;
        if (rec.msg === "http listening" && typeof rec.port === "number") httpPort = rec.port;
      }
      if (port === undefined || (options.http === true && httpPort === undefined)) return;
      resolved = true;
      clearTimeout(timer);
      const send = (signal: "SIGTERM" | "SIGINT" | "SIGKILL") => {
        // process.kill, not child.kill: Deno's child_process reports a child
        // it signalled via child.kill() as killed (code null) even when it
        // exited normally with code 0.
        if (child.pid === undefined || gone) return;
        try {
          process.kill(child.pid, signal);
        } catch (e) {
          // It exited between the check and the kill.
          if ((e as { code?: unknown }).code !== "ESRCH") throw e;
        }
      };
      resolve({
        child,
        port,
        httpPort,
        stderr: () => err,
        exited,
        signal: send,
        async stop(signal = "SIGTERM") {
          send(signal);
          return await exited;
        },
      });
    });
    child.on("close", (code) => {
      if (!resolved) {
        clearTimeout(timer);
        reject(new Error(`serve exited with ${code}:\n${err}`));
      }
    });
  });
}

/**
 * The flags of a CLI-provisioned test store in `dir` (domain a.test, cheap
 * password hashes), with `users` added as `pw-NAME` and made mutual contacts.
 */
export async function provisionStore(dir: string, users = ["alice", "bob"]): Promise<string[]> {
  const common = [
    "--store",
    `sqlite:${join(dir, "solec.db")}`,
    "--key",
    join(dir, "solec.key"),
    "--domain",
    "a.test",
    "--password-cost",
    "10",
  ];
  for (const name of users) {
    const r = await runSolec(["user", "add", name, "--password-stdin", ...common], {
      stdin: `pw-${name}\n`,
    });
    if (r.code !== 0) throw new Error(`user add ${name}: ${r.stderr}`);
  }
  return common;
}
