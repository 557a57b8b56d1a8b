import type { HttpServer, ServeHttpOptions } from "../../platform.ts";

// The slice of `Bun.serve` used here (bun-types is not loaded; see net.ts).
interface BunServer {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    development: boolean;
    reusePort: boolean;
    fetch(request: Request): Response | Promise<Response>;
  }): BunServer;
};

/** HTTP on `Bun.serve`; port 0 picks a free port, read back from `addr`. */
export function serveHttp(options: ServeHttpOptions): Promise<HttpServer> {
  // Inside an executor so a bind error (port in use) rejects instead of throwing.
  return new Promise((resolve) => {
    const server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      // Production error pages: no source snippets in 500 responses.
      development: false,
      // Must be explicit: with `development: false`, Bun 1.4.5 binds with
      // SO_REUSEPORT, so a second server on a taken port silently "succeeds".
      reusePort: false,
      fetch: guarded(options.fetch),
    });
    resolve({
      addr: { hostname: server.hostname, port: server.port },
      // Graceful: stops accepting, lets in-flight requests finish.
      shutdown: () => server.stop(false),
    });
  });
}

/**
 * A handler that answers 500 when `fetch` throws, the same on both runtimes
 * (`bun test` would otherwise count Bun.serve's own catch as a test failure).
 */
function guarded(fetch: ServeHttpOptions["fetch"]): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return await fetch(request);
    } catch (error) {
      console.error("serveHttp: request handler failed:", error);
      return new Response("Internal Server Error", { status: 500 });
    }
  };
}
