/** atTurnEnd: one callback runs this turn's tasks and what they queue, before the next turn. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { atTurnEnd } from "../../src/server/turn-end.ts";

describe("atTurnEnd", () => {
  it("runs tasks in order, and tasks they queue in the same callback", async () => {
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      atTurnEnd(() => {
        order.push("commit");
        // Scheduled now, so it runs in the next callback: after the flush below.
        setImmediate(() => {
          order.push("next turn");
          resolve();
        });
        atTurnEnd(() => order.push("flush"));
      });
      atTurnEnd(() => order.push("second"));
    });
    await done;
    assert.deepEqual(order, ["commit", "second", "flush", "next turn"]);
  });

  it("leaves a task that keeps queueing itself to later turns", async () => {
    let runs = 0;
    let otherTurn = false;
    const again = () => {
      runs++;
      if (runs < 50) atTurnEnd(again);
    };
    atTurnEnd(again);
    setImmediate(() => (otherTurn = runs < 50));
    while (runs < 50) await new Promise((r) => setTimeout(r, 1));
    assert.ok(otherTurn, "other callbacks ran before the chain finished");
  });
});
