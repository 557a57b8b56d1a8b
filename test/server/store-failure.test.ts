/**
 * A store that fails (disk full, locked database): requests answer 0x83,
 * nothing is acknowledged that was not stored, connections stay up, and the
 * server works again by itself once the store does.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SolecClient } from "../../src/client/client.ts";
import { FaultyKv } from "../support/faulty-kv.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { rejectsWith } from "../support/expect.ts";

describe("store failures", () => {
  let t: TestServer;
  let faulty: FaultyKv;
  let alice: string, bob: string;
  let a: SolecClient, b: SolecClient;
  before(async () => {
    t = await startServer({
      wrapKv: (kv) => (faulty = new FaultyKv(kv)),
    });
    alice = await t.addUser("alice");
    bob = await t.addUser("bob");
    await t.contacts(alice, bob);
    a = await t.login(alice);
    b = await t.login(bob);
    await a.join("#ops@a.test");
  });
  after(() => t.cleanup());

  it("answers 0x83 to every request while the store fails, and keeps the connection", async () => {
    faulty.failing = true;
    await rejectsWith(a.send(bob, "lost?", 2200000000000), 0x83);
    await rejectsWith(a.send("#ops@a.test", "lost?", 2200000000001), 0x83);
    await rejectsWith(a.join("#other@a.test"), 0x83);
    await rejectsWith(a.history(bob), 0x83);
    await rejectsWith(a.list(), 0x83);
    assert.ok(faulty.failures >= 5);
    // Still connected: a ping needs no store.
    assert.equal((await a.ping(new Uint8Array([1]))).length, 1);
    await b.ping();
    assert.equal(b.pendingMessages, 0, "nothing was delivered");
  });

  it("refuses logins with 0x83 while the store fails", async () => {
    const c = await t.connect();
    await rejectsWith(c.login(alice, "pw-alice"), 0x83);
  });

  it("recovers by itself, and only what was acknowledged is stored", async () => {
    faulty.failing = false;
    await a.send(bob, "after recovery", 2200000000002);
    const got = await b.messages().next();
    assert.equal(got.value?.content, "after recovery");
    assert.deepEqual((await a.history(bob)).map((m) => m.content), ["after recovery"]);
    assert.deepEqual(await a.history("#ops@a.test"), []);
    const c = await t.login(alice);
    c.close();
  });
});
