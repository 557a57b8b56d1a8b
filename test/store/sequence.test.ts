/**
 * Arrival sequence numbers: increasing across blocks and restarts, and never
 * held up by a store whose commits are slow to become durable.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryKv } from "../../src/kv/memory.ts";
import { SequenceAllocator } from "../../src/store/sequence.ts";
import { FaultyKv } from "../support/faulty-kv.ts";

/** Lets the allocator's background refill run (a few microtask and timer turns). */
const turn = () => new Promise((r) => setTimeout(r, 0));

describe("SequenceAllocator", () => {
  it("hands out increasing numbers across blocks and across a reopen", async () => {
    const kv = new MemoryKv();
    const a = await SequenceAllocator.open(kv, 10);
    const seen: number[] = [];
    for (let i = 0; i < 95; i++) {
      seen.push(a.next());
      await turn();
    }
    const b = await SequenceAllocator.open(kv, 10); // a restart: never below what was reserved
    seen.push(b.next());
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i] > seen[i - 1], `${seen[i]} after ${seen[i - 1]}`);
    }
    await kv.close();
  });

  it("uses a block once its reservation is written, without waiting for the disk", async () => {
    const faulty = new FaultyKv(new MemoryKv());
    let durable = () => {};
    // Every commit from here on is applied at once but durable only at the end.
    faulty.durableAfter = new Promise<void>((r) => durable = r);
    const a = await SequenceAllocator.open(faulty, 10);
    let last = 0;
    for (let i = 0; i < 100; i++) {
      const n = a.next(); // threw "sequence block exhausted" after 10 while the disk lagged
      assert.ok(n > last);
      last = n;
      await turn();
    }
    durable();
    await faulty.close();
  });
});
