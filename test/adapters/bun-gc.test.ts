/**
 * The Bun adapter's collection after a burst of logins (src/adapters/bun/gc.ts): a full
 * collection, then the footprint shrunk where this Bun still has `Bun.shrink`. Runs on
 * both runtimes against a stand-in for the `Bun` global (the memory it saves is measured
 * by the benchmark's conns scenario, BENCHMARKS.md).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { collectWith, purgeWakeDelay } from "../../src/adapters/bun/gc.ts";

describe("Bun adapter: collection after a burst of logins", () => {
  it("collects in full, then shrinks the footprint", () => {
    const calls: string[] = [];
    collectWith({ gc: (force) => calls.push(`gc ${force}`), shrink: () => calls.push("shrink") });
    assert.deepEqual(calls, ["gc true", "shrink"]);
  });

  it("only collects where Bun has no shrink", () => {
    const calls: string[] = [];
    collectWith({ gc: (force) => calls.push(`gc ${force}`) });
    assert.deepEqual(calls, ["gc true"]);
  });

  it("wakes the event loop just past the allocator's purge interval", () => {
    assert.equal(purgeWakeDelay({ MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "5000" }), 5100);
    assert.equal(purgeWakeDelay({ MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "1000" }), 1100);
    // mimalloc's default interval (100 ms) when unset or unusable.
    assert.equal(purgeWakeDelay({}), 200);
    assert.equal(purgeWakeDelay({ MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "soon" }), 200);
    assert.equal(purgeWakeDelay({ MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "-1" }), 200);
  });
});
