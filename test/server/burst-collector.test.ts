/**
 * The collection after a burst of logins: once per burst, only after logins
 * stop and input goes quiet, never for a trickle, never after stop(); and a
 * real server wires it up.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BurstCollector } from "../../src/server/burst-collector.ts";
import { startServer } from "../support/server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("BurstCollector", () => {
  it("collects once per burst, after no login for the quiet time", async () => {
    let runs = 0;
    const c = new BurstCollector(() => runs++, () => 0, 200, 5);
    for (let i = 0; i < 4; i++) c.loginSeen();
    await sleep(300);
    assert.equal(runs, 0, "4 logins are not a burst");
    // The burst keeps going past the quiet time of its first timer.
    for (let i = 0; i < 15; i++) {
      c.loginSeen();
      await sleep(20);
    }
    assert.equal(runs, 0, "not while logins keep coming");
    await sleep(400);
    assert.equal(runs, 1);
    assert.equal(c.collections, 1);
    await sleep(300);
    assert.equal(runs, 1, "once per burst");
    c.stop();
  });

  it("counts afresh after a collection and does nothing after stop()", async () => {
    let runs = 0;
    const c = new BurstCollector(() => runs++, () => 0, 30, 3);
    for (let i = 0; i < 3; i++) c.loginSeen();
    await sleep(80);
    assert.equal(runs, 1);
    for (let i = 0; i < 2; i++) c.loginSeen();
    await sleep(80);
    assert.equal(runs, 1, "2 logins since the last collection are not a burst");
    c.loginSeen();
    c.stop();
    await sleep(80);
    assert.equal(runs, 1, "stopped");
  });

  it("waits while the server's input keeps flowing", async () => {
    let runs = 0;
    let received = 0;
    const c = new BurstCollector(() => runs++, () => received, 100, 3, 600);
    for (let i = 0; i < 3; i++) c.loginSeen();
    for (let i = 0; i < 15; i++) {
      received += 700; // every 20 ms: over 600 in any 100 ms
      await sleep(20);
    }
    assert.equal(runs, 0, "not while traffic flows");
    await sleep(300);
    assert.equal(runs, 1, "once it stops");
    c.stop();
  });

  it("runs in a server after 100 logins, once they stop", async () => {
    let runs = 0;
    const t = await startServer({ collectGarbage: () => runs++ });
    try {
      const user = await t.addUser("burst");
      const clients = [];
      for (let i = 0; i < 100; i++) clients.push(await t.login(user));
      assert.equal(runs, 0);
      const deadline = Date.now() + 5000;
      while (runs === 0 && Date.now() < deadline) await sleep(100);
      assert.equal(runs, 1);
      for (const c of clients) c.close();
    } finally {
      await t.cleanup();
    }
  });
});
