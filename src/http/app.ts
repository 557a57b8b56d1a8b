/**
 * The operations HTTP endpoints as a Hono app (no sockets: `solec serve`
 * hands `app.fetch` to `Platform.serveHttp`; tests call `app.request`).
 *
 * - `GET /healthz`: 200 while the process is alive (it answers, so it is).
 * - `GET /readyz`: 200 while the SOLEC listener accepts, the store answers
 *   within `storeTimeoutMs`, and no shutdown has begun; otherwise 503. The
 *   JSON body names every check: `"ok"` or what is wrong.
 * - `GET /metrics`: Prometheus text format (see `./metrics.ts`).
 *
 * Responses are not cacheable. Anything else is a JSON 404.
 */
import { Hono } from "hono";
import { type Logger, silentLogger } from "../log.ts";
import { collectMetrics, currentProcess, type ProcessInfo } from "./metrics.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./prometheus.ts";
import type { ServerStatus } from "./status.ts";

export interface HttpAppOptions {
  /** How long /readyz waits for the store (default 1000 ms). */
  readonly storeTimeoutMs?: number;
  /** Requests are logged at debug level; handler failures at error. */
  readonly log?: Logger;
  /** Process figures for /metrics (default: the running process). */
  readonly process?: () => ProcessInfo;
}

export type CheckResult = "ok" | string;

export interface Readiness {
  readonly ok: boolean;
  readonly checks: { listener: CheckResult; store: CheckResult; shutdown: CheckResult };
}

export const DEFAULT_STORE_TIMEOUT_MS = 1000;

/** Runs the readiness checks (the store check is bounded by `storeTimeoutMs`). */
export async function checkReadiness(
  status: ServerStatus,
  storeTimeoutMs = DEFAULT_STORE_TIMEOUT_MS,
): Promise<Readiness> {
  const shutdown = status.shuttingDown() ? "shutting down" : "ok";
  const listener = status.listening() ? "ok" : "not listening";
  const store = await checkStore(status, storeTimeoutMs);
  return {
    ok: shutdown === "ok" && listener === "ok" && store === "ok",
    checks: { listener, store, shutdown },
  };
}

async function checkStore(status: ServerStatus, timeoutMs: number): Promise<CheckResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve(`error: no answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([
      status.pingStore().then(
        () => "ok",
        (e: unknown) => `error: ${e instanceof Error ? e.message : String(e)}`,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHttpApp(status: ServerStatus, options: HttpAppOptions = {}): Hono {
  const log = options.log ?? silentLogger;
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const proc = options.process ?? currentProcess;
  const app = new Hono();

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    c.header("Cache-Control", "no-store");
    log.debug("http request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 1000) / 1000,
    });
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const r = await checkReadiness(status, storeTimeoutMs);
    return c.json({ status: r.ok ? "ok" : "unavailable", checks: r.checks }, r.ok ? 200 : 503);
  });

  app.get("/metrics", (c) => {
    const text = renderPrometheus(collectMetrics(status, proc()));
    return c.body(text, 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });

  app.notFound((c) => c.json({ status: "not found" }, 404));

  app.onError((error, c) => {
    log.error("http handler failed", {
      path: c.req.path,
      error: error instanceof Error ? error.message : String(error),
    });
    return c.json({ status: "error" }, 500);
  });

  return app;
}
