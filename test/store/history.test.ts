/**
 * History rows that hold several messages (`HistoryPacker`): how they are
 * packed, and that reading them gives exactly the spec §6 selection a store of
 * one row per message would give, on the memory store and a real SQLite file.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AtomicOperation, Kv, KvKey } from "../../src/kv/kv.ts";
import { MemoryKv } from "../../src/kv/memory.ts";
import { SqliteKv } from "../../src/kv/sqlite.ts";
import { packKey } from "../../src/kv/key-codec.ts";
import { decodeFrame, encodeMessage, type Message } from "../../src/protocol/mod.ts";
import {
  conversation,
  conversationId,
  History,
  historyFrames,
  HistoryPacker,
} from "../../src/store/mod.ts";
import { MAX_ROW_BYTES, MAX_SLOTS } from "../../src/store/history-packer.ts";
import { openSqliteForRuntime, tempSqliteFile } from "../support/kv-backends.ts";
import { Rng } from "../support/soak-kit.ts";

const A = "alice@a.test";
const B = "bob@a.test";
const C = "carol@a.test";
const T = 1_800_000_000_000;

const contentOf = (frame: Uint8Array) => (decodeFrame(frame) as Message).content;

/** The writes an `AtomicOperation` received, in order. */
function recorder(): { atomic: AtomicOperation; sets: { key: unknown; value: Uint8Array }[] } {
  const sets: { key: unknown; value: Uint8Array }[] = [];
  const atomic = {
    set(key: unknown, value: Uint8Array) {
      sets.push({ key, value });
      return atomic;
    },
  } as unknown as AtomicOperation;
  return { atomic, sets };
}

describe("historyFrames", () => {
  it("returns a one-message row as it is, splits a packed one, refuses a cut one", () => {
    const one = encodeMessage(A, B, T, "one");
    assert.deepEqual(historyFrames(one), [one]);
    assert.equal(historyFrames(one)[0], one); // no copy
    const two = encodeMessage(A, B, T, "two");
    const packed = new Uint8Array([...one, ...two]);
    assert.deepEqual(historyFrames(packed).map(contentOf), ["one", "two"]);
    assert.throws(
      () => historyFrames(packed.subarray(0, packed.length - 1)),
      /corrupt history row/,
    );
    assert.throws(() => historyFrames(packed.subarray(0, one.length + 2)), /corrupt history row/);
  });
});

describe("HistoryPacker", () => {
  const ab = packKey(conversation(A, B));
  const ba = packKey(conversation(B, A)); // the other direction: an equal, separate prefix
  const ac = packKey(conversation(A, C));

  it("puts consecutive messages of one conversation and timestamp in one row, both directions", () => {
    const p = new HistoryPacker();
    const { atomic, sets } = recorder();
    p.add(atomic, conversationId(A, B), ab, T, 10, encodeMessage(A, B, T, "ab1"));
    p.add(atomic, conversationId(A, C), ac, T, 11, encodeMessage(A, C, T, "ac1"));
    p.add(atomic, conversationId(B, A), ba, T, 12, encodeMessage(B, A, T, "ba1"));
    p.add(atomic, conversationId(A, B), ab, T, 13, encodeMessage(A, B, T, "ab2"));
    assert.equal(sets.length, 0, "rows wait for the end of the batch");
    assert.equal(p.finish(atomic), 2);
    const rows = sets.map((s) => ({
      key: (s.key as { bytes: Uint8Array }).bytes,
      contents: historyFrames(s.value).map(contentOf),
    }));
    assert.deepEqual(rows.map((r) => r.contents), [["ab1", "ba1", "ab2"], ["ac1"]]);
    // Keyed by the first message's (timestamp, arrival number).
    assert.deepEqual(rows[0].key, packKey([...conversation(A, B), T, 10]).bytes);
    assert.deepEqual(rows[1].key, packKey([...conversation(A, C), T, 11]).bytes);
    // The next batch starts afresh.
    const next = recorder();
    p.add(next.atomic, conversationId(A, B), ab, T, 14, encodeMessage(A, B, T, "ab3"));
    assert.equal(p.finish(next.atomic), 1);
    assert.deepEqual(historyFrames(next.sets[0].value).map(contentOf), ["ab3"]);
  });

  it("starts a new row when the timestamp changes or the row is full", () => {
    const p = new HistoryPacker();
    const { atomic, sets } = recorder();
    const id = conversationId(A, B);
    p.add(atomic, id, ab, T, 1, encodeMessage(A, B, T, "t0"));
    p.add(atomic, id, ab, T + 1, 2, encodeMessage(A, B, T + 1, "t1"));
    p.add(atomic, id, ab, T, 3, encodeMessage(A, B, T, "t0 again")); // an older stamp, later
    const big = "x".repeat(3000);
    for (let i = 4; i < 10; i++) p.add(atomic, id, ab, T + 2, i, encodeMessage(A, B, T + 2, big));
    assert.equal(p.finish(atomic), 6);
    for (const s of sets) assert.ok(s.value.length <= MAX_ROW_BYTES);
    assert.deepEqual(sets.map((s) => historyFrames(s.value).length), [1, 1, 1, 2, 2, 2]);
  });

  it("keeps one open row per conversation while its map of conversations starts over", () => {
    const p = new HistoryPacker();
    const frame = encodeMessage(A, B, T, "x");
    // More conversations in one transaction than the map keeps: it must not start over
    // in the middle (the first conversation would then get a second row).
    const first = recorder();
    p.add(first.atomic, "first", ab, T, 1, frame);
    for (let i = 0; i < MAX_SLOTS + 10; i++) p.add(first.atomic, `c${i}`, ab, T, 2 + i, frame);
    p.add(first.atomic, "first", ab, T, MAX_SLOTS + 20, frame);
    assert.equal(p.finish(first.atomic), MAX_SLOTS + 11);
    assert.equal(
      historyFrames(first.sets.find((s) => s.value.length > frame.length)!.value).length,
      2,
    );
    // Between transactions it may start over; packing goes on as before.
    const next = recorder();
    p.add(next.atomic, "new", ab, T, MAX_SLOTS + 30, frame);
    p.add(next.atomic, "first", ab, T, MAX_SLOTS + 31, frame);
    p.add(next.atomic, "new", ab, T, MAX_SLOTS + 32, frame);
    assert.equal(p.finish(next.atomic), 2);
    assert.deepEqual(next.sets.map((s) => historyFrames(s.value).length), [2, 1]);
  });

  it("forgets a failed batch", () => {
    const p = new HistoryPacker();
    const failed = recorder();
    p.add(failed.atomic, conversationId(A, B), ab, T, 1, encodeMessage(A, B, T, "lost"));
    p.discard();
    const { atomic, sets } = recorder();
    p.add(atomic, conversationId(A, B), ab, T, 2, encodeMessage(A, B, T, "kept"));
    assert.equal(p.finish(atomic), 1);
    assert.deepEqual(sets.flatMap((s) => historyFrames(s.value).map(contentOf)), ["kept"]);
    assert.equal(failed.sets.length, 0);
  });
});

interface Sent {
  readonly ts: number;
  readonly seq: number;
  readonly content: string;
  readonly frame: Uint8Array;
}

/**
 * Writes `count` messages of one direct conversation (both directions, a few
 * timestamps in bursts, not in order) through the packer in random batches,
 * plus an older one-message row written directly, the way stores made before
 * packing hold them. Returns them in arrival order.
 */
async function writePacked(kv: Kv, rng: Rng, count: number): Promise<Sent[]> {
  const conv = conversation(A, B);
  const old = encodeMessage(A, B, T + 2, "from before packing");
  const sent: Sent[] = [{ ts: T + 2, seq: 1, content: "from before packing", frame: old }];
  await kv.atomic().set([...conv, T + 2, 1], old).commit();
  const packer = new HistoryPacker();
  const prefixes = [packKey(conv), packKey(conversation(B, A))];
  let seq = 2;
  let ts = T;
  while (seq < count + 2) {
    const atomic = kv.atomic();
    const batch = 1 + rng.int(12);
    for (let i = 0; i < batch && seq < count + 2; i++, seq++) {
      // Bursts share a millisecond; now and then a stamp moves, backwards too.
      if (rng.chance(0.25)) ts = T + rng.int(5);
      const content = `m${seq}`;
      const from = rng.int(2);
      const frame = from === 0
        ? encodeMessage(A, B, ts, content)
        : encodeMessage(B, A, ts, content);
      packer.add(atomic, conversationId(A, B), prefixes[from], ts, seq, frame);
      sent.push({ ts, seq, content, frame });
    }
    packer.finish(atomic);
    assert.equal((await atomic.commit()).ok, true);
  }
  return sent;
}

/** Spec §6 over messages kept one by one: ts > since, newest first, offset, count, oldest first. */
function reference(sent: readonly Sent[], since: number, count: number, offset: number): string[] {
  const newestFirst = sent.filter((m) => m.ts > since).sort((x, y) => y.ts - x.ts || y.seq - x.seq);
  return newestFirst.slice(offset, offset + count).reverse().map((m) => m.content);
}

async function rowsUnder(kv: Kv, prefix: KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

async function selectsLikeOneRowPerMessage(kv: Kv, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const sent = await writePacked(kv, rng, 300);
  const conv = conversation(A, B);
  const rows = await rowsUnder(kv, conv);
  assert.ok(rows < sent.length / 2, `${rows} rows for ${sent.length} messages`);
  const history = new History(kv);
  for (let i = 0; i < 150; i++) {
    const since = rng.chance(0.3) ? 0 : T - 1 + rng.int(6);
    const count = 1 + rng.int(rng.chance(0.5) ? 8 : 400);
    const offset = rng.chance(0.3) ? 0 : rng.int(320);
    const got = (await history.select(conv, since, count, offset)).map(contentOf);
    assert.deepEqual(
      got,
      reference(sent, since, count, offset),
      `since ${since} count ${count} offset ${offset}`,
    );
  }
  // What a peer's re-send is checked against: any message, wherever it sits in its row.
  for (let i = 0; i < 30; i++) {
    const m = rng.pick(sent);
    assert.equal(await history.contains(conv, m.ts, m.frame), true, m.content);
  }
  const absent = encodeMessage(A, B, T + 3, "never sent");
  assert.equal(await history.contains(conv, T + 3, absent), false);
}

describe("History over packed rows", () => {
  it("selects exactly what one row per message would give (memory store)", async () => {
    const kv = new MemoryKv();
    await selectsLikeOneRowPerMessage(kv, 7);
    await kv.close();
  });

  it("selects exactly what one row per message would give (SQLite file), also after a reopen", async () => {
    const file = tempSqliteFile();
    const openSqlite = await openSqliteForRuntime();
    try {
      const kv = new SqliteKv({ openSqlite, path: file.path });
      await selectsLikeOneRowPerMessage(kv, 11);
      const before = await new History(kv).select(conversation(A, B), 0, 500, 0);
      await kv.close();
      const again = new SqliteKv({ openSqlite, path: file.path });
      assert.deepEqual(
        (await new History(again).select(conversation(A, B), 0, 500, 0)).map(contentOf),
        before.map(contentOf),
      );
      await again.close();
    } finally {
      file.remove();
    }
  });
});
