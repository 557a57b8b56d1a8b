/**
 * A seeded network fuzzer for a live SOLEC server: actors that connect,
 * send random and mutated frames, read what comes back, and reconnect
 * when the server closes. Used by test/robustness/fuzz.test.ts (seconds)
 * and scripts/soak-fuzz.ts (minutes).
 *
 * Actors:
 * - "preauth": random and mutated frames from the first byte, or after a
 *   valid Handshake (greeting/handshake/UserAuth states; never a real
 *   user's name, so the login throttle never delays the other actors);
 * - "postauth": logs in as a fuzz user, then mixes valid requests
 *   (messages, joins, history, list, contacts) with mutated ones;
 * - "link": authenticates as a trusted peer server with a valid signed
 *   ServerAuth, then sends link requests and mutated frames.
 *
 * Every loop ends at the deadline; every wait is bounded.
 */
import { encode, encodeMessage, type Payload, PayloadType } from "../../src/protocol/mod.ts";
import { type ServerIdentity, signServerAuth } from "../../src/federation/identity.ts";
import { loginBytes, WireClient } from "./wire-client.ts";
import { Rng } from "./soak-kit.ts";

export interface FuzzTarget {
  readonly port: number;
  readonly domain: string;
  /** Fuzz users for postauth actors: [address, password]; they are mutual contacts of each other. */
  readonly users: readonly (readonly [string, string])[];
  /** A trusted peer the link actors impersonate (with its real key). */
  readonly peer?: { readonly domain: string; readonly identity: ServerIdentity };
}

export class FuzzStats {
  inputs = 0;
  bytes = 0;
  connections = 0;
  connectFailures = 0;
  /** Error frames received, by code. */
  readonly errors = new Map<number, number>();
  framesReceived = 0;
  /** Connections the server closed (after an error or otherwise). */
  serverCloses = 0;
  logins = 0;
  loginFailures = 0;
  linksUp = 0;
  linksRefused = 0;
  /** The server sent bytes that do not decode: a server bug. */
  readonly badFrames: string[] = [];

  error(code: number): number {
    return this.errors.get(code) ?? 0;
  }

  merge(c: WireClient): void {
    this.framesReceived += c.received;
    for (const [code, n] of c.errors) this.errors.set(code, (this.errors.get(code) ?? 0) + n);
    if (c.badFrame !== null && this.badFrames.length < 10) this.badFrames.push(c.badFrame);
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const TYPES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10, 0x0a, 0x42, 0xff];
const INVALID_UTF8 = [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];

function randomText(rng: Rng, max: number): string {
  const n = rng.int(max + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.7) s += String.fromCharCode(0x20 + rng.int(95));
    else if (r < 0.85) s += String.fromCharCode(0xa0 + rng.int(0x700));
    else if (r < 0.95) s += "👋";
    else s += String.fromCharCode(rng.int(32));
  }
  return s;
}

function bigCounter(rng: Rng): number {
  return rng.pick([0, 1, 5, 100, 500, 501, 10_000, 2 ** 31, 2 ** 53 - 1, rng.int(1000)]);
}

function timestamp(rng: Rng): number {
  return rng.pick([
    0,
    1,
    99_999_999_999,
    1_767_225_600_000 + rng.int(1e9),
    2 ** 53 - 1,
    rng.int(1e6),
  ]);
}

/** Names the server might know, and junk. */
function address(rng: Rng, t: FuzzTarget, kind: "user" | "channel" | "any"): string {
  const k = kind === "any" ? (rng.chance(0.5) ? "user" : "channel") : kind;
  const r = rng.next();
  if (k === "user") {
    if (r < 0.5 && t.users.length > 0) return rng.pick(t.users)[0];
    if (r < 0.6 && t.peer) return `f${rng.int(3)}@${t.peer.domain}`;
    if (r < 0.7) return `nobody${rng.int(5)}@${t.domain}`;
    if (r < 0.8) return `x@elsewhere${rng.int(3)}.test`;
    return randomText(rng, 30);
  }
  if (r < 0.6) return `#fz${rng.int(5)}@${t.domain}`;
  if (r < 0.7 && t.peer) return `#pc${rng.int(2)}@${t.peer.domain}`;
  if (r < 0.8) return `#none@elsewhere.test`;
  return "#" + randomText(rng, 20);
}

/** A well-formed frame a client might send (valid or not for the server's state). */
export function validFrame(rng: Rng, t: FuzzTarget, self: string | null): Uint8Array {
  const me = self ?? (t.users.length > 0 ? rng.pick(t.users)[0] : `u@${t.domain}`);
  const p: Payload = (() => {
    switch (rng.int(11)) {
      case 0:
        return {
          type: 0x03,
          major: rng.pick([0, 0, 0, 1, 255]),
          minor: rng.int(10),
          connType: rng.int(4),
        };
      case 1:
        return {
          type: 0x04,
          username: rng.pick(["victim", "ghost", "", randomText(rng, 70)]),
          password: randomText(rng, 40),
        };
      case 2:
      case 3:
        return {
          type: 0x05,
          source: rng.chance(0.85) ? me : address(rng, t, "user"),
          target: address(rng, t, "any"),
          timestamp: timestamp(rng),
          content: rng.chance(0.05) ? "x".repeat(4000 + rng.int(200)) : randomText(rng, 80),
        };
      case 4:
        return {
          type: 0x07,
          user: rng.chance(0.85) ? me : address(rng, t, "user"),
          channel: address(rng, t, "any"),
          mode: rng.pick([0, 1, 1, 2, 255]),
        };
      case 5:
        return {
          type: 0x08,
          target: address(rng, t, "any"),
          since: rng.chance(0.5) ? 0 : timestamp(rng),
          count: bigCounter(rng),
          offset: rng.chance(0.7) ? 0 : bigCounter(rng),
        };
      case 6:
        return {
          type: 0x09,
          count: bigCounter(rng),
          offset: rng.chance(0.7) ? 0 : bigCounter(rng),
        };
      case 7:
        return { type: 0xff, data: rng.bytes(rng.int(64)) };
      case 8:
        return { type: 0x01 };
      case 9:
        return rng.chance(0.5)
          ? { type: 0x06, name: rng.chance(0.5) && t.peer ? t.peer.domain : randomText(rng, 20) }
          : {
            type: 0x06,
            name: randomText(rng, 20),
            ts: timestamp(rng),
            signature: rng.bytes(rng.int(80)),
          };
      default:
        return rng.chance(0.5)
          ? { type: 0x10, address: address(rng, t, "any") }
          : { type: 0x02, code: rng.int(256) };
    }
  })();
  try {
    return encode(p);
  } catch {
    return encode({ type: 0xff, data: rng.bytes(4) }); // e.g. a string over 65535 bytes
  }
}

/** A mutation of `frame` (or plain noise). */
export function mutate(rng: Rng, frame: Uint8Array): Uint8Array {
  let f = frame.slice();
  const setLen = (b: Uint8Array, n: number) => {
    b[1] = (n >> 8) & 0xff;
    b[2] = n & 0xff;
  };
  switch (rng.int(11)) {
    case 0: // bit flips
      for (let i = 1 + rng.int(4); i > 0; i--) {
        const at = rng.int(f.length);
        f[at] ^= 1 << rng.int(8);
      }
      return f;
    case 1: // interesting byte in the payload
      if (f.length > 3) f[3 + rng.int(f.length - 3)] = rng.pick(INTERESTING);
      return f;
    case 2: { // cut the payload, header adjusted: fields run short
      const keep = rng.int(Math.max(1, f.length - 3));
      f = f.slice(0, 3 + keep);
      setLen(f, keep);
      return f;
    }
    case 3: // cut without adjusting: the server waits for the rest
      return f.slice(0, 3 + rng.int(Math.max(1, f.length - 3)));
    case 4: // length field: random, zero, max, over the limit
      setLen(f, rng.pick([0, 1, f.length - 4, f.length - 2, 8192, 8193, 65535, rng.int(65536)]));
      return f;
    case 5: { // trailing bytes inside the frame (allowed by the profile)
      const extra = rng.bytes(1 + rng.int(16));
      const g = new Uint8Array(f.length + extra.length);
      g.set(f);
      g.set(extra, f.length);
      setLen(g, g.length - 3);
      return g;
    }
    case 6: // another type byte
      f[0] = rng.pick(TYPES);
      return f;
    case 7: // first string length field
      if (f.length >= 5) {
        f[3] = rng.pick(INTERESTING);
        f[4] = rng.pick(INTERESTING);
      }
      return f;
    case 8: { // invalid UTF-8 in the payload
      if (f.length <= 5) return f;
      const bad = rng.pick(INVALID_UTF8);
      const at = 5 + rng.int(Math.max(1, f.length - 5 - bad.length));
      for (let i = 0; i < bad.length && at + i < f.length; i++) f[at + i] = bad[i];
      return f;
    }
    case 9: { // the frame many times (pipelined flood)
      const n = 2 + rng.int(40);
      const g = new Uint8Array(f.length * n);
      for (let i = 0; i < n; i++) g.set(f, i * f.length);
      return g;
    }
    default: // noise
      return rng.bytes(rng.int(300));
  }
}

/** Sends `bytes` whole or in a few pieces with short pauses (the decoder must reassemble). */
async function deliver(rng: Rng, c: WireClient, bytes: Uint8Array): Promise<void> {
  if (bytes.length < 2 || rng.chance(0.8)) {
    c.write(bytes);
    return;
  }
  let at = 0;
  while (at < bytes.length && !c.ended) {
    const n = 1 + rng.int(Math.max(1, bytes.length - at));
    c.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setTimeout(r, rng.int(3)));
  }
}

/** Reads whatever came, waiting up to `ms` for the first of it. */
async function settle(c: WireClient, ms: number): Promise<void> {
  await c.waitActivity(ms);
  c.frames.length = 0;
}

export interface ActorOptions {
  readonly rng: Rng;
  readonly stats: FuzzStats;
  readonly deadline: number;
  readonly localAddress?: string;
  /** Most inputs per connection before reconnecting. */
  readonly inputsPerConnection?: number;
  /** Wait for a reply after each input, ms. */
  readonly replyWaitMs?: number;
}

async function connect(t: FuzzTarget, o: ActorOptions): Promise<WireClient | null> {
  try {
    const c = await WireClient.connect(t.port, { localAddress: o.localAddress, keep: 64 });
    o.stats.connections++;
    return c;
  } catch {
    o.stats.connectFailures++;
    await new Promise((r) => setTimeout(r, 50));
    return null;
  }
}

async function finish(c: WireClient, o: ActorOptions): Promise<void> {
  if (c.ended) o.stats.serverCloses++;
  c.close();
  await c.closed;
  o.stats.merge(c);
}

/** One input: a valid frame (sometimes) or a mutation, delivered whole or split. */
function input(rng: Rng, t: FuzzTarget, self: string | null, validShare: number): Uint8Array {
  const f = validFrame(rng, t, self);
  return rng.chance(validShare) ? f : mutate(rng, f);
}

export async function preauthActor(t: FuzzTarget, o: ActorOptions): Promise<void> {
  const { rng, stats } = o;
  while (performance.now() < o.deadline) {
    const c = await connect(t, o);
    if (c === null) continue;
    if (rng.chance(0.6)) {
      c.write(encode({ type: 0x03, major: 0, minor: 2, connType: rng.pick([1, 1, 2]) }));
    }
    const n = 1 + rng.int(o.inputsPerConnection ?? 6);
    for (let i = 0; i < n && !c.ended && performance.now() < o.deadline; i++) {
      const bytes = input(rng, t, null, 0.3);
      stats.inputs++;
      stats.bytes += bytes.length;
      await deliver(rng, c, bytes);
      await settle(c, o.replyWaitMs ?? 30);
    }
    await finish(c, o);
  }
}

export async function postauthActor(
  t: FuzzTarget,
  o: ActorOptions & { user: readonly [string, string] },
): Promise<void> {
  const { rng, stats } = o;
  const [self, password] = o.user;
  while (performance.now() < o.deadline) {
    const c = await connect(t, o);
    if (c === null) continue;
    c.write(loginBytes(self, password));
    try {
      await c.expectLogin(5000);
      stats.logins++;
    } catch {
      stats.loginFailures++;
      await finish(c, o);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const n = 1 + rng.int(o.inputsPerConnection ?? 60);
    for (let i = 0; i < n && !c.ended && performance.now() < o.deadline; i++) {
      const bytes = input(rng, t, self, 0.6);
      stats.inputs++;
      stats.bytes += bytes.length;
      await deliver(rng, c, bytes);
      await settle(c, o.replyWaitMs ?? 30);
    }
    await finish(c, o);
  }
}

/** A link request from the fuzz peer (valid or nearly). */
function linkFrame(rng: Rng, t: FuzzTarget, peer: string): Uint8Array {
  const user = `f${rng.int(3)}@${peer}`;
  switch (rng.int(4)) {
    case 0:
    case 1:
      return encodeMessage(
        user,
        rng.chance(0.7) ? address(rng, t, "any") : `#pc0@${peer}`,
        timestamp(rng) || 1_767_225_600_000,
        randomText(rng, 60),
      );
    case 2:
      return encode({
        type: 0x07,
        user,
        channel: address(rng, t, "channel"),
        mode: rng.pick([0, 1, 1, 7]),
      });
    default:
      return encode({
        type: 0x08,
        target: address(rng, t, "channel"),
        since: 0,
        count: bigCounter(rng),
        offset: 0,
      });
  }
}

export async function linkActor(t: FuzzTarget, o: ActorOptions): Promise<void> {
  const { rng, stats } = o;
  const peer = t.peer;
  if (peer === undefined) return;
  while (performance.now() < o.deadline) {
    const c = await connect(t, o);
    if (c === null) continue;
    const ts = Date.now();
    const signature = await signServerAuth(peer.identity.privateKey, peer.domain, t.domain, ts);
    c.write(encode({ type: 0x03, major: 0, minor: 2, connType: 2 }));
    c.write(encode({ type: 0x06, name: peer.domain, ts, signature }));
    // Greeting, the server's ServerAuth, Success; or Error 0x03 (e.g. while penalised).
    let up = false;
    for (let k = 0; k < 3 && !c.ended; k++) {
      const p = await c.next(3000).catch(() => null);
      if (p === null || p.type === PayloadType.Error) break;
      if (p.type === PayloadType.Success) up = true;
    }
    if (!up) {
      stats.linksRefused++;
      await finish(c, o);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    stats.linksUp++;
    const n = 1 + rng.int(o.inputsPerConnection ?? 40);
    for (let i = 0; i < n && !c.ended && performance.now() < o.deadline; i++) {
      const f = linkFrame(rng, t, peer.domain);
      const bytes = rng.chance(0.8) ? f : mutate(rng, f);
      stats.inputs++;
      stats.bytes += bytes.length;
      await deliver(rng, c, bytes);
      await settle(c, o.replyWaitMs ?? 30);
    }
    await finish(c, o);
  }
}
