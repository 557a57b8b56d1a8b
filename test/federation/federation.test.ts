/**
 * Federation (spec §7) with real servers as child processes on loopback, on
 * mixed runtimes: the server under test's runtime and the other one, so a
 * Bun server and a Deno server federate in both roles across the two runs
 * of the suite.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import type { Payload } from "../../src/protocol/mod.ts";
import { loadOrCreateIdentity, signServerAuth } from "../../src/federation/identity.ts";
import { RawClient } from "../support/raw-client.ts";
import { makeCerts } from "../adapters/helpers.ts";
import type { SolecClient } from "../../src/client/client.ts";
import { detectRuntime } from "../../src/adapters/runtime.ts";
import { type RuntimeName, ServerNode } from "../support/node.ts";
import { next, rejectsWith } from "../support/expect.ts";

const here: RuntimeName = detectRuntime();
const other: RuntimeName = here === "bun" ? "deno" : "bun";

describe(`federation: a.test (${here}), b.test (${other}), c.test (${here})`, () => {
  let A: ServerNode, B: ServerNode, C: ServerNode;
  let a1: string, b1: string, c1: string;

  before(async () => {
    [A, B, C] = await Promise.all([
      ServerNode.create("a.test", here),
      ServerNode.create("b.test", other),
      ServerNode.create("c.test", here),
    ]);
    a1 = await A.addUser("ann");
    b1 = await B.addUser("ben");
    c1 = await C.addUser("cat");
    await A.contacts(a1, b1, c1);
    await B.contacts(b1, a1, c1);
    await C.contacts(c1, a1, b1);
    await Promise.all([A.start(), B.start(), C.start()]);
    for (const [x, ys] of [[A, [B, C]], [B, [A, C]], [C, [A, B]]] as const) {
      for (const y of ys) await x.trust(y);
    }
  });
  after(async () => {
    if (process.env.SOLEC_TEST_LOGS) { for (const n of [A, B, C]) console.log(n.domain, n.log); }
    await Promise.all([A, B, C].map((n) => n?.cleanup()));
  });

  it("delivers direct messages between every pair, and both sides keep the history", async () => {
    const [ca, cb, cc] = [await A.login(a1), await B.login(b1), await C.login(c1)];
    const pairs: [SolecClient, string, SolecClient, string][] = [
      [ca, a1, cb, b1],
      [cb, b1, ca, a1],
      [cb, b1, cc, c1],
      [cc, c1, cb, b1],
      [ca, a1, cc, c1],
      [cc, c1, ca, a1],
    ];
    let ts = 1767225600000;
    for (const [from, fromAddr, to, toAddr] of pairs) {
      ts += 1000;
      await from.send(toAddr, `${fromAddr} to ${toAddr}`, ts);
      const got = await next(to);
      assert.deepEqual(
        { source: got.source, target: got.target, timestamp: got.timestamp, content: got.content },
        { source: fromAddr, target: toAddr, timestamp: ts, content: `${fromAddr} to ${toAddr}` },
      );
    }
    // Each server keeps its own copy of the conversation.
    const onA = (await ca.history(b1)).map((m) => m.content);
    const onB = (await cb.history(a1)).map((m) => m.content);
    assert.deepEqual(onA, [`${a1} to ${b1}`, `${b1} to ${a1}`]);
    assert.deepEqual(onB, onA);
  });

  it("refuses a remote direct message without mutual contacts (the peer checks its half)", async () => {
    const d1 = await A.addUser("dan");
    await A.contacts(d1, b1); // dan has ben, ben does not have dan
    const cd = await A.login(d1);
    // Acknowledged once queued (store and forward); the peer refuses it, nothing arrives.
    await cd.send(b1, "you do not know me");
    const cb = await B.login(b1);
    await cb.ping();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cb.pendingMessages, 0);
    assert.deepEqual(await cb.history(d1), []);
    // Our own half is checked at once.
    await rejectsWith(cd.send(c1, "not my contact"), 0x02);
  });

  it("runs a channel homed on a.test with members from all three servers", async () => {
    const [ca, cb, cc] = [await A.login(a1), await B.login(b1), await C.login(c1)];
    await ca.join("#room@a.test");
    await cb.join("#room@a.test");
    await cc.join("#room@a.test");
    assert.ok((await cb.list()).includes("#room@a.test"));
    await cb.send("#room@a.test", "from ben", 1767300000000);
    assert.equal((await next(ca)).content, "from ben");
    assert.equal((await next(cc)).content, "from ben");
    await ca.send("#room@a.test", "from ann", 1767300001000);
    assert.equal((await next(cb)).content, "from ann");
    assert.equal((await next(cc)).content, "from ann");
    await cc.send("#room@a.test", "from cat", 1767300002000);
    assert.equal((await next(ca)).content, "from cat");
    assert.equal((await next(cb)).content, "from cat");
    // History of the channel: local on a.test, proxied to a.test from c.test.
    const expected = ["from ben", "from ann", "from cat"];
    assert.deepEqual((await ca.history("#room@a.test")).map((m) => m.content), expected);
    assert.deepEqual((await cc.history("#room@a.test")).map((m) => m.content), expected);
    // Leave through the user's own server: no more deliveries to c.test.
    await cc.leave("#room@a.test");
    await ca.send("#room@a.test", "after cat left", 1767300003000);
    assert.equal((await next(cb)).content, "after cat left");
    await rejectsWith(cc.history("#room@a.test"), 0x02);
    await rejectsWith(cc.send("#room@a.test", "not a member any more"), 0x02);
  });

  it("stores a message that arrives on two links at once only once (a peer re-sending)", async () => {
    // What a restarted peer does: re-send, on a new link, what it had no reply for, while
    // the first copy may still be on its way through the old link.
    const hs = { type: 0x03, major: 0, minor: 2, connType: 2 } as const;
    const openLink = async (ts: number) => {
      const link = await RawClient.connect(B.port);
      await link.send(hs);
      const signature = await signServerAuth(A.identity.privateKey, "a.test", "b.test", ts);
      await link.send({ type: 0x06, name: "a.test", ts, signature });
      const [, , ok] = await link.waitFrames(3);
      assert.deepEqual(ok, { type: 0x01 });
      return link;
    };
    const now = Date.now();
    const links = [await openLink(now), await openLink(now + 1)];
    const cb = await B.login(b1);
    // The same for a channel homed on b.test that a.test's user is a member of.
    const ca = await A.login(a1);
    await cb.join("#twice@b.test");
    await ca.join("#twice@b.test");
    const n = 40;
    const base = 1767225700000;
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      for (const target of [b1, "#twice@b.test"]) {
        const content = `twice ${i} to ${target}`;
        sent.push(content);
        const m = { type: 0x05, source: a1, target, timestamp: base + i, content } as const;
        await Promise.all(links.map((l) => l.send(m)));
      }
    }
    for (const l of links) {
      const answers = (await l.waitFrames(3 + 2 * n, 10_000)).slice(3);
      assert.deepEqual(answers, Array(2 * n).fill({ type: 0x01 }));
      l.close();
    }
    const got: string[] = [];
    for (let i = 0; i < 2 * n; i++) got.push((await next(cb)).content);
    await cb.ping();
    assert.equal(cb.pendingMessages, 0, "a message was delivered twice");
    assert.deepEqual(got.sort(), sent.sort());
    for (const target of [a1, "#twice@b.test"]) {
      const history = await cb.history(target, { since: base - 1, count: 100 });
      assert.equal(history.filter((h) => h.content.startsWith("twice ")).length, n, target);
    }
    ca.close();
    cb.close();
  });

  it("refuses impostor links and spoofed sources, while the honest link keeps working", async () => {
    const hs = { type: 0x03, major: 0, minor: 2, connType: 2 } as const;
    const attempt = async (frames: Payload[]) => {
      const raw = await RawClient.connect(B.port);
      for (const f of frames) await raw.send(f);
      await raw.waitClosed(5000).catch(() => {});
      raw.close();
      return raw.frames.slice(1); // after the greeting
    };
    const ts = Date.now();
    // Unknown name.
    const stranger = (await loadOrCreateIdentity(join(A.dir, "stranger.key"))).identity;
    const unknownSig = await signServerAuth(stranger.privateKey, "x.test", "b.test", ts);
    assert.deepEqual(
      await attempt([hs, { type: 0x06, name: "x.test", ts, signature: unknownSig }]),
      [
        { type: 0x02, code: 0x03 },
      ],
    );
    // Known name, wrong key.
    const wrongSig = await signServerAuth(stranger.privateKey, "a.test", "b.test", ts);
    assert.deepEqual(await attempt([hs, { type: 0x06, name: "a.test", ts, signature: wrongSig }]), [
      { type: 0x02, code: 0x03 },
    ]);
    // Upstream's unsigned form.
    assert.deepEqual(await attempt([hs, { type: 0x06, name: "a.test" }]), [{
      type: 0x02,
      code: 0x03,
    }]);
    // A stale timestamp.
    const old = ts - 3_600_000;
    const oldSig = await signServerAuth(A.identity.privateKey, "a.test", "b.test", old);
    assert.deepEqual(
      await attempt([hs, { type: 0x06, name: "a.test", ts: old, signature: oldSig }]),
      [
        { type: 0x02, code: 0x03 },
      ],
    );
    // A valid ServerAuth is accepted once; replayed, it is refused.
    const sig = await signServerAuth(A.identity.privateKey, "a.test", "b.test", ts);
    const link = await RawClient.connect(B.port);
    await link.send(hs);
    await link.send({ type: 0x06, name: "a.test", ts, signature: sig });
    const [, answer, ok] = await link.waitFrames(3);
    assert.equal(answer.type, 0x06);
    assert.deepEqual(ok, { type: 0x01 });
    assert.deepEqual(await attempt([hs, { type: 0x06, name: "a.test", ts, signature: sig }]), [
      { type: 0x02, code: 0x03 },
    ]);
    // On the authenticated link, a source that does not belong to a.test: 0x80 and close.
    await link.send({ type: 0x05, source: c1, target: b1, timestamp: ts, content: "spoofed" });
    await link.waitClosed();
    assert.deepEqual(link.frames[link.frames.length - 1], { type: 0x02, code: 0x80 });
    // The misbehaving name is cut off for a while: even a valid new link is refused.
    const fresh = Date.now();
    const freshSig = await signServerAuth(A.identity.privateKey, "a.test", "b.test", fresh);
    assert.deepEqual(
      await attempt([hs, { type: 0x06, name: "a.test", ts: fresh, signature: freshSig }]),
      [
        { type: 0x02, code: 0x03 },
      ],
    );
    // The honest link, already open, still works.
    const [ca, cb] = [await A.login(a1), await B.login(b1)];
    await ca.send(b1, "still here", ts + 5);
    const got = await next(cb);
    assert.equal(got.content, "still here");
    assert.equal(cb.pendingMessages, 0);
  });
});

describe(`store and forward: a.test (${here}) → b.test (${other}) while b.test is down`, () => {
  let A: ServerNode, B: ServerNode;
  let a1: string, b1: string;
  before(async () => {
    [A, B] = await Promise.all([
      ServerNode.create("a.test", here),
      ServerNode.create("b.test", other),
    ]);
    a1 = await A.addUser("ann");
    b1 = await B.addUser("ben");
    await A.contacts(a1, b1);
    await B.contacts(b1, a1);
    await Promise.all([A.start(), B.start()]);
    await A.trust(B);
    await B.trust(A);
  });
  after(async () => {
    await Promise.all([A?.cleanup(), B?.cleanup()]);
  });

  it("queues and acknowledges, survives a sender crash, and delivers each message once, in order", async () => {
    const bPort = B.port;
    assert.equal(await B.stop("SIGTERM"), 0);
    const ca = await A.login(a1);
    // Usermode and History for an unreachable peer answer 0x83 promptly.
    const t0 = Date.now();
    await rejectsWith(ca.join("#x@b.test"), 0x83);
    assert.ok(Date.now() - t0 < 5000);
    const n = 20;
    for (let i = 0; i < n; i++) await ca.send(b1, `queued ${i}`, 1767400000000 + i);
    // The sender crashes (no clean shutdown) and comes back.
    await A.stop("SIGKILL");
    await A.start();
    await B.start(bPort);
    await A.trust(B);
    const cb = await B.login(b1);
    const got: string[] = [];
    while (got.length < n) got.push((await next(cb, 20_000)).content);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => `queued ${i}`));
    // Exactly once: nothing more arrives, and B's history has each once.
    await cb.ping();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(cb.pendingMessages, 0);
    const hist = (await cb.history(a1, { count: 100 })).map((m) => m.content);
    assert.deepEqual(hist, got);
  });
});

describe(`TLS links: a.test (${here}) → b.test (${other}, TLS listener)`, () => {
  let A: ServerNode, B: ServerNode;
  let a1: string, b1: string;
  before(async () => {
    [A, B] = await Promise.all([
      ServerNode.create("a.test", here),
      ServerNode.create("b.test", other),
    ]);
    B.useTls(makeCerts());
    a1 = await A.addUser("ann");
    b1 = await B.addUser("ben");
    await A.contacts(a1, b1);
    await B.contacts(b1, a1);
    await Promise.all([A.start(), B.start()]);
    await A.trust(B);
    await B.trust(A);
  });
  after(async () => {
    await Promise.all([A?.cleanup(), B?.cleanup()]);
  });

  it("links over TLS to a peer configured with --tls and its CA, and delivers", async () => {
    const [ca, cb] = [await A.login(a1), await B.login(b1)];
    await ca.send(b1, "over tls", 1767500000000);
    assert.equal((await next(cb)).content, "over tls");
    assert.match(A.log, /"msg":"peer link up","peer":"b.test"/);
  });
});
