/**
 * Payload and frame encoding (spec §2–§4).
 *
 * Encoding computes the exact frame size first and writes into one
 * allocation. Decoding reads straight from the received bytes: binary fields
 * (Test data, ServerAuth signature) are `subarray` views, never copies.
 *
 * The reader keeps its cursor in module state rather than in an object per
 * frame: decoding is synchronous and never re-entered, and this keeps the hot
 * path free of allocations other than the payload object itself.
 */
import {
  HEADER_SIZE,
  isKnownType,
  MAX_PAYLOAD,
  PayloadType,
  SECONDS_THRESHOLD,
} from "./constants.ts";
import { malformed } from "./errors.ts";
import type { Payload } from "./payloads.ts";
import { allocFrame } from "./alloc.ts";
import {
  beginPrepare,
  isUtf8,
  prepareUtf8,
  readUtf8,
  readUtf8Cached,
  writePrepared,
} from "./utf8.ts";

const TWO_32 = 0x1_0000_0000;

/** A received timestamp below 1e11 is in seconds (spec §3): scale it to ms. */
export function normaliseTimestamp(t: number): number {
  return t < SECONDS_THRESHOLD ? t * 1000 : t;
}

// ---------------------------------------------------------------- encoding

function checkU8(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) {
    throw new RangeError(`${field}: ${v} is not a uint8`);
  }
}

function checkU64(field: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${field}: ${v} is not a non-negative safe integer`);
  }
}

function header(type: number, payloadLength: number): Uint8Array {
  if (payloadLength > MAX_PAYLOAD) {
    throw new RangeError(`payload of ${payloadLength} bytes exceeds the frame limit of 65535`);
  }
  const out = allocFrame(HEADER_SIZE + payloadLength);
  out[0] = type;
  out[1] = payloadLength >>> 8;
  out[2] = payloadLength & 0xff;
  return out;
}

/** Measures a string field (see `prepareUtf8`) and checks it fits a uint16 length. */
function prep(field: string, s: string): number {
  const bytes = prepareUtf8(s);
  if (bytes > 0xffff) throw new RangeError(`${field}: ${bytes} bytes exceeds a string's 65535`);
  return bytes;
}

/** Writes the next prepared string field with its uint16 length prefix. */
function putString(out: Uint8Array, at: number, s: string, bytes: number): number {
  out[at] = bytes >>> 8;
  out[at + 1] = bytes & 0xff;
  return writePrepared(out, at + 2, s, bytes);
}

function putU64(out: Uint8Array, at: number, v: number): number {
  const hi = Math.floor(v / TWO_32);
  const lo = v >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = (hi >>> 16) & 0xff;
  out[at + 2] = (hi >>> 8) & 0xff;
  out[at + 3] = hi & 0xff;
  out[at + 4] = lo >>> 24;
  out[at + 5] = (lo >>> 16) & 0xff;
  out[at + 6] = (lo >>> 8) & 0xff;
  out[at + 7] = lo & 0xff;
  return at + 8;
}

/** Encodes a Message frame; the hot path of the server, so spelled out. */
export function encodeMessage(
  source: string,
  target: string,
  timestamp: number,
  content: string,
): Uint8Array {
  beginPrepare();
  const ls = prep("source", source);
  const lt = prep("target", target);
  const lc = prep("content", content);
  checkU64("timestamp", timestamp);
  const out = header(PayloadType.Message, 14 + ls + lt + lc);
  let at = putString(out, HEADER_SIZE, source, ls);
  at = putString(out, at, target, lt);
  at = putU64(out, at, timestamp);
  putString(out, at, content, lc);
  return out;
}

/**
 * A frame with this type and payload, copied into one allocation: what a
 * server stores and forwards when the received frame is already canonical
 * (cheaper than encoding the decoded payload again).
 */
export function frameOf(type: number, payload: Uint8Array): Uint8Array {
  const out = header(type, payload.length);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** Encodes one payload as a complete frame (header included) in one allocation. */
export function encode(p: Payload): Uint8Array {
  switch (p.type) {
    case PayloadType.Success:
      return header(PayloadType.Success, 0);
    case PayloadType.Error: {
      checkU8("code", p.code);
      const out = header(PayloadType.Error, 1);
      out[3] = p.code;
      return out;
    }
    case PayloadType.Handshake: {
      checkU8("major", p.major);
      checkU8("minor", p.minor);
      checkU8("connType", p.connType);
      const out = header(PayloadType.Handshake, 3);
      out[3] = p.major;
      out[4] = p.minor;
      out[5] = p.connType;
      return out;
    }
    case PayloadType.UserAuth: {
      beginPrepare();
      const lu = prep("username", p.username);
      const lp = prep("password", p.password);
      const out = header(PayloadType.UserAuth, 4 + lu + lp);
      putString(out, putString(out, HEADER_SIZE, p.username, lu), p.password, lp);
      return out;
    }
    case PayloadType.Message:
      return encodeMessage(p.source, p.target, p.timestamp, p.content);
    case PayloadType.ServerAuth: {
      beginPrepare();
      const ln = prep("name", p.name);
      if (p.ts === undefined && p.signature === undefined) {
        const out = header(PayloadType.ServerAuth, 2 + ln);
        putString(out, HEADER_SIZE, p.name, ln);
        return out;
      }
      if (p.ts === undefined || p.signature === undefined) {
        throw new RangeError("ServerAuth: ts and signature go together");
      }
      checkU64("ts", p.ts);
      const sig = p.signature;
      if (sig.length > 0xffff) throw new RangeError(`signature: ${sig.length} bytes exceeds 65535`);
      const out = header(PayloadType.ServerAuth, 2 + ln + 8 + 2 + sig.length);
      let at = putString(out, HEADER_SIZE, p.name, ln);
      at = putU64(out, at, p.ts);
      out[at] = sig.length >>> 8;
      out[at + 1] = sig.length & 0xff;
      out.set(sig, at + 2);
      return out;
    }
    case PayloadType.Usermode: {
      beginPrepare();
      const lu = prep("user", p.user);
      const lc = prep("channel", p.channel);
      checkU8("mode", p.mode);
      const out = header(PayloadType.Usermode, 5 + lu + lc);
      const at = putString(out, putString(out, HEADER_SIZE, p.user, lu), p.channel, lc);
      out[at] = p.mode;
      return out;
    }
    case PayloadType.History: {
      beginPrepare();
      const lt = prep("target", p.target);
      checkU64("since", p.since);
      checkU64("count", p.count);
      checkU64("offset", p.offset);
      const out = header(PayloadType.History, 2 + lt + 24);
      let at = putString(out, HEADER_SIZE, p.target, lt);
      at = putU64(out, at, p.since);
      at = putU64(out, at, p.count);
      putU64(out, at, p.offset);
      return out;
    }
    case PayloadType.List: {
      checkU64("count", p.count);
      checkU64("offset", p.offset);
      const out = header(PayloadType.List, 16);
      putU64(out, putU64(out, HEADER_SIZE, p.count), p.offset);
      return out;
    }
    case PayloadType.ListItem: {
      beginPrepare();
      const la = prep("address", p.address);
      const out = header(PayloadType.ListItem, 2 + la);
      putString(out, HEADER_SIZE, p.address, la);
      return out;
    }
    case PayloadType.Test: {
      const out = header(PayloadType.Test, p.data.length);
      out.set(p.data, HEADER_SIZE);
      return out;
    }
  }
}

// ---------------------------------------------------------------- decoding

let rb: Uint8Array = new Uint8Array(0);
let rp = 0;
let re = 0;
let rtype = "";

function need(n: number, field: string): void {
  if (re - rp < n) throw malformed(`${rtype}: payload ends inside field "${field}"`);
}

function u8(field: string): number {
  need(1, field);
  return rb[rp++];
}

function str(field: string, cached = false): string {
  need(2, field);
  const len = (rb[rp] << 8) | rb[rp + 1];
  rp += 2;
  need(len, field);
  const start = rp;
  rp += len;
  try {
    return cached ? readUtf8Cached(rb, start, rp) : readUtf8(rb, start, rp);
  } catch {
    throw malformed(`${rtype}: field "${field}" is not valid UTF-8`);
  }
}

function bin(field: string): Uint8Array {
  need(2, field);
  const len = (rb[rp] << 8) | rb[rp + 1];
  rp += 2;
  need(len, field);
  const view = rb.subarray(rp, rp + len);
  rp += len;
  return view;
}

/** uint64; values past 2^53 cannot be a time we can represent: malformed. */
function u64(field: string): number {
  need(8, field);
  const hi = ((rb[rp] << 24) | (rb[rp + 1] << 16) | (rb[rp + 2] << 8) | rb[rp + 3]) >>> 0;
  const lo = ((rb[rp + 4] << 24) | (rb[rp + 5] << 16) | (rb[rp + 6] << 8) | rb[rp + 7]) >>> 0;
  rp += 8;
  if (hi > 0x1fffff) throw malformed(`${rtype}: field "${field}" exceeds 2^53`);
  return hi * TWO_32 + lo;
}

/**
 * int64 counter: negative is malformed (spec §3); a positive value beyond
 * 2^53 is clamped, since "more than we could ever hold" means the same.
 */
function i64(field: string): number {
  need(8, field);
  const hi = ((rb[rp] << 24) | (rb[rp + 1] << 16) | (rb[rp + 2] << 8) | rb[rp + 3]) >>> 0;
  const lo = ((rb[rp + 4] << 24) | (rb[rp + 5] << 16) | (rb[rp + 6] << 8) | rb[rp + 7]) >>> 0;
  rp += 8;
  if (hi >= 0x8000_0000) throw malformed(`${rtype}: field "${field}" is negative`);
  if (hi > 0x1fffff) return Number.MAX_SAFE_INTEGER;
  return hi * TWO_32 + lo;
}

/**
 * A received Message as the server's hot path reads it: addresses and
 * timestamp decoded, the content checked (strict UTF-8) but left as bytes,
 * `payload[contentStart, contentEnd)`, since a server that forwards the frame
 * as received never needs it as a string.
 */
export interface MessageView {
  readonly source: string;
  readonly target: string;
  /** In ms (seconds scaled, spec §3). */
  readonly timestamp: number;
  readonly contentStart: number;
  readonly contentEnd: number;
  /**
   * The payload is exactly the encoding of these fields (timestamp sent in ms,
   * nothing after the content): with canonical addresses, the received frame
   * can be stored and forwarded as it is.
   */
  readonly exact: boolean;
}

/** Decodes a Message payload into a view; throws `ProtocolError` (0x80) like `decodePayload`. */
export function decodeMessageView(payload: Uint8Array): MessageView {
  rb = payload;
  rp = 0;
  re = payload.length;
  rtype = "Message";
  const source = str("source", true);
  const target = str("target", true);
  const sent = u64("timestamp");
  need(2, "content");
  const len = (rb[rp] << 8) | rb[rp + 1];
  rp += 2;
  need(len, "content");
  const contentStart = rp;
  rp += len;
  if (!isUtf8(rb, contentStart, rp)) throw malformed(`Message: field "content" is not valid UTF-8`);
  const timestamp = normaliseTimestamp(sent);
  return {
    source,
    target,
    timestamp,
    contentStart,
    contentEnd: rp,
    exact: timestamp === sent && rp === re,
  };
}

/**
 * Decodes a payload of the given type. Throws `ProtocolError` (0x80) when the
 * type is reserved or unknown, a field is cut short, a string is not UTF-8, or
 * a counter is negative. Bytes after the last field are ignored (spec §3).
 */
export function decodePayload(type: number, payload: Uint8Array): Payload {
  rb = payload;
  rp = 0;
  re = payload.length;
  switch (type) {
    case PayloadType.Success:
      return { type };
    case PayloadType.Error:
      rtype = "Error";
      return { type, code: u8("code") };
    case PayloadType.Handshake:
      rtype = "Handshake";
      return { type, major: u8("ver_major"), minor: u8("ver_minor"), connType: u8("conn_type") };
    case PayloadType.UserAuth:
      rtype = "UserAuth";
      return { type, username: str("username", true), password: str("password") };
    case PayloadType.Message:
      rtype = "Message";
      return {
        type,
        source: str("source", true),
        target: str("target", true),
        timestamp: normaliseTimestamp(u64("timestamp")),
        content: str("content"),
      };
    case PayloadType.ServerAuth: {
      rtype = "ServerAuth";
      const name = str("name", true);
      // Upstream's form ends after the name; the extension carries both fields.
      if (rp === re) return { type, name };
      const ts = u64("ts");
      return { type, name, ts, signature: bin("signature") };
    }
    case PayloadType.Usermode:
      rtype = "Usermode";
      return { type, user: str("user", true), channel: str("channel", true), mode: u8("mode") };
    case PayloadType.History:
      rtype = "History";
      return {
        type,
        target: str("target", true),
        since: normaliseTimestamp(i64("since")),
        count: i64("count"),
        offset: i64("offset"),
      };
    case PayloadType.List:
      rtype = "List";
      return { type, count: i64("count"), offset: i64("offset") };
    case PayloadType.ListItem:
      rtype = "ListItem";
      return { type, address: str("address", true) };
    case PayloadType.Test:
      return { type, data: payload };
    default:
      throw malformed(
        isKnownType(type) ? `type ${type} cannot be decoded` : unknownTypeMessage(type),
      );
  }
}

export function unknownTypeMessage(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, "0")}`;
  return type === 0 ? `reserved payload type ${hex}` : `unknown payload type ${hex}`;
}

/** Decodes one complete frame (header + payload, nothing after it). */
export function decodeFrame(frame: Uint8Array): Payload {
  if (frame.length < HEADER_SIZE) throw malformed("frame shorter than its 3-byte header");
  const len = (frame[1] << 8) | frame[2];
  if (frame.length !== HEADER_SIZE + len) {
    throw malformed(`frame header announces ${len} payload bytes, ${frame.length - 3} present`);
  }
  return decodePayload(frame[0], frame.subarray(HEADER_SIZE));
}
