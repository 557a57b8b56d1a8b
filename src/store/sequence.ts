import type { Kv } from "../kv/kv.ts";
import { SEQ_KEY } from "./keys.ts";

/**
 * Arrival sequence numbers for history and inbox keys: strictly increasing
 * within a process and across restarts, handed out synchronously.
 *
 * Numbers are reserved from the store in blocks (one checked `set` per block),
 * so the hot path never waits for the store; the next block is fetched in the
 * background when the current one runs low. A crash wastes at most the rest of
 * one block, never reuses a number.
 *
 * A block is used as soon as its reservation is applied, not once it is durable:
 * every write that carries one of its numbers is committed after the reservation,
 * and a store's commits become durable in order (SQLite's WAL: an fsync covers every
 * transaction written before it), so no number outlives its reservation in a crash.
 * Waiting for durability instead let a slow fsync (a kernel writing back a large
 * WAL; a busy core) outlast half a block at full speed, and every message then
 * failed until the reservation landed.
 */
export class SequenceAllocator {
  #next = 0;
  #limit = 0;
  #refill: Promise<void> | null = null;
  #queued: { start: number; end: number } | null = null;

  private constructor(private readonly kv: Kv, private readonly block: number) {}

  static async open(kv: Kv, block = 100_000): Promise<SequenceAllocator> {
    const a = new SequenceAllocator(kv, block);
    const { start, end } = await a.#reserve();
    a.#next = start;
    a.#limit = end;
    return a;
  }

  /** The next number; never blocks (falls back to waiting only if a whole block was used up in one tick). */
  next(): number {
    if (this.#next >= this.#limit && this.#queued !== null) {
      this.#next = this.#queued.start;
      this.#limit = this.#queued.end;
      this.#queued = null;
    }
    if (this.#next >= this.#limit) {
      throw new Error("sequence block exhausted before the next was reserved");
    }
    const n = this.#next++;
    if (
      this.#limit - this.#next < this.block / 2 && this.#queued === null && this.#refill === null
    ) {
      this.#refill = this.#reserve().then(
        (r) => {
          this.#queued = r;
          this.#refill = null;
        },
        () => {
          this.#refill = null; // retried on the next call
        },
      );
    }
    return n;
  }

  /** Waits for a pending refill (used before a burst larger than half a block). */
  async ready(): Promise<void> {
    if (this.#refill) await this.#refill;
  }

  async #reserve(): Promise<{ start: number; end: number }> {
    for (;;) {
      const cur = await this.kv.get<bigint>(SEQ_KEY);
      const start = cur.value ?? 0n;
      const end = start + BigInt(this.block);
      const applied = Promise.withResolvers<boolean>();
      this.kv.atomic().check({ key: SEQ_KEY, versionstamp: cur.versionstamp })
        .set(SEQ_KEY, end).commit({ onApplied: () => applied.resolve(true) })
        // A store that does not report `onApplied` has applied once it resolves.
        .then((res) => applied.resolve(res.ok), applied.reject);
      if (await applied.promise) return { start: Number(start) + 1, end: Number(end) + 1 };
    }
  }
}
