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
});
