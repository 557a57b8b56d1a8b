/**
 * Bench-only server over the real `memory:` store, pre-filled from a
 * provisioned SQLite file (a `memory:` store starts empty, and `serve` has no
 * way to fill one). Started by scripts/bench-e2e.sh through the per-runtime
 * entries, which import their adapter statically like src/main/*.ts:
 *
 *   bun scripts/bench-serve-memory-bun.ts --from sqlite:PROVISIONED.db [serve flags]
 *   deno run -A scripts/bench-serve-memory-deno.ts --from sqlite:PROVISIONED.db [serve flags]
 *
 * Every `serve` flag (and SOLEC_* variable, --config file) is read by the same
 * loader as `solec serve` and every server setting is handed to SolecServer by
 * name, so the server runs as `serve` would run it, except: the store is a
 * MemoryKv holding a copy of every entry of `--from` (which is only read), and
 * there is no HTTP listener. Helper threads are lowered as `serve` lowers them.
 * Logs `{"msg":"listening",...}` like `serve`; stops on SIGTERM/SIGINT.
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { parseServerArgs } from "../src/config/load.ts";
import { createLogger } from "../src/log.ts";
import { MemoryKv } from "../src/kv/memory.ts";
import { openKv } from "../src/kv/open.ts";
import type { Platform } from "../src/platform.ts";
import { SolecServer } from "../src/server/server.ts";
import { loadServerIdentity, peersFromConfig } from "../src/cli/federation-setup.ts";
import { lowerHelperThreads } from "../src/cli/serve.ts";

/** Copies every entry of `from` into a new MemoryKv, 1000 entries per commit. */
export async function memoryCopy(from: string, platform: Platform): Promise<MemoryKv> {
  const src = openKv(from, { openSqlite: platform.openSqlite });
  const mem = new MemoryKv();
  try {
    let atomic = mem.atomic();
    let n = 0;
    for await (const e of src.list({ prefix: [] }, { batchSize: 1000 })) {
      atomic.set(e.key, e.value);
      if (++n % 1000 === 0) {
        await atomic.commit();
        atomic = mem.atomic();
      }
    }
    await atomic.commit();
  } finally {
    await src.close();
  }
  return mem;
}

export async function serveMemory(argv: string[], platform: Platform): Promise<number> {
  const { config, extra } = parseServerArgs(
    { argv, env: process.env, readFile: (p) => readFileSync(p, "utf8") },
    { from: { type: "string" } },
  );
  if (extra.from === undefined) {
    process.stderr.write("bench-serve-memory: --from sqlite:PATH is required\n");
    return 2;
  }
  const log = createLogger(config.logLevel);
  const kv = await memoryCopy(extra.from, platform);
  const identity = await loadServerIdentity(config, log);
  // Every setting SolecServer knows, by the names serve.ts uses (Config and ServerOptions agree).
  const server = new SolecServer(
    { ...config, tls: undefined, peers: peersFromConfig(config) },
    { net: platform.net, kv, log, identity, collectGarbage: platform.collectGarbage },
  );
  await server.start();
  const helpers = lowerHelperThreads(config, platform, log);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info("stopping", { signal });
  helpers?.stop();
  await server.stop(config.shutdownTimeoutMs);
  await kv.close();
  return 0;
}
