/**
 * Chat flows over real sockets and a real SQLite file: direct messages and
 * contacts, delivery to every connection, the offline inbox, channels,
 * history selection, list, and durability across a restart.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SolecClient } from "../../src/client/client.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { next, rejectsWith } from "../support/expect.ts";
import { FaultyKv } from "../support/faulty-kv.ts";
import { conversation } from "../../src/store/mod.ts";

/** Asserts nothing is pushed within `ms` (a ping round trip proves the server is idle). */
async function nothingPushed(c: SolecClient): Promise<void> {
  await c.ping();
  assert.equal(c.pendingMessages, 0);
}

/**
 * Repeats `send` every 200 ms until the server refuses it (true) or `ms` pass (false): for
 * changes the operator's CLI makes behind a running server, which sees them within 5 s.
 */
async function refusedWithin(ms: number, send: () => Promise<unknown>): Promise<boolean> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    try {
      await send();
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** A server whose store is wrapped in a FaultyKv, with alice and bob in each other's contacts. */
async function faultyStoreServer(): Promise<
  { t: TestServer; faulty: FaultyKv; a: string; b: string }
> {
  let faulty: FaultyKv | null = null;
  const t = await startServer({ wrapKv: (kv) => (faulty = new FaultyKv(kv)) });
  const [a, b] = [await t.addUser("alice"), await t.addUser("bob")];
  await t.contacts(a, b);
  return { t, faulty: faulty as unknown as FaultyKv, a, b };
}

describe("direct messages", () => {
  let t: TestServer;
  let alice: string, bob: string, carol: string;
  before(async () => {
    t = await startServer();
    alice = await t.addUser("alice");
    bob = await t.addUser("bob");
    carol = await t.addUser("carol");
    await t.contacts(alice, bob);
    await t.server.store.kv.set(["contacts", alice, carol], 1); // one-way only
  });
  after(() => t.cleanup());

  it("delivers to every connection of the recipient and the sender's other connections", async () => {
    const a1 = await t.login(alice);
    const a2 = await t.login(alice);
    const b1 = await t.login(bob);
    const b2 = await t.login(bob);
    await a1.send(bob, "hi bob", 1767225600000);
    const expected = {
      type: 0x05,
      source: alice,
      target: bob,
      timestamp: 1767225600000,
      content: "hi bob",
    };
    assert.deepEqual(await next(b1), expected);
    assert.deepEqual(await next(b2), expected);
    assert.deepEqual(await next(a2), expected);
    await nothingPushed(a1);
    for (const c of [a1, a2, b1, b2]) c.close();
  });

  it("needs mutual contacts: one-way or none answers 0x02 and delivers nothing", async () => {
    const a = await t.login(alice);
    const c = await t.login(carol);
    await rejectsWith(a.send(carol, "one-way"), 0x02);
    await rejectsWith(c.send(alice, "one-way back"), 0x02);
    await rejectsWith(c.send(bob, "none"), 0x02);
    await nothingPushed(c);
    await nothingPushed(a);
    a.close();
    c.close();
  });

  it("refuses unknown and invalid targets with 0x02, and a spoofed source", async () => {
    const a = await t.login(alice);
    await rejectsWith(a.send("nobody@a.test", "x"), 0x02);
    await rejectsWith(a.send("not an address", "x"), 0x02);
    await rejectsWith(a.send("bob@elsewhere.test", "x"), 0x02); // no federation route
    // The client library always sends its own address; forge one with a raw frame.
    const { RawClient } = await import("../support/raw-client.ts");
    const raw = await RawClient.connect(t.port);
    await raw.send({ type: 0x03, major: 0, minor: 2, connType: 1 });
    await raw.send({ type: 0x04, username: "carol", password: "pw-carol" });
    await raw.send({ type: 0x05, source: bob, target: alice, timestamp: 1, content: "spoof" });
    const frames = await raw.waitFrames(3);
    assert.deepEqual(frames[2], { type: 0x02, code: 0x02 });
    raw.close();
    await nothingPushed(a);
    a.close();
  });

  it("answers requests strictly in order, pipelined", async () => {
    const a = await t.login(alice);
    const b = await t.login(bob);
    const sends = [];
    for (let i = 0; i < 200; i++) sends.push(a.send(bob, `n${i}`, 1767225600000 + i));
    await Promise.all(sends);
    for (let i = 0; i < 200; i++) assert.equal((await next(b)).content, `n${i}`);
    a.close();
    b.close();
  });

  it("keeps a message for an offline user in the inbox and pushes it, oldest first, at login", async () => {
    const a = await t.login(alice);
    await a.send(bob, "while you were away 1", 1767225601000);
    await a.send(bob, "while you were away 2", 1767225602000);
    const b = await t.login(bob);
    assert.equal((await next(b)).content, "while you were away 1");
    assert.equal((await next(b)).content, "while you were away 2");
    b.close();
    await b.closed;
    // Emptied: the next login gets nothing.
    const b2 = await t.login(bob);
    await nothingPushed(b2);
    b2.close();
    a.close();
  });

  it("records the conversation in history for both sides", async () => {
    const a = await t.login(alice);
    const b = await t.login(bob);
    await a.send(bob, "history one", 1800000000000);
    assert.equal((await next(b)).content, "history one");
    await b.send(alice, "history two", 1800000001000);
    // Take the pushes first: a push of the same conversation arriving just
    // before a History reply cannot be told apart from it (no reply ids).
    assert.equal((await next(a)).content, "history two");
    const ha = await a.history(bob, { since: 1799999999999 });
    const hb = await b.history(alice, { since: 1799999999999 });
    assert.deepEqual(ha.map((m) => m.content), ["history one", "history two"]);
    assert.deepEqual(hb, ha);
    a.close();
    b.close();
  });

  it("packs a burst into shared history rows and reads it back in arrival order", async () => {
    const a1 = await t.login(alice);
    const a2 = await t.login(alice);
    const b1 = await t.login(bob);
    const ts = 1850000000000;
    const stampOf = (content: string) =>
      content.startsWith("b") && Number(content.slice(1)) >= 40 ? ts + 1 : ts;
    const sends = [];
    for (let i = 0; i < 60; i++) {
      sends.push(a1.send(bob, `a${i}`, ts));
      sends.push(b1.send(alice, `b${i}`, stampOf(`b${i}`)));
    }
    await Promise.all(sends);
    // Alice's other connection hears both directions in the order the server took them.
    const arrival: string[] = [];
    for (let i = 0; i < 120; i++) arrival.push((await next(a2)).content);
    for (let i = 0; i < 60; i++) {
      await next(a1);
      await next(b1);
    }
    // Spec §6, oldest first: by timestamp, ties in arrival order.
    const expected = [
      ...arrival.filter((c) => stampOf(c) === ts),
      ...arrival.filter((c) => stampOf(c) === ts + 1),
    ];
    const contents = (ms: { content: string }[]) => ms.map((m) => m.content);
    assert.deepEqual(contents(await a1.history(bob, { since: ts - 1, count: 500 })), expected);
    assert.deepEqual(contents(await b1.history(alice, { since: ts - 1, count: 500 })), expected);
    assert.deepEqual(
      contents(await a1.history(bob, { since: ts - 1, count: 7, offset: 25 })),
      expected.slice(120 - 32, 120 - 25),
    );
    // Fewer rows than messages: the burst shared rows.
    let rows = 0;
    for (const stamp of [ts, ts + 1]) {
      for await (
        const _ of t.server.store.kv.list({ prefix: [...conversation(alice, bob), stamp] })
      ) rows++;
    }
    assert.ok(rows < 120, `${rows} rows for 120 messages`);
    for (const c of [a1, a2, b1]) c.close();
  });

  it("checks contact pairs allowed together again at different times, within 4-5 s", async () => {
    // Verdicts cached in the same moment must not all expire in the same turn (a turn of
    // store reads for every conversation at once). Half way through the spread, about half
    // of 24 pairs are checked again and see the contacts the operator removed meanwhile.
    const t2 = await startServer();
    try {
      const pairs: { from: SolecClient; user: string; to: string }[] = [];
      for (let i = 0; i < 24; i++) {
        const [a, b] = [await t2.addUser(`a${i}`), await t2.addUser(`b${i}`)];
        await t2.contacts(a, b);
        pairs.push({ from: await t2.login(a), user: a, to: b });
      }
      const start = Date.now();
      await Promise.all(pairs.map((p) => p.from.send(p.to, "first")));
      // What `solec contact del` does for every pair, behind the running server's back.
      const removal = t2.kv.atomic();
      for (const p of pairs) {
        removal.delete(["contacts", p.user, p.to]);
        removal.delete(["contacts", p.to, p.user]);
      }
      assert.ok((await removal.commit()).ok);
      await new Promise((r) => setTimeout(r, 4500 - (Date.now() - start)));
      const outcomes = await Promise.allSettled(pairs.map((p) => p.from.send(p.to, "second")));
      const refused = outcomes.filter((o) => o.status === "rejected").length;
      assert.ok(Date.now() - start < 4900, "the second messages were sent too late to tell");
      assert.ok(refused > 0 && refused < pairs.length, `${refused} of ${pairs.length} refused`);
      assert.ok(
        await refusedWithin(1500, () => pairs[0].from.send(pairs[0].to, "third")),
        "a removed contact still allowed after 5 s",
      );
    } finally {
      await t2.cleanup();
    }
  });

  it("checks a conversation in use again in the background: no message waits for it", async () => {
    const { t: t2, faulty, a, b } = await faultyStoreServer();
    try {
      const ca = await t2.login(a);
      await ca.send(b, "first"); // checked now, trusted for 4-5 s
      // Every later check of the pair takes 800 ms; one in a message's way would show.
      faulty.getManyDelayMs = 800;
      let slowest = 0;
      const start = Date.now();
      while (Date.now() - start < 6500) {
        const sent = Date.now();
        await ca.send(b, "again");
        slowest = Math.max(slowest, Date.now() - sent);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(slowest < 500, `a message waited ${slowest} ms`);
      // The background check still sees a contact the operator removed.
      await t2.kv.delete(["contacts", b, a]);
      assert.ok(
        await refusedWithin(7000, () => ca.send(b, "after")),
        "a removed contact still allowed after 7 s",
      );
    } finally {
      await t2.cleanup();
    }
  });

  it("does not cache a check that read the contacts before a change made meanwhile", async () => {
    const { t: t2, faulty, a, b } = await faultyStoreServer();
    try {
      const a1 = await t2.login(a);
      const a2 = await t2.login(a);
      // The check of the first message reads the contacts, then answers 500 ms later.
      faulty.getManyDelayMs = 500;
      const first = a1.send(b, "first");
      await new Promise((r) => setTimeout(r, 100));
      faulty.getManyDelayMs = 0;
      await a2.removeContact(b); // meanwhile, through this server
      await first; // read before the change: may pass
      await rejectsWith(a1.send(b, "second"), 0x02);
    } finally {
      await t2.cleanup();
    }
  });
});

describe("channels", () => {
  let t: TestServer;
  let alice: string, bob: string, carol: string;
  before(async () => {
    t = await startServer();
    alice = await t.addUser("alice");
    bob = await t.addUser("bob");
    carol = await t.addUser("carol");
  });
  after(() => t.cleanup());

  it("creates a channel on first join and fans out to every member connection but the sender's", async () => {
    const a1 = await t.login(alice);
    const a2 = await t.login(alice);
    const b = await t.login(bob);
    const c = await t.login(carol);
    await a1.join("#dev@a.test");
    await b.join("#dev@a.test");
    await a1.join("#dev@a.test"); // idempotent
    await a1.send("#dev@a.test", "hello dev", 1767225600000);
    const expected = {
      type: 0x05,
      source: alice,
      target: "#dev@a.test",
      timestamp: 1767225600000,
      content: "hello dev",
    };
    assert.deepEqual(await next(b), expected);
    assert.deepEqual(await next(a2), expected);
    await nothingPushed(a1);
    await nothingPushed(c);
    // Non-members can neither post nor read.
    await rejectsWith(c.send("#dev@a.test", "let me in"), 0x02);
    await rejectsWith(c.history("#dev@a.test"), 0x02);
    // Leave: no more deliveries; leaving again is still Success.
    await b.leave("#dev@a.test");
    await b.leave("#dev@a.test");
    await a1.send("#dev@a.test", "after bob left");
    assert.equal((await next(a2)).content, "after bob left");
    await nothingPushed(b);
    for (const x of [a1, a2, b, c]) x.close();
  });

  it("keeps every member when many users create and join a channel at once", async () => {
    // Concurrent first joins used to load the member cache more than once and
    // add joiners to copies that were then replaced: those members got no
    // deliveries, and their own messages were refused as from non-members.
    // Slow range reads (the member list) keep those loads overlapping.
    let faulty: FaultyKv | null = null;
    const t2 = await startServer({ wrapKv: (kv) => (faulty = new FaultyKv(kv)) });
    try {
      faulty!.listDelayMs = 1;
      const n = 30;
      const users = await Promise.all(Array.from({ length: n }, (_, i) => t2.addUser(`crowd${i}`)));
      const clients = await Promise.all(users.map((u) => t2.login(u)));
      const channel = "#crowd@a.test";
      // Joins arrive together and spread over a few turns, across group commits.
      await Promise.all(clients.map(async (c, i) => {
        await new Promise((r) => setTimeout(r, i % 5));
        await c.join(channel);
      }));
      assert.equal((await t2.server.store.channels.members(channel)).length, n);
      for (let i = 0; i < n; i++) {
        await clients[i].send(channel, `from ${i}`);
        for (let j = 0; j < n; j++) {
          if (j !== i) assert.equal((await next(clients[j])).content, `from ${i}`);
        }
      }
      for (const c of clients) c.close();
    } finally {
      await t2.cleanup();
    }
  });

  it("delivers direct and channel messages once written; the sender's OK waits for durability", async () => {
    const { t: t2, faulty, a, b } = await faultyStoreServer();
    try {
      const ca = await t2.login(a);
      const cb = await t2.login(b);
      await ca.join("#slow@a.test");
      await cb.join("#slow@a.test");
      // The disk now takes its time with fsyncs.
      let durable = () => {};
      faulty.durableAfter = new Promise<void>((r) => durable = r);
      let acked = 0;
      const direct = ca.send(b, "direct while the disk is slow").then(() => acked++);
      assert.equal((await next(cb)).content, "direct while the disk is slow");
      const channel = ca.send("#slow@a.test", "channel while the disk is slow").then(() => acked++);
      assert.equal((await next(cb)).content, "channel while the disk is slow");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(acked, 0, "no OK before the writes are durable");
      durable();
      await Promise.all([direct, channel]);
      assert.equal(acked, 2);
      ca.close();
      cb.close();
    } finally {
      await t2.cleanup();
    }
  });

  it("refuses a join of a channel that does not exist when auto-creation is off", async () => {
    const t2 = await startServer({ channelAutoCreate: false });
    try {
      await t2.addUser("alice");
      await t2.server.store.channels.create("#ops@a.test", null);
      const a = await t2.login("alice@a.test");
      await rejectsWith(a.join("#new@a.test"), 0x02);
      await a.join("#ops@a.test");
      assert.deepEqual(await a.list(), ["#ops@a.test"]);
      a.close();
    } finally {
      await t2.cleanup();
    }
  });

  it("sees a channel the operator deleted: joins at once, messages within 5 s", async () => {
    const t2 = await startServer({ channelAutoCreate: false });
    try {
      const [a, b] = [await t2.addUser("alice"), await t2.addUser("bob")];
      await t2.server.store.channels.create("#gone@a.test", null);
      const ca = await t2.login(a);
      const cb = await t2.login(b);
      await ca.join("#gone@a.test");
      await ca.send("#gone@a.test", "before"); // the server now has the channel cached
      // What `solec channel del` does, behind the running server's back.
      assert.equal(await t2.server.store.channels.delete("#gone@a.test"), true);
      assert.ok(
        await refusedWithin(7000, () => ca.send("#gone@a.test", "after")),
        "messages to the deleted channel still accepted after 7 s",
      );
      await rejectsWith(ca.send("#gone@a.test", "after"), 0x02);
      await rejectsWith(cb.join("#gone@a.test"), 0x02);
      // A join looks at the record itself, cached or not.
      await t2.server.store.channels.create("#gone@a.test", null);
      await ca.join("#gone@a.test");
      await ca.send("#gone@a.test", "again");
      assert.equal(await t2.server.store.channels.delete("#gone@a.test"), true);
      await rejectsWith(cb.join("#gone@a.test"), 0x02);
      ca.close();
      cb.close();
    } finally {
      await t2.cleanup();
    }
  });

  it("sees a user the operator deleted: within 5 s no channel counts them as a member", async () => {
    const t2 = await startServer({ channelAutoCreate: false });
    try {
      const [a, b] = [await t2.addUser("alice"), await t2.addUser("bob")];
      await t2.server.store.channels.create("#club@a.test", null);
      const ca = await t2.login(a);
      const cb = await t2.login(b);
      await ca.join("#club@a.test");
      await cb.join("#club@a.test");
      await ca.send("#club@a.test", "before"); // the server now has the members cached
      assert.equal((await next(cb)).content, "before");
      cb.close();
      // What `solec user del bob` and then `solec user add bob` do, behind the server's back.
      assert.equal(await t2.server.store.users.delete(b), true);
      assert.equal(await t2.server.store.users.delete(b), false);
      await t2.addUser("bob");
      const again = await t2.login(b);
      assert.ok(
        await refusedWithin(7000, () => again.send("#club@a.test", "still a member?")),
        "the new bob still posts as the old bob's membership after 7 s",
      );
      await rejectsWith(again.send("#club@a.test", "no"), 0x02);
      // The channel itself and its other members are untouched.
      assert.deepEqual(await t2.server.store.channels.members("#club@a.test"), [a]);
      await ca.send("#club@a.test", "after");
      again.close();
      ca.close();
    } finally {
      await t2.cleanup();
    }
  });

  it("refuses invalid channel names and usermode for someone else", async () => {
    const a = await t.login(alice);
    await rejectsWith(a.join("#Bad Name@a.test"), 0x02);
    await rejectsWith(a.join("#x@remote.test"), 0x02); // no federation route
    a.close();
  });

  it("selects history as spec §6 says: after since, newest first, offset, count, sent oldest first", async () => {
    const a = await t.login(alice);
    await a.join("#hist@a.test");
    const base = 1900000000000;
    // Two messages share a timestamp: the later arrival counts as newer.
    const stamps = [base + 1, base + 2, base + 3, base + 3, base + 5];
    for (const [i, ts] of stamps.entries()) await a.send("#hist@a.test", `m${i}`, ts);
    const all = await a.history("#hist@a.test");
    assert.deepEqual(all.map((m) => m.content), ["m0", "m1", "m2", "m3", "m4"]);
    const latest2 = await a.history("#hist@a.test", { count: 2 });
    assert.deepEqual(latest2.map((m) => m.content), ["m3", "m4"]);
    const before2 = await a.history("#hist@a.test", { count: 2, offset: 2 });
    assert.deepEqual(before2.map((m) => m.content), ["m1", "m2"]);
    const since = await a.history("#hist@a.test", { since: base + 2 });
    assert.deepEqual(since.map((m) => m.content), ["m2", "m3", "m4"]);
    // `since` in seconds is normalised like any timestamp.
    const sinceSeconds = await a.history("#hist@a.test", { since: Math.floor((base + 2) / 1000) });
    assert.equal(sinceSeconds.length, 5);
    assert.deepEqual(await a.history("#hist@a.test", { count: 0 }), []);
    assert.deepEqual(await a.history("#hist@a.test", { offset: 10 }), []);
    a.close();
  });

  it("caps History count at historyMaxCount", async () => {
    const t2 = await startServer({ historyMaxCount: 3 });
    try {
      await t2.addUser("alice");
      const a = await t2.login("alice@a.test");
      await a.join("#cap@a.test");
      for (let i = 0; i < 5; i++) await a.send("#cap@a.test", `c${i}`, 2000000000000 + i);
      assert.deepEqual((await a.history("#cap@a.test", { count: 100 })).map((m) => m.content), [
        "c2",
        "c3",
        "c4",
      ]);
      a.close();
    } finally {
      await t2.cleanup();
    }
  });
});

describe("contacts and list", () => {
  let t: TestServer;
  let alice: string, bob: string;
  before(async () => {
    t = await startServer();
    alice = await t.addUser("alice");
    bob = await t.addUser("bob");
  });
  after(() => t.cleanup());

  it("adds and removes contacts with Usermode, which enables direct messages", async () => {
    const a = await t.login(alice);
    const b = await t.login(bob);
    await rejectsWith(a.send(bob, "x"), 0x02);
    await a.addContact(bob);
    await rejectsWith(a.send(bob, "x"), 0x02); // not mutual yet
    await b.addContact(alice);
    await a.send(bob, "now we talk");
    assert.equal((await next(b)).content, "now we talk");
    await b.removeContact(alice);
    await rejectsWith(a.send(bob, "x"), 0x02);
    await b.removeContact(alice); // idempotent
    await rejectsWith(a.addContact("ghost@a.test"), 0x02); // no such local user
    await a.addContact("friend@b.test"); // remote contacts are allowed
    a.close();
    b.close();
  });

  it("lists contacts and joined channels sorted, with count and offset", async () => {
    const a = await t.login(alice);
    await a.join("#zeta@a.test");
    await a.join("#alpha@a.test");
    const all = await a.list();
    assert.deepEqual(all, ["#alpha@a.test", "#zeta@a.test", "bob@a.test", "friend@b.test"]);
    assert.deepEqual(await a.list({ count: 2, offset: 1 }), ["#zeta@a.test", "bob@a.test"]);
    assert.deepEqual(await a.list({ count: 0 }), []);
    a.close();
  });
});

describe("durability", () => {
  it("keeps users, contacts, channels, history and inbox across a restart on the same file", async () => {
    const t1 = await startServer();
    const alice = await t1.addUser("alice");
    const bob = await t1.addUser("bob");
    await t1.contacts(alice, bob);
    const a = await t1.login(alice);
    await a.join("#keep@a.test");
    await a.send("#keep@a.test", "persisted", 2100000000000);
    await a.send(bob, "in the inbox", 2100000000001);
    await t1.stop();
    await t1.kv.close();

    const t2 = await startServer({ dir: t1.dir });
    try {
      const b = await t2.login(bob);
      assert.equal((await next(b)).content, "in the inbox");
      const a2 = await t2.login(alice);
      assert.deepEqual((await a2.history("#keep@a.test")).map((m) => m.content), ["persisted"]);
      assert.deepEqual((await a2.history(bob)).map((m) => m.content), ["in the inbox"]);
      await a2.send("#keep@a.test", "after restart", 2100000000002);
      assert.deepEqual((await a2.history("#keep@a.test")).map((m) => m.content), [
        "persisted",
        "after restart",
      ]);
      a2.close();
      b.close();
    } finally {
      await t2.cleanup();
      const { rmSync } = await import("node:fs");
      rmSync(t1.dir, { recursive: true, force: true });
    }
  });
});
