/** FifoDeadlines: one timer for equal-length deadlines, in the order they were set. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FifoDeadlines } from "../../src/server/deadlines.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Item {
  passedAt = -1;
  constructor(readonly name: string, readonly log: string[]) {}
  deadlinePassed(): void {
    this.passedAt = performance.now();
    this.log.push(this.name);
  }
}

describe("FifoDeadlines", () => {
  it("tells each item once, in order, no sooner than its own deadline", async () => {
    const log: string[] = [];
    const deadlines = new FifoDeadlines<Item>(60);
    const a = new Item("a", log);
    const b = new Item("b", log);
    const c = new Item("c", log);
    const addedA = performance.now();
    deadlines.add(a);
    await sleep(30);
    const addedB = performance.now();
    deadlines.add(b);
    deadlines.add(c);
    await sleep(45);
    assert.deepEqual(log, ["a"], "a is due, b and c are not yet");
    await sleep(60);
    assert.deepEqual(log, ["a", "b", "c"]);
    assert.ok(a.passedAt - addedA >= 59, `a after ${a.passedAt - addedA} ms`);
    assert.ok(b.passedAt - addedB >= 59, `b after ${b.passedAt - addedB} ms`);
    // Empty again: a new item starts a new timer.
    deadlines.add(new Item("d", log));
    await sleep(100);
    assert.deepEqual(log, ["a", "b", "c", "d"]);
  });

  it("serves thousands of items, past the compaction point", async () => {
    const log: string[] = [];
    const deadlines = new FifoDeadlines<Item>(5);
    for (let i = 0; i < 3000; i++) deadlines.add(new Item(String(i), log));
    await sleep(60);
    assert.equal(log.length, 3000);
    assert.equal(log[2999], "2999");
  });

  it("clear() drops pending deadlines and stops the timer", async () => {
    const log: string[] = [];
    const deadlines = new FifoDeadlines<Item>(20);
    deadlines.add(new Item("x", log));
    deadlines.clear();
    await sleep(50);
    assert.deepEqual(log, []);
  });
});
