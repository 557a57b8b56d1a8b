/**
 * Values ⇄ bytes. Every stored value is one tag byte plus a payload:
 *
 * | tag  | value                                                              |
 * | ---- | ------------------------------------------------------------------ |
 * | 0x00 | null                                                               |
 * | 0x01 | false                                                              |
 * | 0x02 | true                                                               |
 * | 0x03 | integer number, zigzag varint (|n| ≤ 2^52, not -0)                 |
 * | 0x04 | any other number: float64 little-endian (keeps -0, NaN, ±Infinity) |
 * | 0x05 | string: varint byte length + UTF-8                                 |
 * | 0x06 | string with lone surrogates: varint unit count + UTF-16LE          |
 * | 0x07 | bigint ≥ 0: varint byte length + magnitude big-endian              |
 * | 0x08 | bigint < 0: same, magnitude of the value                           |
 * | 0x09 | Uint8Array nested in a value: varint length + bytes                |
 * | 0x0a | array: varint count + values                                       |
 * | 0x0b | plain object: varint count + (string value as 0x05/0x06, value)*   |
 * | 0x0c | top-level Uint8Array: the raw bytes follow, to the end             |
 *
 * Why not JSON: it cannot carry bigint, bytes, -0 or NaN, and storing a binary value would
 * cost a base64 round trip. This encoder walks the value once, validating as it goes, into a
 * reused scratch buffer; a top-level Uint8Array is a single copy.
 *
 * These bytes are persisted by durable backends: never renumber a tag.
 */
import type { KvValue } from "./kv.ts";
import { allocBytes } from "../alloc.ts";

const T_NULL = 0x00;
const T_FALSE = 0x01;
const T_TRUE = 0x02;
const T_INT = 0x03;
const T_FLOAT = 0x04;
const T_STRING = 0x05;
const T_STRING16 = 0x06;
const T_BIGINT_POS = 0x07;
const T_BIGINT_NEG = 0x08;
const T_BYTES = 0x09;
const T_ARRAY = 0x0a;
const T_OBJECT = 0x0b;
const T_RAW_BYTES = 0x0c;

/** Deeper nesting is refused; it also stops cyclic structures. */
const MAX_DEPTH = 256;
const MAX_VARINT_INT = 2 ** 52;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

const SUPPORTED = "supported: null, boolean, number, string, bigint, Uint8Array, " +
  "and plain arrays and objects of those";

/** Thrown inside the encoder; turned into a TypeError with a path by `encodeValue`. */
class Unsupported extends Error {}

class Writer {
  buf = new Uint8Array(1024);
  view = new DataView(this.buf.buffer);
  pos = 0;

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Caller has ensured room (≤ 8 bytes for any safe integer). */
  varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.pos++] = n;
  }

  string(s: string): void {
    const len = s.length;
    // ASCII fast path for short strings (object keys, names): byte length == s.length.
    if (len < 0x80) {
      this.ensure(len + 2);
      const buf = this.buf;
      const start = this.pos;
      buf[start] = T_STRING;
      buf[start + 1] = len;
      let p = start + 2;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === len) {
        this.pos = p;
        return;
      }
    }
    if (!s.isWellFormed()) {
      // UTF-8 cannot carry lone surrogates; keep the code units so the value round-trips.
      this.ensure(len * 2 + 10);
      this.buf[this.pos++] = T_STRING16;
      this.varint(len);
      for (let i = 0; i < len; i++) this.view.setUint16(this.pos + i * 2, s.charCodeAt(i), true);
      this.pos += len * 2;
      return;
    }
    // UTF-8 needs at most 3 bytes per UTF-16 unit. Reserve a fixed-width varint for that
    // bound, encode in place, then write the real length padded to the reserved width
    // (a non-minimal varint decodes the same), avoiding a second copy of the string.
    const max = len * 3;
    let width = 1;
    for (let m = max; m >= 0x80; m = Math.floor(m / 0x80)) width++;
    this.ensure(1 + width + max);
    this.buf[this.pos++] = T_STRING;
    const lenAt = this.pos;
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(lenAt + width));
    let n = written;
    for (let i = 0; i < width - 1; i++) {
      this.buf[lenAt + i] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[lenAt + width - 1] = n;
    this.pos = lenAt + width + written;
  }

  bigint(n: bigint): void {
    const negative = n < 0n;
    let hex = (negative ? -n : n).toString(16);
    if (hex.length & 1) hex = "0" + hex;
    const len = hex.length >> 1;
    this.ensure(len + 10);
    this.buf[this.pos++] = negative ? T_BIGINT_NEG : T_BIGINT_POS;
    this.varint(len);
    for (let i = 0; i < len; i++) this.buf[this.pos++] = parseInt(hex.substr(i * 2, 2), 16);
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case "string":
        this.string(v);
        return;
      case "number":
        this.ensure(9);
        if (
          Number.isInteger(v) && v <= MAX_VARINT_INT && v >= -MAX_VARINT_INT && !Object.is(v, -0)
        ) {
          this.buf[this.pos++] = T_INT;
          this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
        } else {
          this.buf[this.pos++] = T_FLOAT;
          this.view.setFloat64(this.pos, v, true);
          this.pos += 8;
        }
        return;
      case "boolean":
        this.ensure(1);
        this.buf[this.pos++] = v ? T_TRUE : T_FALSE;
        return;
      case "bigint":
        this.bigint(v);
        return;
      case "object": {
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = T_NULL;
          return;
        }
        if (depth >= MAX_DEPTH) throw new Unsupported();
        if (v instanceof Uint8Array) {
          this.ensure(v.length + 10);
          this.buf[this.pos++] = T_BYTES;
          this.varint(v.length);
          this.buf.set(v, this.pos);
          this.pos += v.length;
          return;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto === Array.prototype) {
          const arr = v as unknown[];
          this.ensure(10);
          this.buf[this.pos++] = T_ARRAY;
          this.varint(arr.length);
          for (let i = 0; i < arr.length; i++) this.value(arr[i], depth + 1);
          return;
        }
        if (proto === Object.prototype || proto === null) {
          const obj = v as Record<string, unknown>;
          const keys = Object.keys(obj);
          this.ensure(10);
          this.buf[this.pos++] = T_OBJECT;
          this.varint(keys.length);
          for (let i = 0; i < keys.length; i++) {
            this.string(keys[i]);
            this.value(obj[keys[i]], depth + 1);
          }
          return;
        }
        throw new Unsupported();
      }
      default:
        throw new Unsupported();
    }
  }
}

let shared: Writer | null = new Writer();

function article(word: string): string {
  return /^[AEIOUaeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function describeType(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return "a symbol";
  if (typeof v === "object" && v !== null) {
    const ctor = Object.getPrototypeOf(v)?.constructor?.name;
    const name = typeof ctor === "string" && ctor !== "" ? ctor : "";
    if (name === "") return "an object with a non-plain prototype";
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
      return `${article(name)} (binary data must be a Uint8Array)`;
    }
    if (Array.isArray(v)) return `an array subclass (${name})`;
    if (v instanceof Date || v instanceof Map || v instanceof Set || v instanceof RegExp) {
      return article(name);
    }
    return `${article(name)} instance (only plain objects)`;
  }
  return typeof v;
}

/** Re-walk a value that failed to encode to say where and what the problem is. */
function findProblem(v: unknown, path: string, seen: Set<object>, depth: number): string | null {
  if (v === null) return null;
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
      return null;
    case "object":
      break;
    default:
      return `${path} is ${describeType(v)}`;
  }
  const obj = v as object;
  if (obj instanceof Uint8Array) return null;
  if (seen.has(obj)) return `${path} is a cyclic reference`;
  if (depth >= MAX_DEPTH) return `${path} is nested deeper than ${MAX_DEPTH} levels`;
  const proto = Object.getPrototypeOf(obj);
  seen.add(obj);
  try {
    if (proto === Array.prototype) {
      const arr = obj as unknown[];
      for (let i = 0; i < arr.length; i++) {
        const p = findProblem(arr[i], `${path}[${i}]`, seen, depth + 1);
        if (p) return p;
      }
      return null;
    }
    if (proto === Object.prototype || proto === null) {
      const rec = obj as Record<string, unknown>;
      for (const k of Object.keys(rec)) {
        const sub = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        const p = findProblem(rec[k], sub, seen, depth + 1);
        if (p) return p;
      }
      return null;
    }
    return `${path} is ${describeType(obj)}`;
  } finally {
    seen.delete(obj);
  }
}

function unsupported(value: unknown): TypeError {
  const problem = findProblem(value, "value", new Set(), 0) ?? "value is not supported";
  return new TypeError(`cannot store this value: ${problem} (${SUPPORTED})`);
}

/**
 * Encode a value into fresh bytes. Throws a TypeError naming the offending part (with its
 * path, e.g. `value.meta.at is a Date`) for anything outside `KvValue`.
 */
export function encodeValue(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    const out = allocBytes(value.length + 1);
    out[0] = T_RAW_BYTES;
    out.set(value, 1);
    return out;
  }
  // A getter or proxy trap inside the value could call back into the encoder; the nested call
  // then gets its own writer instead of clobbering the shared one.
  const w = shared ?? new Writer();
  shared = null;
  w.pos = 0;
  try {
    w.value(value, 0);
    return w.buf.slice(0, w.pos);
  } catch (err) {
    if (err instanceof Unsupported) throw unsupported(value);
    throw err;
  } finally {
    // Do not keep a huge buffer alive after one oversized value.
    shared = w.buf.length > 1 << 20 ? new Writer() : w;
  }
}

// Scratch for float64 decoding: a DataView per decode costs an allocation, which is slow
// on Deno. The values are written little-endian, so go through bytes explicitly.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Object keys repeat from value to value ("id", "text", …). Handing the engine the same string
// instance each time lets it skip interning the key on every property store (JavaScriptCore is
// several times faster on objects built this way); JSON.parse keeps a similar cache.
const KEY_CACHE_BITS = 10;
const keyCache: (string | undefined)[] = new Array(1 << KEY_CACHE_BITS);
const MAX_CACHED_KEY = 24;

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new TypeError("corrupt stored value: truncated");
  }

  varint(): number {
    const buf = this.buf;
    // One-byte varints (small counts and lengths) are the common case.
    if (this.pos < buf.length && buf[this.pos] < 0x80) return buf[this.pos++];
    let result = 0;
    let scale = 1;
    for (;;) {
      this.need(1);
      const b = buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 63) throw new TypeError("corrupt stored value: varint too long");
    }
  }

  /** A short ASCII object key, from the cache when the same bytes were seen before. */
  cachedKey(start: number, len: number): string | null {
    const buf = this.buf;
    let h = len;
    for (let i = start; i < start + len; i++) {
      const c = buf[i];
      if (c >= 0x80) return null;
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = (h ^ (h >>> KEY_CACHE_BITS)) & ((1 << KEY_CACHE_BITS) - 1);
    const hit = keyCache[slot];
    if (hit !== undefined && hit.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (hit.charCodeAt(i) !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit;
    }
    let s = "";
    for (let i = start; i < start + len; i++) s += String.fromCharCode(buf[i]);
    keyCache[slot] = s;
    return s;
  }

  string(tag: number, isKey = false): string {
    const buf = this.buf;
    if (tag === T_STRING16) {
      const count = this.varint();
      this.need(count * 2);
      let s = "";
      for (let i = this.pos; i < this.pos + count * 2; i += 2) {
        s += String.fromCharCode(buf[i] | (buf[i + 1] << 8));
      }
      this.pos += count * 2;
      return s;
    }
    const len = this.varint();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    if (isKey && len <= MAX_CACHED_KEY) {
      const cached = this.cachedKey(start, len);
      if (cached !== null) return cached;
    }
    // Short ASCII strings decode faster by hand than through a TextDecoder call.
    if (len <= 24) {
      let s = "";
      for (let i = start; i < start + len; i++) {
        const c = buf[i];
        if (c >= 0x80) return utf8Decoder.decode(buf.subarray(start, start + len));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8Decoder.decode(buf.subarray(start, start + len));
  }

  value(): KvValue {
    this.need(1);
    const tag = this.buf[this.pos++];
    switch (tag) {
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_INT: {
        const z = this.varint();
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      }
      case T_FLOAT: {
        this.need(8);
        const buf = this.buf;
        for (let i = 0; i < 8; i++) f64Bytes[LITTLE_ENDIAN_HOST ? i : 7 - i] = buf[this.pos + i];
        this.pos += 8;
        return f64[0];
      }
      case T_STRING:
      case T_STRING16:
        return this.string(tag);
      case T_BIGINT_POS:
      case T_BIGINT_NEG: {
        const len = this.varint();
        this.need(len);
        let hex = "0x0";
        for (let i = this.pos; i < this.pos + len; i++) {
          const b = this.buf[i];
          hex += (b < 16 ? "0" : "") + b.toString(16);
        }
        this.pos += len;
        const mag = BigInt(hex);
        return tag === T_BIGINT_NEG ? -mag : mag;
      }
      case T_BYTES: {
        const len = this.varint();
        this.need(len);
        const out = this.buf.slice(this.pos, this.pos + len);
        this.pos += len;
        return out;
      }
      case T_ARRAY: {
        const count = this.varint();
        const arr: KvValue[] = new Array(count);
        for (let i = 0; i < count; i++) arr[i] = this.value();
        return arr;
      }
      case T_OBJECT: {
        const count = this.varint();
        const obj: { [k: string]: KvValue } = {};
        for (let i = 0; i < count; i++) {
          this.need(1);
          const keyTag = this.buf[this.pos++];
          if (keyTag !== T_STRING && keyTag !== T_STRING16) {
            throw new TypeError("corrupt stored value: object key is not a string");
          }
          const k = this.string(keyTag, true);
          const v = this.value();
          // Plain assignment of "__proto__" would replace the prototype instead of adding
          // an own property; define it so the object round-trips and cannot be polluted.
          if (k === "__proto__") {
            Object.defineProperty(obj, k, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else {
            obj[k] = v;
          }
        }
        return obj;
      }
      default:
        throw new TypeError(`corrupt stored value: unknown tag 0x${tag.toString(16)}`);
    }
  }
}

/** Decode bytes made by `encodeValue` into a fresh value (never aliasing `bytes`). */
export function decodeValue(bytes: Uint8Array): KvValue {
  // Normalise Buffer-like subclasses so slice() below always yields a plain, copied Uint8Array.
  const buf = bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) throw new TypeError("corrupt stored value: empty");
  if (buf[0] === T_RAW_BYTES) return buf.slice(1);
  const r = new Reader(buf);
  const v = r.value();
  if (r.pos !== buf.length) throw new TypeError("corrupt stored value: trailing bytes");
  return v;
}

/**
 * The new encoded value after adding `n` to the bigint stored as `existing` (missing = 0n).
 * Used by every backend's `sum` so they agree on the semantics.
 */
export function sumEncoded(existing: Uint8Array | null | undefined, n: bigint): Uint8Array {
  let current = 0n;
  if (existing) {
    const v = decodeValue(existing);
    if (typeof v !== "bigint") {
      throw new TypeError(
        `cannot sum: the stored value is ${v === null ? "null" : typeof v}, not a bigint`,
      );
    }
    current = v;
  }
  return encodeValue(current + n);
}
