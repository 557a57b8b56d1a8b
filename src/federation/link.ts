/**
 * One outgoing link to a peer server (spec §7): connect, authenticate both
 * ways, then send requests and match replies in order (the peer answers each
 * request with exactly one reply; History replies are Messages then Success).
 *
 * The link is opened on demand and kept open. After a failure it stays down
 * for a backoff period (exponential with jitter) during which requests fail
 * at once, so a client asking about an unreachable peer gets 0x83 promptly.
 */
import type { Connection, NetAdapter } from "../platform.ts";
import {
  ConnType,
  decodePayload,
  encode,
  ErrorCode,
  FrameDecoder,
  MAX_PAYLOAD,
  PayloadType,
  VERSION_MAJOR,
  VERSION_MINOR,
} from "../protocol/mod.ts";
import type { Logger } from "../log.ts";
import { readFileSync } from "node:fs";
import type { PeerRecord } from "./peers.ts";

export interface LinkReply {
  /** 0 for Success, else the Error code. */
  readonly code: number;
  /** History replies: the Message frames, complete with headers. */
  readonly frames: Uint8Array[];
}

interface Pending {
  readonly collect: boolean;
  readonly frames: Uint8Array[];
  /** When the reply is due; a peer that stalls past it is cut off. */
  readonly deadline: number;
  resolve(r: LinkReply): void;
  reject(e: Error): void;
}

export interface LinkDeps {
  readonly net: NetAdapter;
  readonly log: Logger;
  readonly localDomain: string;
  /** Signs our ServerAuth for `peer` at `ts`. */
  sign(peer: string, ts: number): Promise<Uint8Array>;
  /** Verifies the peer's ServerAuth (name, window, signature, replay). */
  verify(
    peer: PeerRecord,
    name: string,
    ts: number | undefined,
    sig: Uint8Array | undefined,
  ): Promise<boolean>;
  lookup(domain: string): Promise<PeerRecord | undefined>;
  connectTimeoutMs: number;
  /** Longest wait for a reply before the peer counts as stalled (default 10 s). */
  requestTimeoutMs?: number;
  onUp(domain: string): void;
  onDown(domain: string): void;
}

interface Reader {
  readonly it: AsyncIterator<Uint8Array>;
  readonly decoder: FrameDecoder;
}

export class LinkDownError extends Error {
  override readonly name = "LinkDownError";
}

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;

/** Copies a received frame (header + payload) out of the decoder's view. */
function frameOf(type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(3 + payload.length);
  f[0] = type;
  f[1] = payload.length >>> 8;
  f[2] = payload.length & 0xff;
  f.set(payload, 3);
  return f;
}

export class PeerLink {
  #conn: Connection | null = null;
  #connecting: Promise<boolean> | null = null;
  #pending: Pending[] = [];
  #failures = 0;
  #downUntil = 0;
  #closed = false;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(readonly domain: string, private readonly deps: LinkDeps) {}

  get up(): boolean {
    return this.#conn !== null;
  }

  /** Milliseconds until a reconnect is allowed (0 = now). */
  get backoffMs(): number {
    return Math.max(0, this.#downUntil - Date.now());
  }

  /** Connects and authenticates if needed; false while backing off or on failure. */
  ensureUp(): Promise<boolean> {
    if (this.#conn !== null) return Promise.resolve(true);
    if (this.#closed || Date.now() < this.#downUntil) return Promise.resolve(false);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = null));
    return this.#connecting;
  }

  /** Sends a request frame; resolves with its reply. Rejects with LinkDownError if the link fails. */
  async request(frame: Uint8Array, collect = false): Promise<LinkReply> {
    if (!(await this.ensureUp()) || this.#conn === null) {
      throw new LinkDownError(`${this.domain} unreachable`);
    }
    const conn = this.#conn;
    const deadline = Date.now() + (this.deps.requestTimeoutMs ?? 10_000);
    return await new Promise<LinkReply>((resolve, reject) => {
      this.#pending.push({ collect, frames: [], deadline, resolve, reject });
      conn.send(frame).catch(() => this.#drop("send failed"));
    });
  }

  close(): void {
    this.#closed = true;
    this.#drop("closed");
  }

  async #connect(): Promise<boolean> {
    const peer = await this.deps.lookup(this.domain);
    if (peer === undefined) return this.#failed("not a known peer");
    const [host, portText] = splitAddress(peer.address);
    let conn: Connection;
    try {
      const tls = peer.tls
        ? {
          caCerts: peer.ca !== undefined ? [readFileSync(peer.ca, "utf8")] : undefined,
          serverName: host,
        }
        : undefined;
      conn = await withTimeout(
        this.deps.net.connect({ hostname: host, port: Number(portText), tls }),
        this.deps.connectTimeoutMs,
      );
    } catch (e) {
      return this.#failed(`connect ${peer.address}: ${e instanceof Error ? e.message : e}`);
    }
    let reader: Reader | null;
    try {
      const ts = Date.now();
      const signature = await this.deps.sign(this.domain, ts);
      const hello = [
        encode({
          type: PayloadType.Handshake,
          major: VERSION_MAJOR,
          minor: VERSION_MINOR,
          connType: ConnType.Server,
        }),
        encode({ type: PayloadType.ServerAuth, name: this.deps.localDomain, ts, signature }),
      ];
      await conn.send(new Uint8Array([...hello[0], ...hello[1]]));
      reader = await withTimeout(this.#authenticate(conn, peer), this.deps.connectTimeoutMs);
      if (reader === null) {
        conn.close();
        return this.#failed("peer authentication failed");
      }
    } catch (e) {
      conn.close();
      return this.#failed(`handshake: ${e instanceof Error ? e.message : e}`);
    }
    this.#conn = conn;
    void this.#readReplies(conn, reader.it, reader.decoder);
    // Replies come in order, so only the oldest request can be overdue.
    this.#watchdog = setInterval(() => {
      const head = this.#pending[0];
      if (head !== undefined && Date.now() > head.deadline) {
        this.#drop("peer stalled: no reply in time");
      }
    }, 500);
    this.#failures = 0;
    this.deps.log.info("peer link up", { peer: this.domain });
    this.deps.onUp(this.domain);
    return true;
  }

  /**
   * Reads the greeting, the peer's ServerAuth and Success. Returns the
   * iterator and decoder (possibly holding more frames) for the reply loop.
   */
  async #authenticate(conn: Connection, peer: PeerRecord): Promise<Reader | null> {
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD });
    const it = conn[Symbol.asyncIterator]();
    let step = 0; // 0: greeting, 1: ServerAuth, 2: Success
    for (;;) {
      const r = await it.next();
      if (r.done) return null;
      decoder.push(r.value);
      for (let t = decoder.next(); t !== -1; t = decoder.next()) {
        const p = decodePayload(t, decoder.payload);
        if (step === 0 && p.type === PayloadType.Handshake && p.major === VERSION_MAJOR) step = 1;
        else if (step === 1 && p.type === PayloadType.ServerAuth) {
          if (!(await this.deps.verify(peer, p.name, p.ts, p.signature?.slice()))) return null;
          step = 2;
        } else if (step === 2 && p.type === PayloadType.Success) {
          // Anything after Success belongs to the reply loop.
          return { it, decoder };
        } else {
          if (p.type === PayloadType.Error) {
            this.deps.log.warn("peer refused our link", { peer: this.domain, code: p.code });
          }
          return null;
        }
      }
    }
  }

  async #readReplies(
    conn: Connection,
    it: AsyncIterator<Uint8Array>,
    decoder: FrameDecoder,
  ): Promise<void> {
    try {
      for (let t = decoder.next(); t !== -1; t = decoder.next()) this.#onFrame(t, decoder.payload);
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        decoder.push(r.value);
        for (let t = decoder.next(); t !== -1; t = decoder.next()) {
          this.#onFrame(t, decoder.payload);
        }
      }
      this.#drop("peer closed the link");
    } catch (e) {
      this.#drop(`link error: ${e instanceof Error ? e.message : e}`);
    }
    if (this.#conn === conn) this.#conn = null;
  }

  #onFrame(type: number, payload: Uint8Array): void {
    const head = this.#pending[0];
    if (type === PayloadType.Test) return;
    if (head === undefined) {
      throw new Error(`unexpected frame 0x${type.toString(16)} with no request`);
    }
    if (type === PayloadType.Message && head.collect) {
      head.frames.push(frameOf(type, payload));
      return;
    }
    if (type === PayloadType.Success || type === PayloadType.Error) {
      this.#pending.shift();
      const code = type === PayloadType.Success ? 0 : (payload[0] ?? ErrorCode.ProtocolViolation);
      head.resolve({ code, frames: head.frames });
      return;
    }
    throw new Error(`unexpected frame 0x${type.toString(16)} on a link`);
  }

  #failed(reason: string): false {
    this.#failures++;
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.#failures - 1, 16));
    // Full jitter in [50 %, 100 %] so reconnect storms spread out.
    const wait = Math.round(exp * (0.5 + Math.random() * 0.5));
    this.#downUntil = Date.now() + wait;
    this.deps.log.warn("peer link failed", { peer: this.domain, reason, retryInMs: wait });
    return false;
  }

  #drop(reason: string): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    const conn = this.#conn;
    const pending = this.#pending;
    this.#pending = [];
    this.#conn = null;
    if (conn !== null) {
      conn.close();
      this.deps.log.info("peer link down", { peer: this.domain, reason });
      this.#failed(reason);
      this.deps.onDown(this.domain);
    }
    for (const p of pending) p.reject(new LinkDownError(reason));
  }
}

export function splitAddress(address: string): [string, string] {
  const m = /^\[(.+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m === null) return [address, "9999"];
  return [m[1], m[2]];
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
