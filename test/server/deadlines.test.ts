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

  it("cancel() forgets an item: it is not told, and the count of waiting items drops", async () => {
    const log: string[] = [];
    const deadlines = new FifoDeadlines<Item>(30);
    const ta = deadlines.add(new Item("a", log));
    const tb = deadlines.add(new Item("b", log));
    deadlines.add(new Item("c", log));
    assert.equal(deadlines.waiting, 3);
    deadlines.cancel(tb);
    deadlines.cancel(tb); // twice is once
    assert.equal(deadlines.waiting, 2);
    await sleep(70);
    assert.deepEqual(log, ["a", "c"]);
    assert.equal(deadlines.waiting, 0);
    // A spent ticket cancels nothing, not even the item that now has its old slot.
    deadlines.add(new Item("d", log));
    deadlines.cancel(ta);
    deadlines.cancel(tb);
    assert.equal(deadlines.waiting, 1);
    await sleep(70);
    assert.deepEqual(log, ["a", "c", "d"]);
  });

  it("tickets stay right across compaction; a queue of cancelled items empties and starts over", async () => {
    const log: string[] = [];
    const deadlines = new FifoDeadlines<Item>(400);
    // 1,500 due and told (past the compaction point) while 500 later ones wait (150 ms
    // later: a timer that late on a loaded machine would tell them together).
    for (let i = 0; i < 1500; i++) deadlines.add(new Item(`early${i}`, log));
    await sleep(150);
    const late = Array.from({ length: 500 }, (_, i) => deadlines.add(new Item(`late${i}`, log)));
    while (log.length < 1500) await sleep(2);
    assert.equal(deadlines.waiting, 500);
    // Cancel every late one but the last: only it is told.
    for (const t of late.slice(0, -1)) deadlines.cancel(t);
    await sleep(300);
    assert.equal(log.length, 1501);
    assert.equal(log[1500], "late499");
    // Every item cancelled: none is told, and once their time has passed the queue is
    // empty (no timer left), so the next item gets a timer of its own.
    const short = new FifoDeadlines<Item>(20);
    for (const t of ["x", "y", "z"].map((n) => short.add(new Item(n, log)))) short.cancel(t);
    assert.equal(short.waiting, 0);
    await sleep(60);
    assert.equal(log.length, 1501);
    short.add(new Item("after", log));
    await sleep(60);
    assert.deepEqual(log.slice(1501), ["after"]);
  });
});
