/**
 * Known peer servers: kept in the store (`solec peer add`) and optionally in
 * the JSON config file (`peers`). The store is read on every lookup, so peers
 * added with the CLI while the server runs are used from their next link.
 */
import type { Kv } from "../kv/kv.ts";

export interface PeerRecord {
  readonly domain: string;
  /** Base64 of the raw 32-byte Ed25519 public key. */
  readonly publicKey: string;
  /** host:port (default `<domain>:9999`). */
  readonly address: string;
  readonly tls: boolean;
  /** PEM file of the CA (or the self-signed certificate) to trust for TLS. */
  readonly ca?: string;
}

export const peerKey = (domain: string) => ["peers", domain] as const;

export class Peers {
  constructor(private readonly kv: Kv, private readonly fromConfig: readonly PeerRecord[] = []) {}

  async get(domain: string): Promise<PeerRecord | undefined> {
    const stored =
      (await this.kv.get<PeerRecord & Record<string, string | boolean>>(peerKey(domain)))
        .value;
    if (stored !== null) return { ...stored };
    return this.fromConfig.find((p) => p.domain === domain);
  }

  async set(peer: PeerRecord): Promise<void> {
    const value: Record<string, string | boolean> = {
      domain: peer.domain,
      publicKey: peer.publicKey,
      address: peer.address,
      tls: peer.tls,
    };
    if (peer.ca !== undefined) value.ca = peer.ca;
    await this.kv.set(peerKey(peer.domain), value);
  }

  async delete(domain: string): Promise<boolean> {
    if ((await this.kv.get(peerKey(domain))).versionstamp === null) return false;
    await this.kv.delete(peerKey(domain));
    return true;
  }

  async list(): Promise<PeerRecord[]> {
    const out = new Map<string, PeerRecord>();
    for (const p of this.fromConfig) out.set(p.domain, p);
    for await (const e of this.kv.list<PeerRecord>({ prefix: ["peers"] })) {
      out.set(e.value.domain, { ...e.value });
    }
    return [...out.values()].sort((a, b) => (a.domain < b.domain ? -1 : 1));
  }
}
