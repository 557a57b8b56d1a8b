/**
 * `solec key generate|show` and `solec peer add|del|list`.
 */
import { existsSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import { isValidDomain } from "../protocol/mod.ts";
import { loadIdentity, loadOrCreateIdentity, parsePublicKey } from "../federation/identity.ts";
import { Peers } from "../federation/peers.ts";
import type { Kv } from "../kv/kv.ts";
import { CommandFailed } from "./admin.ts";
import { type CliIo, UsageError } from "./io.ts";
import { peersFromConfig } from "./federation-setup.ts";

export async function keyCommand(
  config: Config,
  io: CliIo,
  sub: string | undefined,
): Promise<void> {
  switch (sub) {
    case "generate": {
      const { identity, created } = await loadOrCreateIdentity(config.key);
      io.out(created ? `created ${config.key}` : `${config.key} exists; not overwritten`);
      // The public key is the last line, so scripts can take it with `tail -n 1`.
      io.out(identity.publicKeyBase64);
      return;
    }
    case "show": {
      if (!existsSync(config.key)) {
        throw new CommandFailed(`no key at ${config.key}: run solec key generate`);
      }
      io.out((await loadIdentity(config.key)).publicKeyBase64);
      return;
    }
    default:
      throw new UsageError("usage: solec key generate|show [--key PATH]");
  }
}

export async function peerCommand(
  config: Config,
  kv: Kv,
  io: CliIo,
  sub: string | undefined,
  args: string[],
  options: { address?: string; tls?: boolean; ca?: string },
): Promise<void> {
  const peers = new Peers(kv, peersFromConfig(config));
  switch (sub) {
    case "add": {
      const domain = args[0]?.toLowerCase();
      if (domain === undefined || !isValidDomain(domain)) {
        throw new UsageError(`peer add: ${JSON.stringify(args[0] ?? "")} is not a domain name`);
      }
      if (domain === config.domain) {
        throw new UsageError(`peer add: ${domain} is this server's own domain`);
      }
      const key = args[1];
      if (key === undefined || parsePublicKey(key) === undefined) {
        throw new UsageError("peer add: PUBLICKEY must be the base64 of a 32-byte Ed25519 key");
      }
      const address = options.address ?? `${domain}:9999`;
      if (
        !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(address) ||
        Number(address.split(":").pop()) > 65535
      ) {
        throw new UsageError(`--address: ${JSON.stringify(address)} is not HOST:PORT`);
      }
      if (options.ca !== undefined && !existsSync(options.ca)) {
        throw new UsageError(`--ca: no file ${options.ca}`);
      }
      await peers.set({
        domain,
        publicKey: key.trim(),
        address,
        tls: options.tls === true,
        ca: options.ca,
      });
      io.out(`peer ${domain} at ${address}${options.tls ? " (TLS)" : ""}`);
      return;
    }
    case "del": {
      const domain = args[0]?.toLowerCase();
      if (domain === undefined) throw new UsageError("usage: solec peer del DOMAIN");
      if (!(await peers.delete(domain))) throw new CommandFailed(`no peer ${domain} in the store`);
      io.out(`deleted peer ${domain}`);
      return;
    }
    case "list":
      for (const p of await peers.list()) {
        io.out(`${p.domain}\t${p.address}\t${p.tls ? "tls" : "plain"}\t${p.publicKey}`);
      }
      return;
    default:
      throw new UsageError(
        "usage: solec peer add DOMAIN PUBLICKEY [--address HOST:PORT] [--tls] [--ca PEM] | del DOMAIN | list",
      );
  }
}
