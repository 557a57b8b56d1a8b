/** batchNow: one clock reading per synchronous run. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { batchNow } from "../../src/server/clock.ts";

describe("batchNow", () => {
  it("returns one value within a synchronous run and a fresh one after", async () => {
    const first = batchNow();
    const spinUntil = performance.now() + 3;
    while (performance.now() < spinUntil) { /* let real time pass */ }
    assert.equal(batchNow(), first, "same run, same value");
    await Promise.resolve();
    const later = batchNow();
    assert.ok(later >= first + 3, `a later run reads the clock again (${later - first} ms)`);
  });
});
