/**
 * An in-process, non-durable store: tests, `memory:` URLs, and single-process deployments
 * that do not need history across restarts.
 *
 * Entries live in sorted blocks (see MemoryEngine) and are found by binary search. Each block
 * keeps its entries' bytes in a few large chunks and their order in typed arrays, so a stored entry
 * is no object at all for the garbage collector. With an object per entry and its key and
 * value arrays, a server keeping millions of messages gave every major collection three
 * objects per message to mark: 2 million history entries of 50 conversations cost 6-7.5 µs
 * and 1,060 B each on Deno that way, 2.7-3.0 µs and 275 B this way (Bun: 2.4-2.9 → 0.8-1.2 µs).
 */
import { EngineKv, formatVersionstamp } from "./engine.ts";
import type { KvEngine, RawCheck, RawEntry, RawMutation } from "./engine.ts";
import type { KvCapabilities } from "./kv.ts";
import { sumEncoded } from "./value-codec.ts";

/** Identity of a key as a string, for the staging map of a commit with `sum`. */
function keyId(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/**
 * Entries per block before it is split in two (keeps inserts O(log n + BLOCK)). Small,
 * because a split in the middle of a block (a conversation's end, see `splitPoint`)
 * copies everything after it into fresh memory in one go: with 512, 50 conversations at
 * 5,000 msg/s made ~8 such splits a second of up to 170 KB, 0.16 ms on average and up
 * to 1.2 ms (its fresh pages, ~2 µs each to fault in here, would be about half of that),
 * and the messages that arrived meanwhile were a fifth of those over 300 µs. With 64 a
 * split or a compaction copies at most ~20 KB; 2 million entries cost the same per
 * insert, and a full collection of a store holding them in 5,000 conversations ~20 %
 * more (more blocks to mark). BENCHMARKS.md, "Where the last 1 % waits now".
 */
const BLOCK = 64;
/** Most entries a block holds: it splits as soon as it has more than 2 x BLOCK. */
const MAX_ENTRIES = 2 * BLOCK + 1;
/** Bytes of a new block's first chunk; each further chunk doubles the last, up to MAX_CHUNK. */
const MIN_CHUNK = 4096;
const MAX_CHUNK = 64 * 1024;
/** Runs of entry bytes shorter than this are copied by a loop rather than a view and `set`. */
const SHORT_RUN = 256;
/** Trailing bytes a key's hint group leaves out: two number parts, e.g. (timestamp, sequence). */
const HINT_SUFFIX = 18;

/**
 * Up to MAX_ENTRIES entries in key order. Their key and value bytes are appended to the
 * last of the block's chunks and never overwritten: a replaced or removed entry's bytes
 * stay until the block is compacted into a new chunk, so the views that `get` and `scan`
 * hand out stay intact whatever is written later. A full chunk is followed by a new one,
 * not copied into a larger one: a block filled by appends (a conversation's history) was
 * copied about twice over on the way to its full size that way.
 */
class Block {
  /** Entry bytes, oldest chunk first; entries are appended to the last one. */
  chunks: Uint8Array[];
  /** Bytes in use in the last chunk. */
  tailUsed = 0;
  /** Bytes of all entries in the chunks, and how many of them belong to no entry any more. */
  used = 0;
  dead = 0;
  count = 0;
  /** Per entry, in key order: its chunk, where its key starts there, the key's and the value's length, its commit. */
  readonly chunk = new Uint16Array(MAX_ENTRIES);
  readonly offset = new Uint32Array(MAX_ENTRIES);
  readonly keyLength = new Uint32Array(MAX_ENTRIES);
  readonly valueLength = new Uint32Array(MAX_ENTRIES);
  readonly version = new Float64Array(MAX_ENTRIES);

  constructor(capacity: number) {
    this.chunks = [new Uint8Array(Math.max(MIN_CHUNK, capacity))];
  }

  key(i: number): Uint8Array {
    const at = this.offset[i];
    return this.chunks[this.chunk[i]].subarray(at, at + this.keyLength[i]);
  }

  value(i: number): Uint8Array {
    const at = this.offset[i] + this.keyLength[i];
    return this.chunks[this.chunk[i]].subarray(at, at + this.valueLength[i]);
  }

  /** memcmp order of entry `i`'s key and `key`, which share their first `from` bytes (see `shared`). */
  compare(i: number, key: Uint8Array, from: number): number {
    const bytes = this.chunks[this.chunk[i]];
    const at = this.offset[i];
    const length = this.keyLength[i];
    const n = length < key.length ? length : key.length;
    for (let j = from; j < n; j++) {
      const d = bytes[at + j] - key[j];
      if (d !== 0) {
        shared = j;
        return d;
      }
    }
    shared = n;
    return length - key.length;
  }

  /** True if entries `i` and `j` have the same hint group (see InsertHints): one conversation. */
  sameGroup(i: number, j: number): boolean {
    const length = this.keyLength[i];
    if (length !== this.keyLength[j]) return false;
    const x = this.chunks[this.chunk[i]];
    const y = this.chunks[this.chunk[j]];
    const a = this.offset[i];
    const b = this.offset[j];
    for (let k = 0; k < length - HINT_SUFFIX; k++) if (x[a + k] !== y[b + k]) return false;
    return true;
  }

  insert(i: number, key: Uint8Array, value: Uint8Array, version: number): void {
    const n = this.count;
    if (i < n) this.#move(i + 1, i, n);
    this.count = n + 1;
    this.#write(i, key, value, version);
  }

  replace(i: number, key: Uint8Array, value: Uint8Array, version: number): void {
    this.dead += this.keyLength[i] + this.valueLength[i];
    this.#write(i, key, value, version);
  }

  remove(i: number): void {
    const n = this.count;
    this.dead += this.keyLength[i] + this.valueLength[i];
    this.#move(i, i + 1, n);
    this.count = n - 1;
  }

  /**
   * Moves entries [at, count) into a new block (returned) and keeps the rest. Their bytes
   * stay here as dead bytes until this block compacts: where the kept entries are does not
   * change, so neither do views of them nor insert hints pointing at them.
   */
  splitOff(at: number): Block {
    const n = this.count;
    let size = 0;
    for (let i = at; i < n; i++) size += this.keyLength[i] + this.valueLength[i];
    const right = new Block(2 * size);
    for (let i = at; i < n; i++) {
      const j = i - at;
      right.keyLength[j] = this.keyLength[i];
      right.valueLength[j] = this.valueLength[i];
      right.version[j] = this.version[i];
    }
    right.used = right.tailUsed = this.#copyEntries(at, n, -1, right.chunks[0], right.offset, -at);
    right.count = n - at;
    this.count = at;
    this.dead += size;
    return right;
  }

  /**
   * Copies the bytes of entries [start, end), except `skip`, one after another into `to`,
   * recording where each went in `offsets[i + shift]`; returns the bytes copied. Entries
   * that lie back to back in one chunk (appended in key order: a conversation's history)
   * are copied as one run, one `set` each: a split or compaction of a block filled by
   * appends is then a few memory copies instead of a loop over every byte.
   */
  #copyEntries(
    start: number,
    end: number,
    skip: number,
    to: Uint8Array,
    offsets: Uint32Array,
    shift: number,
  ): number {
    let at = 0;
    // The pending run: `runLength` bytes from `runStart` in chunk `runChunk`.
    let runChunk = -1;
    let runStart = 0;
    let runLength = 0;
    for (let i = start; i < end; i++) {
      if (i === skip) continue;
      const chunk = this.chunk[i];
      const offset = this.offset[i];
      const length = this.keyLength[i] + this.valueLength[i];
      offsets[i + shift] = at + runLength;
      if (chunk === runChunk && offset === runStart + runLength) {
        runLength += length;
        continue;
      }
      if (runLength > 0) at = copyRun(to, at, this.chunks[runChunk], runStart, runLength);
      runChunk = chunk;
      runStart = offset;
      runLength = length;
    }
    if (runLength > 0) at = copyRun(to, at, this.chunks[runChunk], runStart, runLength);
    return at;
  }

  /** Moves the index entries [start, end) to `target` (all five arrays alike). */
  #move(target: number, start: number, end: number): void {
    this.chunk.copyWithin(target, start, end);
    this.offset.copyWithin(target, start, end);
    this.keyLength.copyWithin(target, start, end);
    this.valueLength.copyWithin(target, start, end);
    this.version.copyWithin(target, start, end);
  }

  /** Stores entry `i`'s bytes (its slot is in place; its old bytes, if any, count as dead). */
  #write(i: number, key: Uint8Array, value: Uint8Array, version: number): void {
    const size = key.length + value.length;
    let last = this.chunks.length - 1;
    if (this.tailUsed + size > this.chunks[last].length) last = this.#makeRoom(size, i);
    const tail = this.chunks[last];
    const at = this.tailUsed;
    tail.set(key, at);
    tail.set(value, at + key.length);
    this.tailUsed = at + size;
    this.used += size;
    this.chunk[i] = last;
    this.offset[i] = at;
    this.keyLength[i] = key.length;
    this.valueLength[i] = value.length;
    this.version[i] = version;
  }

  /**
   * Room for `size` more bytes (returns the index of the chunk that has it): a new chunk
   * after the others, twice the size of the last one up to MAX_CHUNK, or, when at least
   * half of the bytes are dead, one chunk holding only the live entries (in key order,
   * which also puts neighbours next to each other again) except entry `writing`, whose
   * bytes come next. Old chunks are left as they are for any view of them.
   */
  #makeRoom(size: number, writing: number): number {
    // (Chunk indexes are 16-bit: a block that somehow reached that many chunks compacts too.)
    if (this.dead * 2 >= this.used || this.chunks.length === 0xffff) {
      const live = this.used - this.dead + size;
      const bytes = new Uint8Array(Math.max(MIN_CHUNK, live + Math.min(live, MAX_CHUNK)));
      this.used = this.tailUsed = this.#copyEntries(0, this.count, writing, bytes, this.offset, 0);
      this.chunk.fill(0, 0, this.count);
      this.chunks = [bytes];
      this.dead = 0;
      return 0;
    }
    const last = this.chunks[this.chunks.length - 1].length;
    this.chunks.push(new Uint8Array(Math.max(size, Math.min(2 * last, MAX_CHUNK))));
    this.tailUsed = 0;
    return this.chunks.length - 1;
  }
}

/**
 * Copies `length` bytes to `to` at `at`; returns where the copy ends. Short runs by a loop,
 * as `set(subarray())` makes a view object each (measured: a split copying 512 entries one
 * view each was a tenth of a profile); long ones by `set`, a memory copy.
 */
function copyRun(
  to: Uint8Array,
  at: number,
  from: Uint8Array,
  start: number,
  length: number,
): number {
  if (length < SHORT_RUN) {
    for (let k = 0; k < length; k++) to[at + k] = from[start + k];
  } else {
    to.set(from.subarray(start, start + length), at);
  }
  return at + length;
}

/**
 * Where a full block that has just taken an entry at `i` splits (the first entry of the new
 * block on its right). Chat history appends to the end of each conversation, so B-tree
 * style the split goes where the appends are: at the block's end the new entry starts the
 * next block and nothing else moves; in the middle, after the last entry of a conversation
 * (the new one), so the entries that follow, another conversation's first ones, move out
 * once and the conversation's next entry starts a block of its own. A split in the middle
 * of the block there would move half a block per half a block of messages, for good: the
 * next conversation's first entries stay behind the growing end. Other inserts split in
 * the middle.
 */
function splitPoint(block: Block, i: number): number {
  if (i === block.count - 1) return i;
  if (i > 0 && block.sameGroup(i - 1, i) && !block.sameGroup(i, i + 1)) return i + 1;
  return BLOCK;
}

/** Set by `Block.compare`: how many leading bytes its two keys share. */
let shared = 0;

/** Insert hint slots (a power of two). */
const HINTS = 4096;

/**
 * Where the entry last put in each group of keys went, for `MemoryEngine.#afterHint`. A
 * group is all keys that differ only in their last HINT_SUFFIX bytes, like one
 * conversation's history (any grouping is correct: a hint is always verified). A group
 * has two candidate slots and takes the less recently used one, so two busy
 * conversations whose hashes collide do not evict each other on every message (with one
 * slot, 8 of 50 conversations did: 16 % of inserts bisected).
 */
class InsertHints {
  /** Per slot: the group's full hash, block index (-1: none), entry index, last use. */
  readonly #tag = new Uint32Array(HINTS);
  readonly #block = new Int32Array(HINTS).fill(-1);
  readonly #index = new Int32Array(HINTS);
  readonly #used = new Float64Array(HINTS);
  #clock = 0;
  /** Hash of the key given to the last `find`. */
  #hash = 0;

  /** The slot of `key`'s group, or -1 if it has none. */
  find(key: Uint8Array): number {
    const end = key.length - HINT_SUFFIX;
    let h = 0x811c9dc5;
    for (let i = 0; i < end; i++) h = Math.imul(h ^ key[i], 0x01000193);
    h >>>= 0;
    this.#hash = h;
    const a = h & (HINTS - 1);
    if (this.#tag[a] === h && this.#block[a] >= 0) return a;
    const b = (h >>> 12) & (HINTS - 1);
    if (this.#tag[b] === h && this.#block[b] >= 0) return b;
    return -1;
  }

  block(slot: number): number {
    return this.#block[slot];
  }

  index(slot: number): number {
    return this.#index[slot];
  }

  /** Records entry `i` of block `b` for the group of the key last given to `find` (found at `slot`, or -1). */
  remember(slot: number, b: number, i: number): void {
    if (slot < 0) {
      const h = this.#hash;
      const a = h & (HINTS - 1);
      const c = (h >>> 12) & (HINTS - 1);
      slot = this.#used[a] <= this.#used[c] ? a : c;
      this.#tag[slot] = h;
    }
    this.#block[slot] = b;
    this.#index[slot] = i;
    this.#used[slot] = ++this.#clock;
  }

  /**
   * Keeps the hints pointing at the same blocks when blocks after `b` moved by `by` (a
   * split inserted one after `b`, or `b` was removed). A stale hint would still be safe,
   * but with many conversations every split would turn the hints of all later ones
   * into misses.
   */
  shift(b: number, by: number): void {
    const blocks = this.#block;
    for (let slot = 0; slot < HINTS; slot++) if (blocks[slot] > b) blocks[slot] += by;
  }

  clear(): void {
    this.#block.fill(-1);
  }
}

class MemoryEngine implements KvEngine {
  readonly capabilities: KvCapabilities = { durable: false, sharedAcrossProcesses: false };
  /**
   * Blocks in key order (a flat B-tree of height 2). A single sorted array would shift
   * every later entry on each insert: chat history interleaves many conversations, so
   * inserts land in the middle, not at the end.
   */
  #blocks: Block[] = [new Block(0)];
  #version = 0;
  /** Where `#seek` found its key: block index, and entry index within that block. */
  #b = 0;
  #i = 0;
  readonly #hints = new InsertHints();

  /**
   * Sets `#b` / `#i` to the first position whose key is >= `key` (`#b` = the last block
   * and `#i` its count if there is none).
   *
   * Keys in one region share long prefixes (every history key of a
   * conversation starts with the same ~45 bytes), so the bisection tracks how
   * many leading bytes `key` shares with the current lower and upper bounds:
   * every key between them shares at least the smaller of the two, and each
   * comparison starts there instead of at byte 0.
   */
  #seek(key: Uint8Array): void {
    const blocks = this.#blocks;
    let lo = 0;
    let hi = blocks.length;
    const last = blocks[hi - 1];
    // Appends and reads of recent history hit the tail: check it before bisecting.
    if (last.count === 0 || last.compare(last.count - 1, key, 0) < 0) {
      this.#b = hi - 1;
      this.#i = last.count;
      return;
    }
    // The first block whose last key is >= key.
    let lowLcp = 0;
    let highLcp = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = blocks[mid];
      if (block.compare(block.count - 1, key, lowLcp < highLcp ? lowLcp : highLcp) < 0) {
        lo = mid + 1;
        lowLcp = shared;
      } else {
        hi = mid;
        highLcp = shared;
      }
    }
    // Within it, bounded below by the previous block's last key and above by
    // this block's last key: the prefix knowledge carries over.
    const block = blocks[lo];
    let i = 0;
    let j = block.count;
    while (i < j) {
      const mid = (i + j) >>> 1;
      if (block.compare(mid, key, lowLcp < highLcp ? lowLcp : highLcp) < 0) {
        i = mid + 1;
        lowLcp = shared;
      } else {
        j = mid;
        highLcp = shared;
      }
    }
    this.#b = lo;
    this.#i = i;
  }

  /** Seeks `key`; true if it is stored (at `#b` / `#i`). */
  #found(key: Uint8Array): boolean {
    this.#seek(key);
    const block = this.#blocks[this.#b];
    return this.#i < block.count && block.compare(this.#i, key, 0) === 0;
  }

  #entry(block: Block, i: number): RawEntry {
    return {
      key: block.key(i),
      value: block.value(i),
      versionstamp: formatVersionstamp(block.version[i]),
    };
  }

  get(key: Uint8Array): RawEntry | null {
    return this.#found(key) ? this.#entry(this.#blocks[this.#b], this.#i) : null;
  }

  getMany(keys: readonly Uint8Array[]): (RawEntry | null)[] {
    return keys.map((k) => this.get(k));
  }

  scan(start: Uint8Array, end: Uint8Array, limit: number, reverse: boolean): RawEntry[] {
    const blocks = this.#blocks;
    const out: RawEntry[] = [];
    if (reverse) {
      this.#seek(end);
      let b = this.#b;
      let i = this.#i - 1;
      while (b >= 0 && out.length < limit) {
        if (i < 0) {
          if (--b < 0) break;
          i = blocks[b].count - 1;
          continue;
        }
        const block = blocks[b];
        if (block.compare(i, start, 0) < 0) break;
        out.push(this.#entry(block, i));
        i--;
      }
    } else {
      this.#seek(start);
      let b = this.#b;
      let i = this.#i;
      while (b < blocks.length && out.length < limit) {
        const block = blocks[b];
        if (i >= block.count) {
          b++;
          i = 0;
          continue;
        }
        if (block.compare(i, end, 0) >= 0) break;
        out.push(this.#entry(block, i));
        i++;
      }
    }
    return out;
  }

  commit(checks: readonly RawCheck[], mutations: readonly RawMutation[]): string | null {
    for (const check of checks) {
      const current = this.#found(check.key)
        ? formatVersionstamp(this.#blocks[this.#b].version[this.#i])
        : null;
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
          const before = staged.has(id) ? staged.get(id) : this.#valueOf(m.key);
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

  #valueOf(key: Uint8Array): Uint8Array | undefined {
    return this.#found(key) ? this.#blocks[this.#b].value(this.#i) : undefined;
  }

  #put(key: Uint8Array, value: Uint8Array, version: number): void {
    const slot = this.#hints.find(key);
    if (!this.#afterHint(slot, key) && this.#found(key)) {
      this.#blocks[this.#b].replace(this.#i, key, value, version);
      return;
    }
    let b = this.#b;
    let i = this.#i;
    const block = this.#blocks[b];
    block.insert(i, key, value, version);
    if (block.count > 2 * BLOCK) {
      const at = splitPoint(block, i);
      const right = block.splitOff(at);
      this.#blocks.splice(b + 1, 0, right);
      this.#hints.shift(b, 1);
      if (i >= at) {
        b++;
        i -= at;
      }
    }
    this.#hints.remember(slot, b, i);
  }

  /**
   * True, with `#b` / `#i` set to where `key` goes, if it belongs right after the entry
   * last inserted in its group (hint `slot`, see InsertHints); else bisect. Chat history
   * appends to the end of each conversation, which is the middle of the key space: this
   * turns most of those inserts into two short comparisons instead of a bisection
   * through cold memory. Whatever was written since (other entries may now be at that
   * position, or the block split), the position is only used if `key` sorts after the
   * entry there and before its successor, which is all a correct insert needs; a key
   * equal to either is left to the bisection.
   */
  #afterHint(slot: number, key: Uint8Array): boolean {
    if (slot < 0) return false;
    const b = this.#hints.block(slot);
    const i = this.#hints.index(slot);
    const block = this.#blocks[b];
    if (block === undefined || i >= block.count || block.compare(i, key, 0) >= 0) return false;
    if (i + 1 < block.count) {
      if (block.compare(i + 1, key, 0) <= 0) return false;
    } else {
      const next = this.#blocks[b + 1];
      if (next !== undefined && next.compare(0, key, 0) <= 0) return false;
    }
    this.#b = b;
    this.#i = i + 1;
    return true;
  }

  #remove(key: Uint8Array): void {
    if (!this.#found(key)) return;
    const block = this.#blocks[this.#b];
    block.remove(this.#i);
    if (block.count === 0 && this.#blocks.length > 1) {
      this.#blocks.splice(this.#b, 1);
      this.#hints.shift(this.#b, -1);
    }
  }

  ping(): void {}

  close(): void {
    this.#blocks = [new Block(0)];
    this.#hints.clear();
  }
}

/** A fresh, empty in-memory store. */
export class MemoryKv extends EngineKv {
  constructor() {
    super(new MemoryEngine());
  }
}
