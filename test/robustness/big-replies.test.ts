/**
 * The slow-consumer bound (maxOutputBytes, default 1 MiB) must only cut
 * readers that fall behind, never a prompt reader asking for a reply the
 * server itself allows: History returns up to historyMaxCount (500)
 * messages of up to maxMessageBytes (4 KiB), about 2 MiB; the inbox is sent
 * at login in batches of 500.
 *
 * Regression tests for finding 3 of docs/robustness.md: the whole reply was
 * queued in one synchronous run, its size alone passed the bound, and the
 * connection was closed as a slow consumer; at login the inbox batch was
 * deleted from the store although it was never sent.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeMessage } from "../../src/protocol/mod.ts";
import { conversation, historyKey, inboxKey, inboxOf } from "../../src/store/mod.ts";
import { startServer } from "../support/server.ts";
import { contentsUnder } from "../support/store-check.ts";
import { WireClient } from "../support/wire-client.ts";

const BIG = 4000; // under the default maxMessageBytes (4096)
const TS = 1_767_225_600_000;

/** Reads Messages until Success (or the connection ends / 10 s pass). */
async function collect(c: WireClient, max: number): Promise<{ messages: number; ended: string }> {
  let messages = 0;
  for (;;) {
    const p = await c.next(10_000).catch(() => null);
    if (p === null) return { messages, ended: c.ended ? "closed" : "timeout" };
    if (p.type === 0x05) messages++;
    if (p.type === 0x01 || p.type === 0x02 || messages >= max) {
      return { messages, ended: `frame ${p.type}` };
    }
  }
}

describe("big replies to prompt readers", () => {
  it(
    "answers a History of 500 messages of 4 KB without dropping the reader",
    async () => {
      const t = await startServer(); // defaults: maxOutputBytes 1 MiB, historyMaxCount 500
      try {
        const alice = await t.addUser("alice");
        const bob = await t.addUser("bob");
        await t.contacts(alice, bob);
        const conv = conversation(alice, bob);
        for (let i = 0; i < 500; i += 100) {
          const op = t.kv.atomic();
          for (let j = i; j < i + 100; j++) {
            op.set(
              historyKey(conv, TS + j, j + 1),
              encodeMessage(alice, bob, TS + j, "x".repeat(BIG)),
            );
          }
          await op.commit();
        }
        const a = await WireClient.login(t.port, alice, "pw-alice", { keep: 1000 });
        a.write({ type: 0x08, target: bob, since: 0, count: 500, offset: 0 });
        const got = await collect(a, 1000);
        assert.equal(got.messages, 500, `got ${got.messages}, then ${got.ended}`);
        assert.equal(t.server.metrics.slowConsumerDrops, 0);
        a.close();
      } finally {
        await t.cleanup();
      }
    },
  );

  it(
    "delivers an inbox of 600 messages of 4 KB at login and only then empties it",
    async () => {
      const t = await startServer();
      try {
        const alice = await t.addUser("alice");
        const bob = await t.addUser("bob");
        await t.contacts(alice, bob);
        for (let i = 0; i < 600; i += 100) {
          const op = t.kv.atomic();
          for (let j = i; j < i + 100; j++) {
            op.set(
              inboxKey(bob, j + 1),
              encodeMessage(alice, bob, TS + j, `${j} `.padEnd(BIG, "x")),
            );
          }
          await op.commit();
        }
        const b = await WireClient.login(t.port, bob, "pw-bob", { keep: 1000 });
        let messages = 0;
        for (let k = 0; k < 100 && messages < 600 && !b.ended; k++) {
          await b.waitActivity(100);
          messages += b.frames.splice(0).filter((p) => p.type === 0x05).length;
        }
        let left = (await contentsUnder(t.dir, inboxOf(bob))).size;
        assert.equal(
          messages,
          600,
          `got ${messages}; connection ${b.ended ? "closed" : "open"}; ${left} left in the inbox`,
        );
        // The last batch leaves the inbox once it was sent: shortly after.
        for (let k = 0; k < 100 && left > 0; k++) {
          await new Promise((r) => setTimeout(r, 20));
          left = (await contentsUnder(t.dir, inboxOf(bob))).size;
        }
        assert.equal(left, 0);
        b.close();
      } finally {
        await t.cleanup();
      }
    },
  );
});
