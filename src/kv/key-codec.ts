/**
 * Tuple keys ⇄ bytes, order-preserving: `compareBytes(encodeKey(a), encodeKey(b))` orders
 * exactly like the tuples do, so every backend can keep keys as plain byte strings (a sorted
 * array, an SQLite BLOB primary key, a Redis sorted set) and range-scan them with memcmp.
 *
 * The layout is the FoundationDB tuple layer (as used by Deno KV), one tag byte per part:
 *
 * | part       | encoding                                                                |
 * | ---------- | ----------------------------------------------------------------------- |
 * | Uint8Array | 0x01, bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00          |
 * | string     | 0x02, UTF-8 escaped and terminated like bytes                           |
 * | number     | 0x21, IEEE-754 big-endian; negatives have all bits flipped, others the  |
 * |            | sign bit, so memcmp order is numeric order (and -0 sorts before 0)      |
 * | bigint     | 0x2c…0x3c: 0x34 ± byte length, then the magnitude big-endian (ones'     |
 * |            | complement when negative); 0x2b / 0x3d + length byte beyond 8 bytes     |
 * | false/true | 0x46 / 0x47                                                             |
 *
 * Unlike FoundationDB (and denokv, whose integer tags sit below the double tag), bigint tags
 * are placed above the number tag so that number < bigint as Deno KV documents. Escaping
 * plus the terminator makes every part prefix-free, so a key's encoding is a byte prefix of
 * another's exactly when the tuple is a prefix of the other tuple.
 *
 * These bytes are persisted by durable backends: never renumber a tag.
 */
import type { KvKey, KvKeyPart } from "./kv.ts";
import { allocBytes } from "../alloc.ts";

const TAG_BYTES = 0x01;
const TAG_STRING = 0x02;
const TAG_NUMBER = 0x21;
const TAG_INT_NEG_BIG = 0x2b;
const TAG_INT_ZERO = 0x34;
const TAG_INT_POS_BIG = 0x3d;
const TAG_FALSE = 0x46;
const TAG_TRUE = 0x47;
/** Largest bigint magnitude (in bytes) the one-byte length prefix can describe. */
const MAX_BIGINT_BYTES = 255;

/** Deno KV refuses to write keys longer than this; we do the same. */
export const MAX_WRITE_KEY_BYTES = 2048;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

// One growable scratch buffer for all key encodings: encodeKey copies the result out, so
// the buffer is free again when it returns (JavaScript runs it to completion).
let scratch = new Uint8Array(256);
let scratchView = new DataView(scratch.buffer);
let pos = 0;

function ensure(extra: number): void {
  if (pos + extra <= scratch.length) return;
  let size = scratch.length * 2;
  while (size < pos + extra) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(scratch.subarray(0, pos));
  scratch = grown;
  scratchView = new DataView(scratch.buffer);
}

function writeEscaped(bytes: Uint8Array): void {
  // Worst case every byte is 0x00 and doubles, plus the terminator.
  ensure(bytes.length * 2 + 1);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    scratch[pos++] = b;
    if (b === 0) scratch[pos++] = 0xff;
  }
  scratch[pos++] = 0;
}

function writeString(s: string): void {
  // ASCII fast path: most key parts are short identifiers.
  ensure(s.length * 2 + 1);
  const start = pos;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      pos = start;
      if (!s.isWellFormed()) {
        throw new TypeError("invalid key part: string contains a lone surrogate (not valid UTF-8)");
      }
      writeEscaped(utf8Encoder.encode(s));
      return;
    }
    scratch[pos++] = c;
    if (c === 0) scratch[pos++] = 0xff;
  }
  scratch[pos++] = 0;
}

function writeNumber(n: number): void {
  if (Number.isNaN(n)) throw new TypeError("invalid key part: NaN cannot be used in a key");
  ensure(8);
  scratchView.setFloat64(pos, n, false);
  if (scratch[pos] & 0x80) {
    for (let i = pos; i < pos + 8; i++) scratch[i] ^= 0xff;
  } else {
    scratch[pos] ^= 0x80;
  }
  pos += 8;
}

function bigintMagnitude(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length & 1) hex = "0" + hex;
  const len = hex.length >> 1;
  if (len > MAX_BIGINT_BYTES) {
    throw new TypeError(`invalid key part: bigint needs ${len} bytes (max ${MAX_BIGINT_BYTES})`);
  }
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function writeBigint(n: bigint): void {
  if (n === 0n) {
    ensure(1);
    scratch[pos++] = TAG_INT_ZERO;
    return;
  }
  const negative = n < 0n;
  const mag = bigintMagnitude(negative ? -n : n);
  const len = mag.length;
  ensure(len + 2);
  if (negative) {
    if (len <= 8) {
      scratch[pos++] = TAG_INT_ZERO - len;
    } else {
      scratch[pos++] = TAG_INT_NEG_BIG;
      scratch[pos++] = len ^ 0xff;
    }
    for (let i = 0; i < len; i++) scratch[pos++] = mag[i] ^ 0xff;
  } else {
    if (len <= 8) {
      scratch[pos++] = TAG_INT_ZERO + len;
    } else {
      scratch[pos++] = TAG_INT_POS_BIG;
      scratch[pos++] = len;
    }
    scratch.set(mag, pos);
    pos += len;
  }
}

function describe(part: unknown): string {
  if (part === null) return "null";
  if (typeof part === "object") {
    const name = Object.getPrototypeOf(part)?.constructor?.name;
    return typeof name === "string" && name !== "" ? name : "object";
  }
  return typeof part;
}

/**
 * Encode a key. Throws a TypeError naming the offending part for anything that is not a
 * valid key (non-array, NaN, unsupported part types, strings with lone surrogates).
 * The empty key encodes to zero bytes; callers that need a non-empty key check that.
 */
export function encodeKey(key: KvKey): Uint8Array {
  if (!Array.isArray(key)) {
    throw new TypeError(`invalid key: expected an array of key parts, got ${describe(key)}`);
  }
  pos = 0;
  for (let i = 0; i < key.length; i++) {
    const part: unknown = key[i];
    switch (typeof part) {
      case "string":
        ensure(1);
        scratch[pos++] = TAG_STRING;
        writeString(part);
        break;
      case "number":
        ensure(1);
        scratch[pos++] = TAG_NUMBER;
        writeNumber(part);
        break;
      case "bigint":
        writeBigint(part);
        break;
      case "boolean":
        ensure(1);
        scratch[pos++] = part ? TAG_TRUE : TAG_FALSE;
        break;
      default:
        if (part instanceof Uint8Array) {
          ensure(1);
          scratch[pos++] = TAG_BYTES;
          writeEscaped(part);
          break;
        }
        throw new TypeError(
          `invalid key part at index ${i}: ${describe(part)} ` +
            "(key parts must be Uint8Array, string, number, bigint or boolean)",
        );
    }
  }
  return copyOut();
}

/** The `pos` bytes encoded in `scratch`, in an array of their own (slab-allocated where cheaper). */
function copyOut(): Uint8Array {
  const out = allocBytes(pos);
  for (let i = 0; i < pos; i++) out[i] = scratch[i];
  return out;
}

/**
 * A key encoded once: `AtomicOperation.set` / `delete` take it like a tuple
 * key without encoding it again. Hot paths keep one per prefix (a
 * conversation) and derive each entry's key with `packKeyWithNumbers`, so a
 * write costs one small copy instead of encoding every string part.
 * Only `packKey` and `packKeyWithNumbers` make valid ones.
 */
export class PackedKey {
  /** @internal use `packKey`. */
  constructor(readonly bytes: Uint8Array) {}
}

/** Encodes `key` once (same validation as any key). */
export function packKey(key: KvKey): PackedKey {
  return new PackedKey(encodeKey(key));
}

/** The key `[...prefix, a, b]` for two numbers, encoded from the packed prefix. */
export function packKeyWithNumbers(prefix: PackedKey, a: number, b: number): PackedKey {
  const p = prefix.bytes;
  pos = 0;
  ensure(p.length + 18);
  scratch.set(p, 0);
  pos = p.length;
  scratch[pos++] = TAG_NUMBER;
  writeNumber(a);
  scratch[pos++] = TAG_NUMBER;
  writeNumber(b);
  return new PackedKey(copyOut());
}

/** Offset of the 0x00 terminating the escaped run at `at`, and how many escapes it holds. */
function escapedEnd(bytes: Uint8Array, at: number): [number, number] {
  let end = at;
  let escapes = 0;
  for (;;) {
    if (end >= bytes.length) throw new TypeError("invalid encoded key: unterminated part");
    if (bytes[end] === 0) {
      if (bytes[end + 1] !== 0xff) return [end, escapes];
      escapes++;
      end += 2;
    } else {
      end++;
    }
  }
}

/** The unescaped bytes of the run [at, end) as a fresh array (handed to callers as a key part). */
function unescape(bytes: Uint8Array, at: number, end: number, escapes: number): Uint8Array {
  if (escapes === 0) return bytes.slice(at, end);
  const out = new Uint8Array(end - at - escapes);
  let o = 0;
  for (let i = at; i < end; i++) {
    out[o++] = bytes[i];
    if (bytes[i] === 0) i++; // skip the 0xFF escape
  }
  return out;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decode bytes made by `encodeKey`. Throws a TypeError on malformed input. */
export function decodeKey(bytes: Uint8Array): KvKeyPart[] {
  const key: KvKeyPart[] = [];
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i++];
    if (tag === TAG_STRING) {
      const [end, escapes] = escapedEnd(bytes, i);
      // Decode in place (no intermediate copy: allocating typed arrays is slow on Deno).
      let s = "";
      let ascii = escapes === 0 && end - i <= 64;
      for (let j = i; ascii && j < end; j++) {
        const c = bytes[j];
        if (c >= 0x80) ascii = false;
        else s += String.fromCharCode(c);
      }
      if (!ascii) {
        const raw = escapes === 0 ? bytes.subarray(i, end) : unescape(bytes, i, end, escapes);
        try {
          s = utf8Decoder.decode(raw);
        } catch {
          throw new TypeError("invalid encoded key: string part is not UTF-8");
        }
      }
      key.push(s);
      i = end + 1;
    } else if (tag === TAG_BYTES) {
      const [end, escapes] = escapedEnd(bytes, i);
      key.push(unescape(bytes, i, end, escapes));
      i = end + 1;
    } else if (tag === TAG_NUMBER) {
      if (i + 8 > bytes.length) throw new TypeError("invalid encoded key: truncated number");
      const flip = (bytes[i] & 0x80) === 0; // encoded negatives have the top bit cleared
      for (let j = 0; j < 8; j++) {
        const b = bytes[i + j];
        f64Bytes[LITTLE_ENDIAN_HOST ? 7 - j : j] = flip ? b ^ 0xff : j === 0 ? b ^ 0x80 : b;
      }
      key.push(f64[0]);
      i += 8;
    } else if (tag >= TAG_INT_NEG_BIG && tag <= TAG_INT_POS_BIG) {
      if (tag === TAG_INT_ZERO) {
        key.push(0n);
        continue;
      }
      const negative = tag < TAG_INT_ZERO;
      let len: number;
      if (tag === TAG_INT_NEG_BIG || tag === TAG_INT_POS_BIG) {
        if (i >= bytes.length) throw new TypeError("invalid encoded key: truncated bigint");
        len = tag === TAG_INT_NEG_BIG ? bytes[i++] ^ 0xff : bytes[i++];
      } else {
        len = negative ? TAG_INT_ZERO - tag : tag - TAG_INT_ZERO;
      }
      if (i + len > bytes.length) throw new TypeError("invalid encoded key: truncated bigint");
      let hex = "0";
      for (let j = 0; j < len; j++) {
        const b = negative ? bytes[i + j] ^ 0xff : bytes[i + j];
        hex += (b < 16 ? "0" : "") + b.toString(16);
      }
      i += len;
      const mag = BigInt("0x" + hex);
      key.push(negative ? -mag : mag);
    } else if (tag === TAG_FALSE) {
      key.push(false);
    } else if (tag === TAG_TRUE) {
      key.push(true);
    } else {
      throw new TypeError(`invalid encoded key: unknown tag 0x${tag.toString(16)}`);
    }
  }
  return key;
}

/** memcmp order: negative if a < b, 0 if equal, positive if a > b. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True when `bytes` begins with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** `bytes` followed by `suffix` (a fresh array). */
export function concatBytes(bytes: Uint8Array, suffix: Uint8Array | number): Uint8Array {
  if (typeof suffix === "number") {
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    out[bytes.length] = suffix;
    return out;
  }
  const out = new Uint8Array(bytes.length + suffix.length);
  out.set(bytes);
  out.set(suffix, bytes.length);
  return out;
}
