import type { Kv } from "../kv/kv.ts";
import { SEQ_KEY } from "./keys.ts";

/**
 * Arrival sequence numbers for history and inbox keys: strictly increasing
 * within a process and across restarts, handed out synchronously.
 *
 * Numbers are reserved from the store in blocks (one atomic `sum` per block),
 * so the hot path never waits for the store; the next block is fetched in the
 * background when the current one runs low. A crash wastes at most the rest of
 * one block, never reuses a number.
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
      const res = await this.kv.atomic().check({ key: SEQ_KEY, versionstamp: cur.versionstamp })
        .set(SEQ_KEY, end).commit();
      if (res.ok) return { start: Number(start) + 1, end: Number(end) + 1 };
    }
  }
}
