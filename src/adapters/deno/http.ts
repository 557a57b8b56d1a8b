import type { HttpServer, ServeHttpOptions } from "../../platform.ts";

/** HTTP on `Deno.serve`; port 0 picks a free port, read back from `addr`. */
export function serveHttp(options: ServeHttpOptions): Promise<HttpServer> {
  // Inside an executor so a bind error (port in use) rejects instead of throwing.
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      // Replaces Deno's default "Listening on ..." banner: logging is the caller's job.
      onListen: () => {},
      handler: guarded(options.fetch),
    });
    resolve({
      addr: { hostname: server.addr.hostname, port: server.addr.port },
      // Graceful: stops accepting, lets in-flight requests finish.
      shutdown: () => server.shutdown(),
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
