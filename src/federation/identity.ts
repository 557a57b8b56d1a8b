/**
 * This server's Ed25519 identity (WebCrypto, on both runtimes) and the
 * ServerAuth signature of spec §7:
 *
 *   sig = Ed25519(priv, "SOLEC-S2S-1" ‖ string(from) ‖ string(to) ‖ uint64(ts))
 *
 * where string is the §3 encoding (uint16 length + UTF-8). The key file holds
 * the private key as PKCS#8 PEM, created with mode 0600.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { Buffer } from "node:buffer";

const ALG = { name: "Ed25519" } as const;
const CONTEXT = new TextEncoder().encode("SOLEC-S2S-1");

export interface ServerIdentity {
  readonly privateKey: CryptoKey;
  /** Raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** Base64 of `publicKey`: what peers put in their configuration. */
  readonly publicKeyBase64: string;
}

function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trim();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function fromPem(pem: string): Uint8Array<ArrayBuffer> {
  const m = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(pem);
  if (m === null) throw new Error("not a PKCS#8 PEM private key");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

async function identityFrom(privateKey: CryptoKey): Promise<ServerIdentity> {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new Error("key has no public part");
  const publicKey = new Uint8Array(Buffer.from(jwk.x, "base64url"));
  return { privateKey, publicKey, publicKeyBase64: Buffer.from(publicKey).toString("base64") };
}

/** Reads the key file. Throws with the path in the message if absent or invalid. */
export async function loadIdentity(path: string): Promise<ServerIdentity> {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`key file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const key = await crypto.subtle.importKey("pkcs8", fromPem(pem), ALG, true, ["sign"]);
    return await identityFrom(key);
  } catch (e) {
    throw new Error(
      `key file ${path}: not an Ed25519 private key (${e instanceof Error ? e.message : e})`,
    );
  }
}

/** Loads the key file, creating it (mode 0600) if it does not exist. */
export async function loadOrCreateIdentity(
  path: string,
): Promise<{ identity: ServerIdentity; created: boolean }> {
  if (existsSync(path)) return { identity: await loadIdentity(path), created: false };
  const pair = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  // "wx": never overwrite a key another process created meanwhile.
  writeFileSync(path, toPem(der), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { identity: await loadIdentity(path), created: true };
}

/** Parses a base64 Ed25519 public key; undefined unless it is 32 bytes. */
export function parsePublicKey(b64: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64.trim())) return undefined;
  const raw = new Uint8Array(Buffer.from(b64.trim(), "base64"));
  return raw.length === 32 ? raw : undefined;
}

function signedBytes(from: string, to: string, ts: number): Uint8Array<ArrayBuffer> {
  const f = new TextEncoder().encode(from);
  const t = new TextEncoder().encode(to);
  const out = new Uint8Array(CONTEXT.length + 2 + f.length + 2 + t.length + 8);
  let at = 0;
  out.set(CONTEXT, at);
  at += CONTEXT.length;
  for (const s of [f, t]) {
    out[at] = s.length >>> 8;
    out[at + 1] = s.length & 0xff;
    out.set(s, at + 2);
    at += 2 + s.length;
  }
  const hi = Math.floor(ts / 0x1_0000_0000);
  const lo = ts >>> 0;
  new DataView(out.buffer).setUint32(at, hi);
  new DataView(out.buffer).setUint32(at + 4, lo);
  return out;
}

export async function signServerAuth(
  key: CryptoKey,
  from: string,
  to: string,
  ts: number,
): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ALG, key, signedBytes(from, to, ts)));
}

const importedKeys = new Map<string, Promise<CryptoKey>>();

export async function verifyServerAuth(
  publicKey: Uint8Array,
  from: string,
  to: string,
  ts: number,
  signature: Uint8Array,
): Promise<boolean> {
  const id = Buffer.from(publicKey).toString("base64");
  let key = importedKeys.get(id);
  if (key === undefined) {
    key = crypto.subtle.importKey("raw", publicKey.slice(), ALG, true, ["verify"]);
    importedKeys.set(id, key);
  }
  try {
    return await crypto.subtle.verify(ALG, await key, signature.slice(), signedBytes(from, to, ts));
  } catch {
    return false;
  }
}
