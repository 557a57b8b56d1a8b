/**
 * UTF-8 helpers tuned for short strings (addresses, chat lines): a manual
 * ASCII path avoids the fixed cost of TextEncoder/TextDecoder calls, which
 * dominates for 10-30 byte strings; anything longer or non-ASCII goes to the
 * runtime's native coder.
 */

const encoder = new TextEncoder();
/** `fatal`: invalid UTF-8 is a malformed frame (spec §3), never U+FFFD.
 * `ignoreBOM`: a leading U+FEFF is content, not a byte-order mark to strip. */
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings up to this many bytes take the hand-written ASCII paths. */
const SHORT = 32;

/**
 * Byte length of `s` encoded as UTF-8, counting a lone surrogate as the 3
 * bytes of U+FFFD that TextEncoder writes for it.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        // A surrogate pair: 2 UTF-16 units become 4 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * Two-step string writing for the encoder, which must know a frame's exact
 * size before allocating it: `prepareUtf8(s)` returns the byte length, and
 * `writePrepared(out, at, s, length)` writes the strings in the same order.
 * Short strings are measured and written by hand; long ones are encoded once
 * by the native encoder into a scratch buffer (measuring a 4 KiB string in JS
 * costs more than encoding it) and copied from there into the frame. Only
 * two cursors are kept, so the short-string path touches no shared state.
 */
let scratch = new Uint8Array(16 * 1024);
let scratchWrite = 0;
let scratchRead = 0;

/** Starts preparing the strings of one frame. */
export function beginPrepare(): void {
  scratchWrite = 0;
  scratchRead = 0;
}

export function prepareUtf8(s: string): number {
  if (s.length <= SHORT) return utf8Length(s);
  const worst = s.length * 3;
  if (scratchWrite + worst > scratch.length) {
    const grown = new Uint8Array(Math.max(scratch.length * 2, scratchWrite + worst));
    grown.set(scratch.subarray(0, scratchWrite));
    scratch = grown;
  }
  const written = encoder.encodeInto(s, scratch.subarray(scratchWrite)).written;
  scratchWrite += written;
  return written;
}

/** Writes a string measured by `prepareUtf8` at `out[at]`; returns the offset after it. */
export function writePrepared(out: Uint8Array, at: number, s: string, length: number): number {
  if (s.length <= SHORT) return writeUtf8(out, at, s, length);
  out.set(scratch.subarray(scratchRead, scratchRead + length), at);
  scratchRead += length;
  return at + length;
}

/**
 * Writes `s` at `out[at]`; `byteLength` must be `utf8Length(s)` and fit.
 * Returns the offset after the last byte written.
 */
export function writeUtf8(out: Uint8Array, at: number, s: string, byteLength: number): number {
  if (byteLength === s.length && byteLength <= SHORT) {
    for (let i = 0; i < byteLength; i++) out[at + i] = s.charCodeAt(i);
    return at + byteLength;
  }
  encoder.encodeInto(s, out.subarray(at, at + byteLength));
  return at + byteLength;
}

/** Decodes `bytes[start, end)` strictly; throws TypeError on invalid UTF-8. */
export function readUtf8(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= SHORT) {
    for (let i = start; i < end; i++) {
      if (bytes[i] >= 0x80) return decoder.decode(bytes.subarray(start, end));
    }
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  return decoder.decode(bytes.subarray(start, end));
}

/** Whether `bytes[start, end)` is valid UTF-8 (ASCII checked by hand, the rest by the native decoder). */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && bytes[i] < 0x80) i++;
  if (i === end) return true;
  try {
    decoder.decode(bytes.subarray(i, end));
    return true;
  } catch {
    return false;
  }
}

/**
 * Addresses repeat constantly (every message names a source and a target),
 * and building a JS string from bytes costs 100+ ns on V8 even for ASCII. A
 * small direct-mapped cache of recently decoded short ASCII strings turns most
 * of those into a hash and a compare. Bounded: CACHE_SLOTS strings of at most
 * SHORT bytes. Only used for address-like fields, never for content.
 */
const CACHE_SLOTS = 4096;
const cache: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

export function readUtf8Cached(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n > SHORT) return readUtf8(bytes, start, end);
  let h = 0x811c9dc5 ^ n;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  const slot = (h >>> 0) & (CACHE_SLOTS - 1);
  const hit = cache[slot];
  if (hit !== undefined && hit.length === n) {
    let i = 0;
    while (i < n && hit.charCodeAt(i) === bytes[start + i]) i++;
    if (i === n) return hit;
  }
  const s = readUtf8(bytes, start, end);
  // Same length in chars and bytes means pure ASCII, the only kind compared above.
  if (s.length === n) cache[slot] = s;
  return s;
}
