/**
 * The outbox towards a peer that cannot be reached: messages are
 * acknowledged once queued, requests that cannot be queued answer 0x83 at
 * once, and entries past the retry age leave the outbox and are counted.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { SolecClient } from "../../src/client/client.ts";
import { loadOrCreateIdentity } from "../../src/federation/identity.ts";
import { platform } from "../support/platform.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { rejectsWith } from "../support/expect.ts";

describe("outbox towards an unreachable peer", () => {
  let t: TestServer;
  let dir: string;
  let a: SolecClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "solec-outbox-"));
    const { identity } = await loadOrCreateIdentity(join(dir, "a.key"));
    const other = await loadOrCreateIdentity(join(dir, "b.key"));
    // A port nobody listens on.
    const probe = await platform.net.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = probe.addr.port;
    probe.close();
    t = await startServer({
      identity,
      outboxMaxAgeMs: 400,
      peers: [{
        domain: "b.test",
        publicKey: other.identity.publicKeyBase64,
        address: `127.0.0.1:${deadPort}`,
        tls: false,
      }],
    });
    const alice = await t.addUser("alice");
    await t.server.store.kv.set(["contacts", alice, "bob@b.test"], 1);
    a = await t.login(alice);
  });
  after(async () => {
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("acknowledges a message once queued, then expires it after the retry age and counts it", async () => {
    await a.send("bob@b.test", "into the void", 1767225600000);
    const fed = t.server.federation;
    assert.ok(fed !== null);
    // Our copy of the conversation is kept.
    assert.deepEqual((await a.history("bob@b.test")).map((m) => m.content), ["into the void"]);
    for (let i = 0; i < 100 && fed.outboxExpired === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(fed.outboxExpired, 1);
    assert.equal(fed.status().outboxPending, 0);
    const left = [];
    for await (const e of t.kv.list({ prefix: ["outbox"] })) left.push(e);
    assert.deepEqual(left, []);
  });

  it("answers Usermode and History for the unreachable peer with 0x83, promptly", async () => {
    await rejectsWith(a.join("#room@b.test"), 0x83);
    await rejectsWith(a.join("#room@b.test"), 0x83); // while backing off: at once
    assert.ok(!(await a.list()).includes("#room@b.test"));
  });

  it("refuses remote addresses of unknown servers with 0x02", async () => {
    await rejectsWith(a.send("carol@c.test", "who?"), 0x02);
    await rejectsWith(a.join("#room@c.test"), 0x02);
  });
});
