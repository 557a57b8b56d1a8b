/**
 * Streaming frame decoder (spec §1–§2): fed arbitrary chunks of a byte
 * stream, it hands out whole frames.
 *
 * A frame that lies entirely inside one chunk is handed out as a view into
 * that chunk, or as a copy where the runtime adapter found a copy cheaper (Bun:
 * see `setRangeCopies` in src/alloc.ts). A frame split across chunks is
 * copied, once, into a buffer of its exact size, allocated as soon as the
 * header is known, so byte-by-byte input costs O(frame) rather than
 * O(frame²). The payload limit and the type are checked from the header
 * alone, before buffering anything.
 *
 * Use: `push(chunk)`, then call `next()` until it returns -1. `next()` returns
 * the frame's type and leaves the payload in `payload` (valid until the next
 * call).
 */
import { DEFAULT_MAX_PAYLOAD, HEADER_SIZE, isKnownType, MAX_PAYLOAD } from "./constants.ts";
import { unknownTypeMessage } from "./codec.ts";
import { malformed } from "./errors.ts";
import { byteRange } from "./alloc.ts";

const EMPTY = new Uint8Array(0);

export class FrameDecoder {
  readonly maxPayload: number;
  /** Payload of the frame last returned by `next()`. */
  payload: Uint8Array = EMPTY;

  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  /** Header bytes of a frame whose header was split across chunks (made when first needed). */
  #head: Uint8Array = EMPTY;
  #headFilled = 0;
  /** Payload buffer of a frame split across chunks; null when none is pending. */
  #partial: Uint8Array | null = null;
  #partialFilled = 0;
  #partialType = 0;

  constructor(options: { maxPayload?: number } = {}) {
    const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(max) || max < 0 || max > MAX_PAYLOAD) {
      throw new RangeError(`maxPayload must be an integer 0-65535, got ${max}`);
    }
    this.maxPayload = max;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get buffered(): number {
    return this.#chunk.length - this.#pos + this.#headFilled + this.#partialFilled;
  }

  /** Adds the next chunk. Drain the previous one with `next()` first. */
  push(chunk: Uint8Array): void {
    if (this.#pos < this.#chunk.length) {
      throw new Error("FrameDecoder.push() before next() returned -1 for the previous chunk");
    }
    this.#chunk = chunk;
    this.#pos = 0;
  }

  /**
   * The next complete frame's type (payload in `this.payload`), or -1 when
   * more bytes are needed. Throws `ProtocolError` (0x80) for a header that
   * announces an unknown/reserved type or a payload above `maxPayload`; the
   * stream cannot be resynchronised after that, so the connection must close.
   */
  next(): number {
    const chunk = this.#chunk;
    if (this.#partial !== null) return this.#continuePartial(chunk);
    if (this.#headFilled > 0) return this.#continueHeader(chunk);
    const pos = this.#pos;
    const avail = chunk.length - pos;
    if (avail === 0) {
      // Drained: let go of the chunk and the last payload (valid until this
      // call), so an idle connection holds none of its last input.
      this.#chunk = this.payload = EMPTY;
      this.#pos = 0;
      return -1;
    }
    if (avail >= HEADER_SIZE) {
      const type = chunk[pos];
      const len = (chunk[pos + 1] << 8) | chunk[pos + 2];
      this.#checkHeader(type, len);
      if (avail >= HEADER_SIZE + len) {
        this.payload = byteRange(chunk, pos + HEADER_SIZE, pos + HEADER_SIZE + len);
        this.#pos = pos + HEADER_SIZE + len;
        return type;
      }
      this.#startPartial(type, len, chunk.subarray(pos + HEADER_SIZE));
      this.#pos = chunk.length;
      return -1;
    }
    // Fewer than 3 bytes left: keep them until the header is complete.
    if (this.#head === EMPTY) this.#head = new Uint8Array(HEADER_SIZE);
    for (let i = pos; i < chunk.length; i++) this.#head[this.#headFilled++] = chunk[i];
    this.#pos = chunk.length;
    return -1;
  }

  #checkHeader(type: number, len: number): void {
    if (!isKnownType(type)) throw malformed(unknownTypeMessage(type));
    if (len > this.maxPayload) {
      throw malformed(`frame announces a ${len}-byte payload, the limit is ${this.maxPayload}`);
    }
  }

  #continueHeader(chunk: Uint8Array): number {
    while (this.#headFilled < HEADER_SIZE && this.#pos < chunk.length) {
      this.#head[this.#headFilled++] = chunk[this.#pos++];
    }
    if (this.#headFilled < HEADER_SIZE) return -1;
    this.#headFilled = 0;
    const type = this.#head[0];
    const len = (this.#head[1] << 8) | this.#head[2];
    this.#checkHeader(type, len);
    this.#startPartial(type, len, EMPTY);
    return this.#continuePartial(chunk);
  }

  #startPartial(type: number, len: number, first: Uint8Array): void {
    const buf = new Uint8Array(len);
    buf.set(first);
    this.#partial = buf;
    this.#partialFilled = first.length;
    this.#partialType = type;
  }

  #continuePartial(chunk: Uint8Array): number {
    const buf = this.#partial as Uint8Array;
    const take = Math.min(buf.length - this.#partialFilled, chunk.length - this.#pos);
    buf.set(chunk.subarray(this.#pos, this.#pos + take), this.#partialFilled);
    this.#partialFilled += take;
    this.#pos += take;
    if (this.#partialFilled < buf.length) return -1;
    this.#partial = null;
    this.#partialFilled = 0;
    this.payload = buf;
    return this.#partialType;
  }
}
