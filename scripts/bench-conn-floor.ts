/**
 * The runtime's own cost of a held TCP connection: the smallest server this runtime allows
 * (Bun: `Bun.listen` with empty handlers; Deno: `Deno.listen` with one pending 128-byte read
 * per connection, as src/adapters/deno/net.ts keeps) holds N idle loopback connections from
 * a child process, and the server's RSS growth per connection is printed. It is the floor
 * under solec's "RSS per connection" in the e2e conns scenario.
 *
 *   bun scripts/bench.ts connfloor [N]      deno task bench connfloor [N]   (default 5000)
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../src/adapters/runtime.ts";

// Just the runtime APIs used here.
declare const Bun: {
  listen(o: {
    hostname: string;
    port: number;
    socket: { open(s: unknown): void; data(): void };
  }): { port: number };
  gc(full: boolean): void;
};
declare const Deno: {
  listen(o: { hostname: string; port: number }): AsyncIterable<DenoConn> & {
    addr: { port: number };
  };
};
interface DenoConn {
  read(buf: Uint8Array): Promise<number | null>;
}

const held: unknown[] = [];

function listen(): number {
  if (detectRuntime() === "bun") {
    return Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (s) => void held.push(s), data() {} },
    }).port;
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  void (async () => {
    for await (const conn of listener) {
      held.push(conn);
      void (async () => {
        const buf = new Uint8Array(128);
        try {
          while ((await conn.read(buf)) !== null);
        } catch {
          // closed
        }
      })();
    }
  })();
  return listener.addr.port;
}

function collect(): void {
  const g = globalThis as { gc?: () => void };
  if (detectRuntime() === "bun") Bun.gc(true);
  else g.gc?.();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 5000);
  if (!Number.isInteger(n) || n < 1 || n > 20_000) {
    console.error("connfloor: N must be an integer from 1 to 20000");
    process.exit(2);
  }
  const port = listen();
  await sleep(300);
  collect();
  const before = process.memoryUsage().rss;
  const clients = fileURLToPath(new URL("./bench-conn-floor-clients.ts", import.meta.url));
  const argv = detectRuntime() === "deno"
    ? ["run", "-A", clients, String(port), String(n)]
    : [clients, String(port), String(n)];
  const child = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "inherit"] });
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => {
      child.stdout.on("data", (d) => String(d).includes("ready") && resolve(true));
      child.on("exit", () => resolve(false));
    }),
    sleep(60_000).then(() => false),
  ]);
  if (!ready) {
    child.kill();
    console.error("connfloor: the clients did not all connect within 60 s");
    process.exit(1);
  }
  await sleep(1000);
  collect();
  await sleep(500);
  const after = process.memoryUsage().rss;
  console.log(
    `${detectRuntime()}: ${held.length} idle connections held, server RSS +${
      ((after - before) / 1048576).toFixed(1)
    } MiB = ${((after - before) / n / 1024).toFixed(2)} KiB per connection`,
  );
  child.stdin.end();
  process.exit(0);
}
