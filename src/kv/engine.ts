/**
 * The backend-independent half of every store: argument validation, key/value encoding,
 * list selectors, cursors, batching and the atomic-operation builder. A backend only
 * implements `KvEngine`, a handful of byte-level primitives, and wraps it in `EngineKv`;
 * that keeps the Deno KV semantics in one place so backends cannot drift apart.
 */
import type {
  AtomicCheck,
  AtomicCommitOptions,
  AtomicOperation,
  Kv,
  KvCapabilities,
  KvCommitError,
  KvCommitResult,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvListIterator,
  KvListOptions,
  KvListSelector,
  KvStoreStats,
  KvValue,
} from "./kv.ts";
import {
  compareBytes,
  concatBytes,
  decodeKey,
  encodeKey,
  MAX_WRITE_KEY_BYTES,
  PackedKey,
  startsWith,
} from "./key-codec.ts";
import { decodeValue, encodeValue } from "./value-codec.ts";

/** An entry as a backend stores it: encoded key and value. */
export interface RawEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly versionstamp: string;
}

export type RawMutation =
  | { readonly type: "set"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | { readonly type: "sum"; readonly key: Uint8Array; readonly n: bigint };

export interface RawCheck {
  readonly key: Uint8Array;
  readonly versionstamp: string | null;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * What a backend implements. Keys and values arrive encoded and validated; the engine only
 * stores bytes. Engines may answer synchronously or with a promise.
 */
export interface KvEngine {
  readonly capabilities: KvCapabilities;
  get(key: Uint8Array): MaybePromise<RawEntry | null>;
  /** All answers from one consistent snapshot, in order. */
  getMany(keys: readonly Uint8Array[]): MaybePromise<(RawEntry | null)[]>;
  /**
   * Up to `limit` entries with `start <= key < end`, ascending, or descending when `reverse`
   * (still the same half-open range). Called with `start < end` only.
   */
  scan(
    start: Uint8Array,
    end: Uint8Array,
    limit: number,
    reverse: boolean,
  ): MaybePromise<RawEntry[]>;
  /**
   * Atomically: verify every check (`versionstamp` null = key absent), then apply the
   * mutations in order, all stamped with one new versionstamp, greater than any before.
   * Resolves to that versionstamp, or null (applying nothing) when a check failed. A `sum`
   * over a non-bigint rejects with the TypeError from `sumEncoded`, applying nothing.
   *
   * An engine whose commits become visible before they are durable (SQLite
   * "full": the WAL is written, then fsynced off the event loop) calls
   * `onApplied` with the versionstamp as soon as they are visible, before
   * resolving; an engine that does not call it is taken to apply on resolving.
   */
  commit(
    checks: readonly RawCheck[],
    mutations: readonly RawMutation[],
    onApplied?: (versionstamp: string) => void,
  ): MaybePromise<string | null>;
  ping(): MaybePromise<void>;
  close(): MaybePromise<void>;
  /** See `Kv.storeStats`. */
  storeStats?(): KvStoreStats;
}

/** The versionstamp text for commit number `n`: 20 lower-case hex digits, as in Deno KV. */
export function formatVersionstamp(n: number | bigint): string {
  return n.toString(16).padStart(20, "0");
}

const VERSIONSTAMP_RE = /^[0-9a-f]{20}$/;
const DEFAULT_BATCH_SIZE = 256;
const MAX_BATCH_SIZE = 1000;

/** Encode a key used to address one entry: must be valid and non-empty. */
function entryKey(key: KvKey): Uint8Array {
  const bytes = encodeKey(key);
  if (bytes.length === 0) throw new TypeError("invalid key: a key must have at least one part");
  return bytes;
}

/** Like `entryKey`, plus the size limit Deno KV applies to written keys. */
function writeKey(key: KvKey | PackedKey): Uint8Array {
  const bytes = key instanceof PackedKey ? key.bytes : entryKey(key);
  if (bytes.length > MAX_WRITE_KEY_BYTES) {
    throw new TypeError(
      `invalid key: encoded key is ${bytes.length} bytes (max ${MAX_WRITE_KEY_BYTES})`,
    );
  }
  return bytes;
}

function toEntry<T>(raw: RawEntry): KvEntry<T> {
  return {
    key: decodeKey(raw.key),
    value: decodeValue(raw.value) as T,
    versionstamp: raw.versionstamp,
  };
}

/**
 * A copy of a key the caller passed (already validated by encoding it): the answer to `get`
 * must not alias the caller's array or byte parts. Cheaper than decoding the stored key.
 */
function copyKey(key: KvKey): KvKeyPart[] {
  const out: KvKeyPart[] = new Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const part = key[i];
    out[i] = part instanceof Uint8Array ? new Uint8Array(part) : part;
  }
  return out;
}

function toMaybe<T>(key: KvKey, raw: RawEntry | null): KvEntryMaybe<T> {
  return raw
    ? { key: copyKey(key), value: decodeValue(raw.value) as T, versionstamp: raw.versionstamp }
    : { key: copyKey(key), value: null, versionstamp: null };
}

function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

interface Range {
  /** Inclusive lower bound. */
  start: Uint8Array;
  /** Exclusive upper bound. */
  end: Uint8Array;
  /** Cursors are the last key minus these leading bytes (shared by every key in range). */
  base: Uint8Array;
}

function selectorRange(selector: KvListSelector): Range {
  if (selector === null || typeof selector !== "object") {
    throw new TypeError(
      "invalid list selector: expected { prefix }, { prefix, start }, " +
        "{ prefix, end } or { start, end }",
    );
  }
  const s = selector as { prefix?: KvKey; start?: KvKey; end?: KvKey };
  const start = s.start === undefined ? null : encodeKey(s.start);
  const end = s.end === undefined ? null : encodeKey(s.end);
  if (s.prefix !== undefined) {
    const prefix = encodeKey(s.prefix);
    if (start && end) {
      throw new TypeError("invalid list selector: cannot combine prefix with both start and end");
    }
    // Every key strictly longer than the prefix starts with prefix + a tag byte in
    // 0x01…0xFE, so [prefix+0x00, prefix+0xFF) is exactly the keys under the prefix.
    const lo = concatBytes(prefix, 0x00);
    const hi = concatBytes(prefix, 0xff);
    for (const [name, bound] of [["start", start], ["end", end]] as const) {
      if (bound && !(startsWith(bound, prefix) && bound.length > prefix.length)) {
        throw new TypeError(`invalid list selector: ${name} key is not inside the prefix`);
      }
    }
    return { start: start ?? lo, end: end ?? hi, base: prefix };
  }
  if (!start || !end) {
    throw new TypeError("invalid list selector: need a prefix, or both start and end");
  }
  if (compareBytes(start, end) > 0) {
    throw new TypeError("invalid list selector: start key is greater than end key");
  }
  return { start, end, base: start.slice(0, commonPrefixLength(start, end)) };
}

class ListIterator<T> implements KvListIterator<T> {
  readonly #engine: () => KvEngine;
  readonly #range: Range;
  readonly #reverse: boolean;
  readonly #limit: number | undefined;
  readonly #batchSize: number;
  #start: Uint8Array;
  #end: Uint8Array;
  #buffer: RawEntry[] = [];
  #index = 0;
  /** The backend returned a short batch: nothing is left after the buffer. */
  #drained = false;
  /** Iteration ran to the end of the range (cursor becomes ""). */
  #atEnd = false;
  #count = 0;
  #last: Uint8Array | null = null;
  readonly #initialCursor: string | undefined;

  constructor(engine: () => KvEngine, selector: KvListSelector, options: KvListOptions) {
    this.#engine = engine;
    this.#range = selectorRange(selector);
    this.#reverse = options.reverse === true;
    const { limit, batchSize, cursor } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
      throw new TypeError(`invalid list limit ${limit}: must be a positive integer`);
    }
    if (
      batchSize !== undefined &&
      !(Number.isInteger(batchSize) && batchSize > 0 && batchSize <= MAX_BATCH_SIZE)
    ) {
      throw new TypeError(`invalid list batchSize ${batchSize}: must be an integer 1…1000`);
    }
    this.#limit = limit;
    this.#batchSize = batchSize ?? DEFAULT_BATCH_SIZE;
    this.#start = this.#range.start;
    this.#end = this.#range.end;
    // Deno KV treats an empty cursor like no cursor.
    if (cursor !== undefined && cursor !== "") {
      const at = this.#cursorKey(cursor);
      // Resume strictly after the cursor key in the listing direction.
      if (this.#reverse) this.#end = at;
      else this.#start = concatBytes(at, 0x00);
      this.#initialCursor = cursor;
    }
  }

  #cursorKey(cursor: string): Uint8Array {
    const suffix = typeof cursor === "string" ? fromBase64Url(cursor) : null;
    const key = suffix && concatBytes(this.#range.base, suffix);
    if (
      !key || key.length === 0 || compareBytes(key, this.#range.start) < 0 ||
      compareBytes(key, this.#range.end) >= 0
    ) {
      throw new TypeError("invalid list cursor: it does not belong to this selector");
    }
    try {
      decodeKey(key);
    } catch {
      throw new TypeError("invalid list cursor: not a key position");
    }
    return key;
  }

  get cursor(): string {
    if (this.#atEnd) return "";
    if (this.#last) return toBase64Url(this.#last.subarray(this.#range.base.length));
    if (this.#initialCursor !== undefined) return this.#initialCursor;
    throw new Error("cannot read the list cursor before the first entry was returned");
  }

  async next(): Promise<IteratorResult<KvEntry<T>>> {
    if (this.#atEnd || (this.#limit !== undefined && this.#count >= this.#limit)) {
      return { done: true, value: undefined };
    }
    if (this.#index >= this.#buffer.length) {
      const want = this.#limit === undefined
        ? this.#batchSize
        : Math.min(this.#batchSize, this.#limit - this.#count);
      // Each batch restarts from the last key returned rather than holding a backend
      // cursor open, so writes between batches cannot break (or block on) the listing.
      let start = this.#start;
      let end = this.#end;
      if (this.#last) {
        if (this.#reverse) end = this.#last;
        else start = concatBytes(this.#last, 0x00);
      }
      const batch = this.#drained || compareBytes(start, end) >= 0
        ? []
        : await this.#engine().scan(start, end, want, this.#reverse);
      this.#buffer = batch;
      this.#index = 0;
      if (batch.length < want) this.#drained = true;
      if (batch.length === 0) {
        this.#atEnd = true;
        return { done: true, value: undefined };
      }
    }
    const raw = this.#buffer[this.#index++];
    this.#last = raw.key;
    this.#count++;
    return { done: false, value: toEntry<T>(raw) };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

class Atomic implements AtomicOperation {
  readonly #engine: () => KvEngine;
  readonly #checks: RawCheck[] = [];
  readonly #mutations: RawMutation[] = [];

  constructor(engine: () => KvEngine) {
    this.#engine = engine;
  }

  check(...checks: AtomicCheck[]): this {
    for (const check of checks) {
      if (check === null || typeof check !== "object") {
        throw new TypeError("invalid atomic check: expected { key, versionstamp }");
      }
      const { versionstamp } = check;
      if (
        versionstamp !== null &&
        !(typeof versionstamp === "string" && VERSIONSTAMP_RE.test(versionstamp))
      ) {
        throw new TypeError(
          "invalid atomic check: versionstamp must be null or 20 lower-case hex digits",
        );
      }
      this.#checks.push({ key: entryKey(check.key), versionstamp });
    }
    return this;
  }

  set(key: KvKey | PackedKey, value: KvValue): this {
    // Encoded now, so later changes to `value` by the caller do not leak into the commit.
    this.#mutations.push({ type: "set", key: writeKey(key), value: encodeValue(value) });
    return this;
  }

  delete(key: KvKey | PackedKey): this {
    this.#mutations.push({ type: "delete", key: writeKey(key) });
    return this;
  }

  sum(key: KvKey, n: bigint): this {
    if (typeof n !== "bigint") {
      throw new TypeError(`invalid sum operand: ${typeof n}, expected bigint`);
    }
    this.#mutations.push({ type: "sum", key: writeKey(key), n });
    return this;
  }

  commit(options?: AtomicCommitOptions): Promise<KvCommitResult | KvCommitError> {
    const onApplied = options?.onApplied;
    let told = false;
    const tell = (versionstamp: string | null): KvCommitResult | KvCommitError => {
      if (versionstamp === null) return { ok: false };
      const result: KvCommitResult = { ok: true, versionstamp };
      if (!told) onApplied?.(result, true);
      return result;
    };
    try {
      const outcome = this.#engine().commit(
        this.#checks,
        this.#mutations,
        onApplied === undefined ? undefined : (vs) => {
          told = true;
          onApplied({ ok: true, versionstamp: vs }, false);
        },
      );
      if (outcome instanceof Promise) return outcome.then(tell);
      // Committed synchronously (memory, SQLite without a sync per commit): say so at
      // once, so that a caller can deliver and answer in this same turn of the event loop
      // instead of one turn later, after the next poll for input.
      return Promise.resolve(tell(outcome));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/** A `Kv` over any `KvEngine`. Backends subclass it with their own constructor. */
export class EngineKv implements Kv {
  readonly capabilities: KvCapabilities;
  readonly #engine: KvEngine;
  #closed = false;
  readonly #open = (): KvEngine => {
    if (this.#closed) throw new Error("the KV store is closed");
    return this.#engine;
  };

  constructor(engine: KvEngine) {
    this.#engine = engine;
    this.capabilities = Object.freeze({ ...engine.capabilities });
  }

  async get<T = KvValue>(key: KvKey): Promise<KvEntryMaybe<T>> {
    const raw = await this.#open().get(entryKey(key));
    return toMaybe<T>(key, raw);
  }

  async getMany<T = KvValue>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]> {
    if (!Array.isArray(keys)) throw new TypeError("getMany expects an array of keys");
    const encoded = keys.map(entryKey);
    const raws = encoded.length === 0 ? [] : await this.#open().getMany(encoded);
    return raws.map((raw, i) => toMaybe<T>(keys[i], raw));
  }

  async set(key: KvKey, value: KvValue): Promise<KvCommitResult> {
    const mutation: RawMutation = { type: "set", key: writeKey(key), value: encodeValue(value) };
    const versionstamp = await this.#open().commit([], [mutation]);
    if (versionstamp === null) {
      throw new Error("set failed: the backend refused an unchecked write");
    }
    return { ok: true, versionstamp };
  }

  async delete(key: KvKey): Promise<void> {
    await this.#open().commit([], [{ type: "delete", key: writeKey(key) }]);
  }

  list<T = KvValue>(selector: KvListSelector, options: KvListOptions = {}): KvListIterator<T> {
    return new ListIterator<T>(this.#open, selector, options);
  }

  atomic(): AtomicOperation {
    return new Atomic(this.#open);
  }

  storeStats(): KvStoreStats | undefined {
    return this.#engine.storeStats?.();
  }

  async ping(): Promise<void> {
    await this.#open().ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#engine.close();
  }
}
