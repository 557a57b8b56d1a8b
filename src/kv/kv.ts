/**
 * The pluggable key-value store contract, modelled on Deno KV.
 *
 * The server talks to storage only through `Kv`; `MemoryKv` and `SqliteKv` implement it
 * today, and any later backend (Redis, …) must pass the conformance suite in
 * `test/kv/conformance.ts` unchanged. The semantics follow Deno KV where it documents them:
 *
 * - Keys are tuples. Parts order first by type (Uint8Array < string < number < bigint <
 *   boolean; this is Deno's *documented* order) and then by value: bytes and strings by their
 *   (UTF-8) bytes, numbers numerically with -0 before 0 (they are distinct keys), bigints
 *   numerically, false < true. NaN key parts are rejected. Tuples compare part by part, and a
 *   tuple sorts before every longer tuple it prefixes.
 * - Values are copied in on write and out on read, so callers never alias stored memory.
 * - Every successful write gets a versionstamp: 20 lower-case hex characters, strictly
 *   increasing with each commit and shared by all mutations of one atomic commit.
 * - `list` is ordered, can run backwards, and can resume from an opaque cursor.
 *
 * Deliberate differences from Deno KV: `sum` works on plain bigint values (arbitrary
 * precision, may go negative) instead of `Deno.KvU64`; values are restricted to plain data
 * (no Date/Map/Set/class instances, no `undefined`); there is no `expireIn`, `watch` or queue.
 */

import type { PackedKey } from "./key-codec.ts";

/** One element of a key tuple. */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean;

/** A key: a non-empty tuple for reads and writes; may be empty as a list prefix. */
export type KvKey = readonly KvKeyPart[];

/** What a store can hold: plain data, nested arbitrarily (but not cyclically). */
export type KvValue =
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | null
  | KvValue[]
  | { [k: string]: KvValue };

/** A stored entry. */
export interface KvEntry<T> {
  key: KvKey;
  value: T;
  versionstamp: string;
}

/** The answer to `get`: a missing key has `value` and `versionstamp` null. */
export interface KvEntryMaybe<T> {
  key: KvKey;
  value: T | null;
  versionstamp: string | null;
}

/**
 * What `list` walks over.
 * - `{ prefix }`: keys strictly longer than `prefix` that start with it (never `prefix` itself).
 * - `{ prefix, start }` / `{ prefix, end }`: the same, narrowed by an inclusive start or an
 *   exclusive end, which must itself lie inside the prefix.
 * - `{ start, end }`: `start` inclusive, `end` exclusive.
 */
export type KvListSelector =
  | { prefix: KvKey }
  | { prefix: KvKey; start: KvKey }
  | { prefix: KvKey; end: KvKey }
  | { start: KvKey; end: KvKey };

export interface KvListOptions {
  /** Maximum number of entries to yield (a positive integer). */
  limit?: number;
  /** Resume after the entry this cursor was taken at (same selector, any direction). */
  cursor?: string;
  /** List in descending key order. */
  reverse?: boolean;
  /** Entries fetched from the backend per round trip (1…1000). */
  batchSize?: number;
}

/**
 * An async iterator over list results. `cursor` is the position after the last entry
 * yielded; it is `""` once the listing ran to its end, and reading it before the first
 * entry (without a `cursor` option) throws, as in Deno KV.
 */
export interface KvListIterator<T> extends AsyncIterableIterator<KvEntry<T>> {
  readonly cursor: string;
}

/** `versionstamp: null` means "the key must not exist". */
export interface AtomicCheck {
  key: KvKey;
  versionstamp: string | null;
}

export interface KvCommitResult {
  ok: true;
  versionstamp: string;
}

export interface KvCommitError {
  ok: false;
}

export interface AtomicCommitOptions {
  /**
   * Called once the writes are applied: visible to readers and safe from a
   * crash of this process, but, on a store that syncs to disk separately
   * (SQLite "full"), not yet safe from power loss. Always called before
   * `commit()` resolves successfully; never after a failed check or error.
   *
   * `final` is true when the commit is complete as well: `commit()` resolves
   * with this same result and nothing more is coming (memory; SQLite without
   * a sync per commit). A store that commits synchronously calls it before
   * `commit()` returns, so a caller can finish its work in the same turn of
   * the event loop rather than in a later one.
   */
  onApplied?: (result: KvCommitResult, final: boolean) => void;
}

/**
 * A batch of checks and mutations applied all-or-nothing. Mutations apply in the order they
 * were added (a `sum` after a `set` of the same key sees the set value). Invalid keys or
 * values throw a TypeError from the builder call that receives them.
 */
export interface AtomicOperation {
  check(...checks: AtomicCheck[]): this;
  /** `key` may be a `PackedKey` (encoded once by `packKey`) on hot paths. */
  set(key: KvKey | PackedKey, value: KvValue): this;
  delete(key: KvKey | PackedKey): this;
  /** Add `n` to the bigint stored at `key` (missing counts as 0n); a non-bigint fails the commit. */
  sum(key: KvKey, n: bigint): this;
  /**
   * `{ ok: false }` when a check failed; nothing is applied then. Resolves
   * once the writes are durable (for a durable store).
   */
  commit(options?: AtomicCommitOptions): Promise<KvCommitResult | KvCommitError>;
}

export interface KvCapabilities {
  /** Data survives closing and reopening the store. */
  readonly durable: boolean;
  /** Several processes (e.g. the CLI and a running server) may open the same store at once. */
  readonly sharedAcrossProcesses: boolean;
}

/**
 * Figures of a store that does disk work in the background (SQLite with its flusher
 * threads), for metrics. Counters count since the store was opened.
 */
export interface KvStoreStats {
  /** The background threads run (false: never started, or failed and replaced). */
  readonly flusherUp: boolean;
  /** WAL checkpoints run by the checkpoint thread. */
  readonly checkpoints: number;
  /** Times the WAL was emptied so that the next commit started it over. */
  readonly walRestarts: number;
  /** WAL length, in pages, at the last checkpoint. */
  readonly walFrames: number;
  /** Total time commits were held while the WAL was emptied. */
  readonly commitHoldSeconds: number;
  /** Holds that ended at their time limit, before the WAL emptied (a disk in a slow spell). */
  readonly commitHoldsRanOut: number;
  /** Fsyncs of the WAL that made commits durable (one covers every commit written before it). */
  readonly fsyncs: number;
}

export interface Kv {
  readonly capabilities: KvCapabilities;
  /** Background disk work figures; undefined for stores without any. */
  storeStats?(): KvStoreStats | undefined;
  get<T = KvValue>(key: KvKey): Promise<KvEntryMaybe<T>>;
  /** One answer per key, in the order asked, read from one consistent snapshot. */
  getMany<T = KvValue>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]>;
  set(key: KvKey, value: KvValue): Promise<KvCommitResult>;
  /** Deleting a missing key is not an error. */
  delete(key: KvKey): Promise<void>;
  list<T = KvValue>(selector: KvListSelector, options?: KvListOptions): KvListIterator<T>;
  atomic(): AtomicOperation;
  /** Liveness probe for readiness checks: resolves if the store answers, rejects otherwise. */
  ping(): Promise<void>;
  /** Release the store; further calls reject. Closing twice is harmless. */
  close(): Promise<void>;
}
