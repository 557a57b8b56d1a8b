/**
 * `solec serve`: opens the store, starts the SOLEC listener (TLS when a
 * certificate and key are configured), then the HTTP listener for health,
 * readiness and metrics (unless `--http-port off`).
 *
 * On SIGTERM or SIGINT: /readyz answers 503 at once; the SOLEC listener stops
 * accepting; every session answers the request it is handling; queued writes
 * commit; connections close; the HTTP listener drains; the store closes; exit
 * 0. All of it within `shutdownTimeoutMs`: sessions still busy near the end
 * are closed hard, and if the stop as a whole overruns (or a second signal
 * arrives) the process exits 1 at once.
 *
 * Logs are JSON lines on stderr. The SOLEC listener logs
 * `{"msg":"listening","host","port","domain","tls"}`, the HTTP listener
 * `{"msg":"http listening","host","port"}`, both with the real ports (port 0
 * picks a free one).
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Kv } from "../kv/kv.ts";
import type { HttpServer, Platform } from "../platform.ts";
import { createLogger, type Logger } from "../log.ts";
import { SolecServer } from "../server/server.ts";
import { HelperThreads } from "../adapters/helper-threads.ts";
import { createHttpApp } from "../http/app.ts";
import { serverStatus } from "../http/status.ts";
import type { CliIo } from "./io.ts";
import { UsageError } from "./io.ts";
import { openStore } from "./open-store.ts";
import { loadServerIdentity, peersFromConfig } from "./federation-setup.ts";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
type Signal = typeof SIGNALS[number];

export async function serve(config: Config, platform: Platform, io: CliIo): Promise<number> {
  const log = createLogger(config.logLevel, (line) => io.err(line));
  let tls: { cert: string; key: string } | undefined;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    try {
      tls = {
        cert: readFileSync(config.tlsCert, "utf8"),
        key: readFileSync(config.tlsKey, "utf8"),
      };
    } catch (e) {
      throw new UsageError(`TLS files: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // Listen for signals before anything starts: one arriving during start-up
  // stops the server right after it, instead of killing the process.
  const signals = new SignalWatch();
  try {
    const identity = await loadServerIdentity(config, log);
    const kv = openStore(config, platform, { log });
    const server = new SolecServer(
      {
        domain: config.domain,
        host: config.host,
        port: config.port,
        tls,
        maxPayload: config.maxPayload,
        authTimeoutMs: config.authTimeoutMs,
        historyMaxCount: config.historyMaxCount,
        channelAutoCreate: config.channelAutoCreate,
        passwordCost: config.passwordCost,
        peers: peersFromConfig(config),
        maxConnections: config.maxConnections,
        maxConnectionsPerIp: config.maxConnectionsPerIp,
        maxMessageBytes: config.maxMessageBytes,
        rateLimit: config.rateLimit,
        rateBurst: config.rateBurst,
        maxOutputBytes: config.maxOutputBytes,
        outboxMaxAgeMs: config.outboxMaxAgeMs,
      },
      { net: platform.net, kv, log, identity, collectGarbage: platform.collectGarbage },
    );
    try {
      await server.start();
    } catch (e) {
      log.error("start failed", { error: errorText(e) });
      await kv.close();
      return 1;
    }

    let stopping = false;
    let http: HttpServer | null = null;
    if (config.httpPort !== false) {
      const status = serverStatus(server, () => kv.ping(), () => stopping, () => kv.storeStats?.());
      const app = createHttpApp(status, { log });
      try {
        http = await platform.serveHttp({
          hostname: config.httpHost,
          port: config.httpPort,
          fetch: app.fetch,
        });
      } catch (e) {
        log.error("http start failed", {
          host: config.httpHost,
          port: config.httpPort,
          error: errorText(e),
        });
        await server.stop(0);
        await kv.close();
        return 1;
      }
      log.info("http listening", { host: http.addr.hostname, port: http.addr.port });
    }
    const helpers = lowerHelperThreads(config, platform, log);

    const signal = await signals.next();
    helpers?.stop();
    stopping = true;
    const started = Date.now();
    const timeoutMs = config.shutdownTimeoutMs;
    log.info("stopping", { signal, timeoutMs });

    const graceful = shutDown(server, http, kv, timeoutMs, log).then(
      () => "done" as const,
      (e: unknown) => {
        log.error("stop failed", { error: errorText(e) });
        return "failed" as const;
      },
    );
    const outcome = (await within(Promise.race([graceful, signals.next()]), timeoutMs)) ??
      "deadline";
    if (outcome === "done") {
      log.info("stopped", { ms: Date.now() - started });
      return 0;
    }
    if (outcome === "failed") return 1;
    if (outcome === "deadline") {
      log.error("shutdown deadline exceeded; exiting now", { timeoutMs });
    } else {
      log.warn("second signal; exiting now", { signal: outcome });
    }
    return 1;
  } finally {
    signals.dispose();
  }
}

/**
 * The graceful part of the stop. Sessions get most of `timeoutMs`; the rest
 * is kept for committing queued writes, draining HTTP and closing the store.
 */
async function shutDown(
  server: SolecServer,
  http: HttpServer | null,
  kv: Kv,
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const reserve = Math.min(2000, Math.floor(timeoutMs / 5));
  await server.stop(timeoutMs - reserve);
  if (http !== null) {
    // Probes see 503 until here; in-flight HTTP requests are answered.
    const drained = await within(http.shutdown().then(() => true), Math.max(1, reserve / 2));
    if (drained !== true) log.warn("http listener did not drain in time");
  }
  await kv.close();
}

/** Runs the runtime's helper threads below the event loop (`helperThreadNice`; Linux). */
export function lowerHelperThreads(
  config: Pick<Config, "helperThreadNice">,
  platform: Pick<Platform, "helperThreads" | "idleHelperThreads" | "setIdleScheduling">,
  log: Logger,
): HelperThreads | null {
  const names = platform.helperThreads;
  if (config.helperThreadNice === 0 || names === undefined || !HelperThreads.supported) {
    return null;
  }
  const helpers = new HelperThreads({
    names,
    nice: config.helperThreadNice,
    idleNames: platform.idleHelperThreads,
    setIdle: platform.setIdleScheduling,
  });
  helpers.start();
  log.debug("helper threads lowered", {
    nice: config.helperThreadNice,
    threads: helpers.lowered,
    idle: helpers.idled,
  });
  return helpers;
}

/** SIGINT / SIGTERM as a queue: `next()` resolves with the next signal received. */
class SignalWatch {
  readonly #received: Signal[] = [];
  #waiter: ((signal: Signal) => void) | null = null;
  readonly #handlers = SIGNALS.map((signal) => {
    const handler = () => {
      const waiter = this.#waiter;
      this.#waiter = null;
      if (waiter !== null) waiter(signal);
      else this.#received.push(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });

  next(): Promise<Signal> {
    const queued = this.#received.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  dispose(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
  }
}

/** `promise`'s value, or undefined once `ms` have passed (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
