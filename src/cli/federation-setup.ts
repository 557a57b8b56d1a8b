/**
 * What `serve` needs for federation: the server's key (created on first start)
 * and the peers listed in the config file.
 */
import { Buffer } from "node:buffer";
import type { Config } from "../config/schema.ts";
import { loadOrCreateIdentity, type ServerIdentity } from "../federation/identity.ts";
import type { PeerRecord } from "../federation/peers.ts";
import type { Logger } from "../log.ts";
import { UsageError } from "./io.ts";

export async function loadServerIdentity(config: Config, log: Logger): Promise<ServerIdentity> {
  try {
    const { identity, created } = await loadOrCreateIdentity(config.key);
    if (created) {
      log.info("created server key", { path: config.key, publicKey: identity.publicKeyBase64 });
    }
    return identity;
  } catch (e) {
    throw new UsageError(`SOLEC_KEY / --key: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function peersFromConfig(config: Config): PeerRecord[] {
  return config.peers.map((p) => ({
    domain: p.domain,
    publicKey: Buffer.from(p.publicKey).toString("base64"),
    address: `${
      p.address.host.includes(":") ? `[${p.address.host}]` : p.address.host
    }:${p.address.port}`,
    tls: p.tls,
  }));
}
