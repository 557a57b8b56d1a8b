/**
 * Defences: connection limits, request rate limit, message length, slow
 * consumers. Real sockets on loopback; every loop bounded.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../src/protocol/mod.ts";
import { SolecError } from "../../src/client/client.ts";
import { RawClient } from "../support/raw-client.ts";
import { platform } from "../support/platform.ts";
import { startServer } from "../support/server.ts";
import { rejectsWith } from "../support/expect.ts";

describe("connection limits", () => {
  it("refuses connections over the per-IP limit with 0x83, and accepts again when one closes", async () => {
    const t = await startServer({ maxConnectionsPerIp: 3 });
    try {
      const open = [];
      for (let i = 0; i < 3; i++) {
        const c = await RawClient.connect(t.port);
        await c.waitFrames(1); // greeting: accepted
        open.push(c);
      }
      const extra = await RawClient.connect(t.port);
      await extra.waitClosed();
      assert.deepEqual(extra.frames, [{ type: 0x02, code: 0x83 }]);
      assert.equal(t.server.metrics.connectionsRefused, 1);
      open[0].close();
      await open[0].done;
      // The server notices the close; then there is room again.
      for (let i = 0; i < 50 && t.server.connections > 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const again = await RawClient.connect(t.port);
      assert.deepEqual((await again.waitFrames(1))[0], {
        type: 0x03,
        major: 0,
        minor: 2,
        connType: 0,
      });
      for (const c of [...open, again]) c.close();
    } finally {
      await t.cleanup();
    }
  });

  it("refuses connections over the global limit", async () => {
    const t = await startServer({ maxConnections: 2, maxConnectionsPerIp: 0 });
    try {
      const a = await RawClient.connect(t.port);
      const b = await RawClient.connect(t.port);
      await a.waitFrames(1);
      await b.waitFrames(1);
      const c = await RawClient.connect(t.port);
      await c.waitClosed();
      assert.deepEqual(c.frames, [{ type: 0x02, code: 0x83 }]);
      a.close();
      b.close();
    } finally {
      await t.cleanup();
    }
  });
});

describe("request limits", () => {
  it("refuses requests over the rate with 0x82, keeps the connection, then cuts a sustained flood", async () => {
    const t = await startServer({ rateLimit: 5, rateBurst: 10 });
    try {
      const alice = await t.addUser("alice");
      const a = await t.login(alice);
      await a.join("#r@a.test"); // 1 token
      const results = await Promise.allSettled(
        Array.from({ length: 15 }, (_, i) => a.send("#r@a.test", `m${i}`)),
      );
      const ok = results.filter((r) => r.status === "fulfilled").length;
      const limited = results.filter((r) =>
        r.status === "rejected" && r.reason instanceof SolecError && r.reason.code === 0x82
      ).length;
      // 10 tokens, one spent on the join; a few more refill meanwhile.
      assert.ok(ok >= 8 && ok <= 11, `about the burst got through: ${ok}`);
      assert.equal(ok + limited, 15);
      // Refill: after a moment requests pass again on the same connection.
      await new Promise((r) =>
        setTimeout(r, 450)
      );
      await a.send("#r@a.test", "after the pause");
      // A flood of refused requests (more than the burst within 10 s) ends the connection.
      const raw = await RawClient.connect(t.port);
      await raw.send({ type: 0x03, major: 0, minor: 2, connType: 1 });
      await raw.send({ type: 0x04, username: "alice", password: "pw-alice" });
      await raw.waitFrames(2);
      const ping = encode({ type: 0xff, data: new Uint8Array(1) });
      const flood = new Uint8Array(ping.length * 100);
      for (let i = 0; i < 100; i++) flood.set(ping, i * ping.length);
      await raw.send(flood);
      await raw.waitClosed();
      assert.deepEqual(raw.frames[raw.frames.length - 1], { type: 0x02, code: 0x82 });
      assert.ok(t.server.metrics.abuseDisconnects >= 1);
      assert.ok(t.server.metrics.rateLimited >= 10);
    } finally {
      await t.cleanup();
    }
  });

  it("refuses a Message longer than maxMessageBytes with 0x02", async () => {
    const t = await startServer({ maxMessageBytes: 10 });
    try {
      const a = await t.login(await t.addUser("alice"));
      await a.join("#len@a.test");
      await a.send("#len@a.test", "0123456789");
      await rejectsWith(a.send("#len@a.test", "0123456789x"), 0x02);
      await rejectsWith(a.send("#len@a.test", "ąąąąąą"), 0x02); // 12 bytes in 6 characters
      assert.equal((await a.history("#len@a.test")).length, 1);
    } finally {
      await t.cleanup();
    }
  });
});

describe("slow consumers", () => {
  it("drops a connection that does not read, keeps its messages in history, and nobody else waits", async () => {
    const t = await startServer({ maxOutputBytes: 256 * 1024, rateLimit: 0 });
    try {
      const alice = await t.addUser("alice");
      const bob = await t.addUser("bob");
      await t.contacts(alice, bob);
      // Bob logs in and then never reads a byte.
      const stuck = await platform.net.connect({ hostname: "127.0.0.1", port: t.port });
      await stuck.send(encode({ type: 0x03, major: 0, minor: 2, connType: 1 }));
      await stuck.send(encode({ type: 0x04, username: "bob", password: "pw-bob" }));
      for (let i = 0; i < 100 && !t.server.registry.isOnline(bob); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(t.server.registry.isOnline(bob));
      const a = await t.login(alice);
      const watcher = await t.login(bob); // bob's second device does read
      const content = "x".repeat(1000);
      let sent = 0;
      // Bounded: at most 40 MB, far more than kernel buffers plus the 256 KiB bound.
      while (t.server.metrics.slowConsumerDrops === 0 && sent < 40_000) {
        const batch = [];
        for (let i = 0; i < 100; i++) batch.push(a.send(bob, content, 1767225600000 + sent++));
        await Promise.all(batch);
        while (watcher.pendingMessages > 0) await watcher.messages().next();
      }
      assert.equal(t.server.metrics.slowConsumerDrops, 1, `dropped after ${sent} messages`);
      // Everyone else carries on; what bob did not get is in history.
      await a.send(bob, "still flowing", 1767225600000 + sent);
      let last;
      do last = await watcher.messages().next(); while (last.value?.content !== "still flowing");
      const hist = await a.history(bob, { count: 1 });
      assert.equal(hist[0].content, "still flowing");
      stuck.close();
    } finally {
      await t.cleanup();
    }
  });
});
