/**
 * `solec serve`: opens the store, starts the SOLEC listener, and stops
 * cleanly on SIGINT / SIGTERM (stop accepting, commit what is queued, close
 * sessions and the store, exit 0).
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Platform } from "../platform.ts";
import { createLogger } from "../log.ts";
import { SolecServer } from "../server/server.ts";
import type { CliIo } from "./io.ts";
import { UsageError } from "./io.ts";
import { openStore } from "./open-store.ts";

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
  const kv = openStore(config, platform);
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
    },
    { net: platform.net, kv, log },
  );
  try {
    await server.start();
  } catch (e) {
    log.error("start failed", { error: e instanceof Error ? e.message : String(e) });
    await kv.close();
    return 1;
  }
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  const signal = await stopped;
  log.info("stopping", { signal });
  await server.stop();
  await kv.close();
  log.info("stopped");
  return 0;
}
