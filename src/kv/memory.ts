/**
 * An in-process, non-durable store: tests, `memory:` URLs, and single-process deployments
 * that do not need history across restarts.
 *
 * Entries live in sorted blocks (see MemoryEngine) and are found by binary search. Writing a
 * key greater than every stored key is a plain push; other inserts and deletes shift at most
 * one block.
 */
import { EngineKv, formatVersionstamp } from "./engine.ts";
import type { KvEngine, RawCheck, RawEntry, RawMutation } from "./engine.ts";
import { compareBytes } from "./key-codec.ts";
import type { KvCapabilities } from "./kv.ts";
import { sumEncoded } from "./value-codec.ts";

interface Slot {
  readonly key: Uint8Array;
  /** Replaced, never mutated, so entries handed to a list iterator stay intact. */
  value: Uint8Array;
  version: number;
}

/** Identity of a key as a string, for the staging map of a commit with `sum`. */
function keyId(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** Set by `compareFrom`: how many leading bytes its two keys share. */
let sharedPrefix = 0;

/**
 * memcmp order of `a` and `b`, which are known to share their first `from`
 * bytes; leaves the length of their common prefix in `sharedPrefix`.
 */
function compareFrom(a: Uint8Array, b: Uint8Array, from: number): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = from; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) {
      sharedPrefix = i;
      return d;
    }
  }
  sharedPrefix = n;
  return a.length - b.length;
}

/** Insert hint slots (a power of two). */
const HINTS = 1024;
/** Trailing bytes left out of a key's hint: two number parts, e.g. (timestamp, sequence). */
const HINT_SUFFIX = 18;

/**
 * The hint slot of a key: a hash of all but its last HINT_SUFFIX bytes, so
 * keys that differ only in a trailing (timestamp, sequence), like one
 * conversation's history, share a hint. Any grouping is correct (a hint is
 * always verified); this one makes appends to a conversation hit.
 */
function hintIndex(key: Uint8Array): number {
  const end = key.length - HINT_SUFFIX;
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ key[i], 0x01000193);
  return (h >>> 0) & (HINTS - 1);
}

/** Slots per block before it is split in two (keeps inserts O(log n + BLOCK)). */
const BLOCK = 512;

/** A position: block index and slot index within it. */
interface Pos {
  b: number;
  i: number;
}

class MemoryEngine implements KvEngine {
  readonly capabilities: KvCapabilities = { durable: false, sharedAcrossProcesses: false };
  /**
   * Entries sorted by key, in blocks of at most 2 x BLOCK slots, themselves in
   * key order (a flat B-tree of height 2). A single sorted array would shift
   * every later entry on each insert: chat history interleaves many
   * conversations, so inserts land in the middle, not at the end.
   */
  #blocks: Slot[][] = [[]];
  #version = 0;
  /** Insert hints (see `#afterHint`): the slot last put under each hint, and where. */
  readonly #hintSlot: (Slot | undefined)[] = new Array(HINTS).fill(undefined);
  readonly #hintBlock = new Int32Array(HINTS);
  readonly #hintIndex = new Int32Array(HINTS);

  /**
   * First position whose key is >= `key` (block index = blocks.length if none).
   *
   * Keys in one region share long prefixes (every history key of a
   * conversation starts with the same ~45 bytes), so the bisection tracks how
   * many leading bytes `key` shares with the current lower and upper bounds:
   * every key between them shares at least the smaller of the two, and each
   * comparison starts there instead of at byte 0.
   */
  #lowerBound(key: Uint8Array): Pos {
    const blocks = this.#blocks;
    let lo = 0;
    let hi = blocks.length;
    const last = blocks[hi - 1];
    // Appends and reads of recent history hit the tail: check it before bisecting.
    if (last.length === 0 || compareBytes(last[last.length - 1].key, key) < 0) {
      return { b: hi - 1, i: last.length };
    }
    // The first block whose last key is >= key.
    let lowLcp = 0;
    let highLcp = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = blocks[mid];
      if (compareFrom(block[block.length - 1].key, key, lowLcp < highLcp ? lowLcp : highLcp) < 0) {
        lo = mid + 1;
        lowLcp = sharedPrefix;
      } else {
        hi = mid;
        highLcp = sharedPrefix;
      }
    }
    // Within it, bounded below by the previous block's last key and above by
    // this block's last key: the prefix knowledge carries over.
    const block = blocks[lo];
    let i = 0;
    let j = block.length;
    while (i < j) {
      const mid = (i + j) >>> 1;
      if (compareFrom(block[mid].key, key, lowLcp < highLcp ? lowLcp : highLcp) < 0) {
        i = mid + 1;
        lowLcp = sharedPrefix;
      } else {
        j = mid;
        highLcp = sharedPrefix;
      }
    }
    return { b: lo, i };
  }

  #find(key: Uint8Array): Slot | null {
    const { b, i } = this.#lowerBound(key);
    const slot = this.#blocks[b][i];
    return slot !== undefined && compareBytes(slot.key, key) === 0 ? slot : null;
  }

  #entry(slot: Slot): RawEntry {
    return { key: slot.key, value: slot.value, versionstamp: formatVersionstamp(slot.version) };
  }

  get(key: Uint8Array): RawEntry | null {
    const slot = this.#find(key);
    return slot ? this.#entry(slot) : null;
  }

  getMany(keys: readonly Uint8Array[]): (RawEntry | null)[] {
    return keys.map((k) => this.get(k));
  }

  scan(start: Uint8Array, end: Uint8Array, limit: number, reverse: boolean): RawEntry[] {
    const blocks = this.#blocks;
    const out: RawEntry[] = [];
    if (reverse) {
      let { b, i } = this.#lowerBound(end);
      i--;
      while (b >= 0 && out.length < limit) {
        if (i < 0) {
          if (--b < 0) break;
          i = blocks[b].length - 1;
          continue;
        }
        const slot = blocks[b][i];
        if (compareBytes(slot.key, start) < 0) break;
        out.push(this.#entry(slot));
        i--;
      }
    } else {
      let { b, i } = this.#lowerBound(start);
      while (b < blocks.length && out.length < limit) {
        if (i >= blocks[b].length) {
          b++;
          i = 0;
          continue;
        }
        const slot = blocks[b][i];
        if (compareBytes(slot.key, end) >= 0) break;
        out.push(this.#entry(slot));
        i++;
      }
    }
    return out;
  }

  commit(checks: readonly RawCheck[], mutations: readonly RawMutation[]): string | null {
    for (const check of checks) {
      const slot = this.#find(check.key);
      const current = slot ? formatVersionstamp(slot.version) : null;
      if (current !== check.versionstamp) return null;
    }
    const version = this.#version + 1;
    let ops = mutations;
    if (mutations.some((m) => m.type === "sum")) {
      // A sum can fail on a non-bigint; resolve every sum to a plain set first, so a failure
      // throws before anything was touched. Earlier mutations of the same commit are seen
      // through the staging map.
      const staged = new Map<string, Uint8Array | null>();
      const resolved: RawMutation[] = [];
      for (const m of mutations) {
        const id = keyId(m.key);
        if (m.type === "sum") {
          const before = staged.has(id) ? staged.get(id) : this.#find(m.key)?.value;
          const value = sumEncoded(before, m.n);
          staged.set(id, value);
          resolved.push({ type: "set", key: m.key, value });
        } else {
          staged.set(id, m.type === "set" ? m.value : null);
          resolved.push(m);
        }
      }
      ops = resolved;
    }
    for (const m of ops) {
      if (m.type === "set") this.#put(m.key, m.value, version);
      else if (m.type === "delete") this.#remove(m.key);
    }
    this.#version = version;
    return formatVersionstamp(version);
  }

  #put(key: Uint8Array, value: Uint8Array, version: number): void {
    const h = hintIndex(key);
    let pos = this.#afterHint(h, key);
    if (pos === null) {
      pos = this.#lowerBound(key);
      const slot = this.#blocks[pos.b][pos.i];
      if (slot !== undefined && compareBytes(slot.key, key) === 0) {
        slot.value = value;
        slot.version = version;
        return;
      }
    }
    let { b, i } = pos;
    const block = this.#blocks[b];
    const slot: Slot = { key, value, version };
    if (i === block.length) block.push(slot);
    else block.splice(i, 0, slot);
    if (block.length > 2 * BLOCK) {
      this.#blocks.splice(b, 1, block.slice(0, BLOCK), block.slice(BLOCK));
      if (i >= BLOCK) {
        b++;
        i -= BLOCK;
      }
    }
    this.#hintSlot[h] = slot;
    this.#hintBlock[h] = b;
    this.#hintIndex[h] = i;
  }

  /**
   * Where `key` goes if it belongs right after the slot last inserted under
   * the same hint (see `hintIndex`), or null (then bisect). Chat history
   * appends to the end of each conversation, which is the middle of the key
   * space: this turns most of those inserts into two short comparisons
   * instead of a bisection through cold memory. The hint is only trusted if
   * that slot is still where it was put and `key` sorts between it and its
   * successor; a key equal to the successor is left to the bisection.
   */
  #afterHint(h: number, key: Uint8Array): Pos | null {
    const hinted = this.#hintSlot[h];
    if (hinted === undefined) return null;
    const b = this.#hintBlock[h];
    const i = this.#hintIndex[h];
    const block = this.#blocks[b];
    if (block === undefined || block[i] !== hinted || compareBytes(hinted.key, key) >= 0) {
      return null;
    }
    const next = i + 1 < block.length ? block[i + 1] : this.#blocks[b + 1]?.[0];
    if (next !== undefined && compareBytes(next.key, key) <= 0) return null;
    return { b, i: i + 1 };
  }

  #remove(key: Uint8Array): void {
    const { b, i } = this.#lowerBound(key);
    const block = this.#blocks[b];
    const slot = block[i];
    if (slot === undefined || compareBytes(slot.key, key) !== 0) return;
    block.splice(i, 1);
    if (block.length === 0 && this.#blocks.length > 1) this.#blocks.splice(b, 1);
  }

  ping(): void {}

  close(): void {
    this.#blocks = [[]];
    this.#hintSlot.fill(undefined);
  }
}

/** A fresh, empty in-memory store. */
export class MemoryKv extends EngineKv {
  constructor() {
    super(new MemoryEngine());
  }
}
