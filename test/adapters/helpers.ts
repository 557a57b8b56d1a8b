/** Shared helpers for the adapter tests: loopback sockets, bounded waits, test certificates. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection, Listener, TlsServerOptions } from "../../src/platform.ts";
import { platform } from "../support/platform.ts";

export const HOST = "127.0.0.1";

/** Rejects with `label` if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Deterministic bytes, different for each `seed`, to catch reordering and corruption. */
export function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The next connection from `listener` (bounded wait). */
export async function accept(listener: Listener, ms = 5_000): Promise<Connection> {
  const result = await within(listener[Symbol.asyncIterator]().next(), ms, "accept");
  if (result.done) throw new Error("listener ended");
  return result.value;
}

/** Reads chunks until `length` bytes arrived or the stream ended; keeps the chunks as yielded. */
export async function readChunks(
  conn: Connection,
  length: number,
  ms = 20_000,
): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  const read = async () => {
    if (length === 0) return;
    for await (const chunk of conn) {
      chunks.push(chunk);
      received += chunk.byteLength;
      if (received >= length) break;
    }
  };
  await within(read(), ms, `reading ${length} bytes (got ${received})`);
  return chunks;
}

export async function readBytes(conn: Connection, length: number, ms?: number) {
  return concat(await readChunks(conn, length, ms));
}

/** Reads until the stream ends; returns the bytes. */
export async function readToEnd(conn: Connection, ms = 10_000): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const read = async () => {
    for await (const chunk of conn) chunks.push(chunk);
  };
  await within(read(), ms, "reading to end");
  return concat(chunks);
}

/** Echoes every chunk back until the peer closes. */
export async function echo(conn: Connection): Promise<void> {
  try {
    for await (const chunk of conn) await conn.send(chunk);
  } catch {
    // The peer went away mid-send: nothing left to echo to.
  } finally {
    conn.close();
  }
}

/** A plain listener with a connected client/server pair. */
export async function connectedPair(listener?: Listener) {
  const own = listener === undefined;
  const l = listener ?? await platform.net.listen({ hostname: HOST, port: 0 });
  const accepted = accept(l);
  const client = await platform.net.connect({ hostname: HOST, port: l.addr.port });
  const server = await accepted;
  const close = async () => {
    client.close();
    server.close();
    if (own) l.close();
    await within(Promise.all([client.closed, server.closed]), 5_000, "closing the pair");
  };
  return { listener: l, client, server, close };
}

export interface TestCerts extends TlsServerOptions {
  /** The CA that signed `cert`; what a client trusts. */
  readonly ca: string;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A throwaway CA and a server certificate for localhost / 127.0.0.1 it signed.
 *
 * A single self-signed certificate cannot serve both runtimes: rustls (Deno)
 * refuses a CA:TRUE certificate as a server certificate (CaUsedAsEndEntity),
 * and BoringSSL (Bun) refuses a CA:FALSE one as a trust anchor.
 */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "solec-tls-"));
  const run = (...args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    run(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=solec test CA",
    );
    run("req", ...ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost");
    writeFileSync(
      join(dir, "leaf.ext"),
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ].join("\n"),
    );
    run(
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "cert.pem",
      "-days",
      "2",
      "-extfile",
      "leaf.ext",
    );
    const read = (name: string) => readFileSync(join(dir, name), "utf8");
    return { cert: read("cert.pem"), key: read("key.pem"), ca: read("ca.pem") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
