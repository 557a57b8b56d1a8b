/**
 * Robustness, quick version of scripts/soak-idle.ts: connections that never
 * send (and some that stop mid-frame) are all closed by the handshake/auth
 * time limit, while a real user logs in and is served meanwhile; the per-IP
 * limit refuses the surplus of one address with 0x83.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../src/protocol/mod.ts";
import { startServer } from "../support/server.ts";
import { WireClient } from "../support/wire-client.ts";
import { loopbackIp } from "../support/soak-kit.ts";

const AUTH_TIMEOUT_MS = 400;

describe("idle connections", () => {
  it("closes 200 silent and stalled connections at the time limit while a real login succeeds", async () => {
    const t = await startServer({ authTimeoutMs: AUTH_TIMEOUT_MS, maxConnectionsPerIp: 50 });
    try {
      const alice = await t.addUser("alice");
      const bob = await t.addUser("bob");
      await t.contacts(alice, bob);
      // 200 connections from 4 source addresses (the per-IP limit is 50).
      const opening: Promise<WireClient>[] = [];
      for (let i = 0; i < 200; i++) {
        opening.push(WireClient.connect(t.port, { localAddress: loopbackIp(40, i % 4), keep: 4 }));
      }
      const idle = await Promise.all(opening);
      // Every tenth stops inside a frame: a Handshake, then half a UserAuth header.
      idle.forEach((c, i) => {
        if (i % 10 === 0) {
          c.write(encode({ type: 0x03, major: 0, minor: 2, connType: 1 }));
          c.write(new Uint8Array([0x04, 0x00]));
        }
      });
      // A 51st connection from a full address is refused at once with 0x83.
      const surplus = await WireClient.connect(t.port, { localAddress: loopbackIp(40, 0) });
      assert.equal(await surplus.waitClosed(5000), true);
      assert.deepEqual(surplus.frames, [{ type: 0x02, code: 0x83 }]);

      // Meanwhile a real user logs in (127.0.0.1 holds no idle connection) and is served.
      const a = await WireClient.login(t.port, alice, "pw-alice");
      a.write({
        type: 0x05,
        source: alice,
        target: bob,
        timestamp: 1_767_225_600_000,
        content: "hi",
      });
      assert.deepEqual(await a.next(5000), { type: 0x01 });

      const closed = await Promise.all(idle.map((c) => c.waitClosed(AUTH_TIMEOUT_MS + 5000)));
      assert.equal(closed.filter((x) => x).length, 200, "all idle connections closed");
      const lifetimes = idle.map((c) => c.closedAt - c.openedAt);
      // None was closed before its time (lower bound; the upper one is waitClosed's timeout).
      assert.ok(
        Math.min(...lifetimes) >= AUTH_TIMEOUT_MS - 50,
        `earliest close ${Math.min(...lifetimes)} ms`,
      );
      assert.equal(t.server.metrics.authTimeouts, 200);
      // The server saw them go; the logged-in user is still served.
      for (let k = 0; k < 100 && t.server.connections > 1; k++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(t.server.connections, 1);
      assert.ok((await a.ping()) >= 0);
      a.close();
    } finally {
      await t.cleanup();
    }
  });

  it("lets go of a connection at once when it logs in or closes, not at the time limit", async () => {
    // A storm of short connections must not be kept alive for the whole time limit.
    const t = await startServer({ authTimeoutMs: 60_000, maxConnectionsPerIp: 0 });
    const open: WireClient[] = [];
    try {
      const users = await Promise.all(["u0", "u1", "u2", "u3", "u4"].map((u) => t.addUser(u)));
      const silent = await Promise.all(
        Array.from({ length: 10 }, () => WireClient.connect(t.port)),
      );
      open.push(...silent);
      // 20 close before logging in: 10 at once, 10 after a Handshake.
      for (let i = 0; i < 20; i++) {
        const c = await WireClient.connect(t.port);
        if (i % 2 === 1) c.write(encode({ type: 0x03, major: 0, minor: 2, connType: 1 }));
        c.close();
      }
      // 5 log in and stay.
      for (const [i, u] of users.entries()) {
        open.push(await WireClient.login(t.port, u, `pw-u${i}`));
      }
      for (let k = 0; k < 250 && t.server.connections > 15; k++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(t.server.connections, 15);
      assert.equal(t.server.awaitingLogin, 10, "only the silent connections are still waiting");
      for (const c of silent) c.close();
      for (let k = 0; k < 250 && t.server.awaitingLogin > 0; k++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(t.server.awaitingLogin, 0);
      assert.equal(t.server.metrics.authTimeouts, 0);
    } finally {
      for (const c of open) c.close();
      await t.cleanup();
    }
  });
});
