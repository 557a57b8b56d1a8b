/**
 * An in-process, non-durable store: tests, `memory:` URLs, and single-process deployments
 * that do not need history across restarts.
 *
 * Entries live in one array sorted by encoded key and are found by binary search. Writing a
 * key greater than every stored key (chat history: keys grow with time) is a plain push, so
 * in-order appends are O(1) amortised; other inserts and deletes shift the array.
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

class MemoryEngine implements KvEngine {
  readonly capabilities: KvCapabilities = { durable: false, sharedAcrossProcesses: false };
  #slots: Slot[] = [];
  #version = 0;

  /** Index of the first slot whose key is >= `key`. */
  #lowerBound(key: Uint8Array): number {
    const slots = this.#slots;
    let lo = 0;
    let hi = slots.length;
    // Appends and reads of recent history hit the tail: check it before bisecting.
    if (hi > 0 && compareBytes(slots[hi - 1].key, key) < 0) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(slots[mid].key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #find(key: Uint8Array): Slot | null {
    const i = this.#lowerBound(key);
    const slot = this.#slots[i];
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
    const slots = this.#slots;
    const out: RawEntry[] = [];
    if (reverse) {
      for (let i = this.#lowerBound(end) - 1; i >= 0 && out.length < limit; i--) {
        if (compareBytes(slots[i].key, start) < 0) break;
        out.push(this.#entry(slots[i]));
      }
    } else {
      for (let i = this.#lowerBound(start); i < slots.length && out.length < limit; i++) {
        if (compareBytes(slots[i].key, end) >= 0) break;
        out.push(this.#entry(slots[i]));
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
    const slots = this.#slots;
    const i = this.#lowerBound(key);
    if (i === slots.length) {
      slots.push({ key, value, version });
    } else if (compareBytes(slots[i].key, key) === 0) {
      slots[i].value = value;
      slots[i].version = version;
    } else {
      slots.splice(i, 0, { key, value, version });
    }
  }

  #remove(key: Uint8Array): void {
    const i = this.#lowerBound(key);
    const slot = this.#slots[i];
    if (slot !== undefined && compareBytes(slot.key, key) === 0) this.#slots.splice(i, 1);
  }

  ping(): void {}

  close(): void {
    this.#slots = [];
  }
}

/** A fresh, empty in-memory store. */
export class MemoryKv extends EngineKv {
  constructor() {
    super(new MemoryEngine());
  }
}
