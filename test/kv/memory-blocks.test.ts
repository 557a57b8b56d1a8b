/**
 * MemoryKv keeps entries in sorted blocks that split and vanish as they fill
 * and empty: random interleaved writes and deletes must list exactly like a
 * plain sorted model, forwards, backwards and by range.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryKv } from "../../src/kv/memory.ts";
import { compareBytes, encodeKey } from "../../src/kv/key-codec.ts";
import type { KvKey } from "../../src/kv/kv.ts";

describe("MemoryKv blocks", () => {
  it("matches a sorted model under random inserts and deletes across many blocks", async () => {
    const kv = new MemoryKv();
    const model = new Map<number, number>();
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let round = 0; round < 20; round++) {
      const atomic = kv.atomic();
      for (let j = 0; j < 500; j++) {
        const k = rand(6000);
        if (rand(4) === 0) {
          atomic.delete(["k", k]);
          model.delete(k);
        } else {
          atomic.set(["k", k], round);
          model.set(k, round);
        }
      }
      assert.ok((await atomic.commit()).ok);
    }
    const expected = [...model.keys()].sort((a, b) => a - b);
    const listed: number[] = [];
    for await (const e of kv.list<number>({ prefix: ["k"] })) {
      listed.push(e.key[1] as number);
      assert.equal(e.value, model.get(e.key[1] as number));
    }
    assert.deepEqual(listed, expected);
    const back: number[] = [];
    for await (const e of kv.list({ prefix: ["k"] }, { reverse: true })) {
      back.push(e.key[1] as number);
    }
    assert.deepEqual(back, [...expected].reverse());
    const range: number[] = [];
    for await (const e of kv.list({ start: ["k", 1000], end: ["k", 2000] })) {
      range.push(e.key[1] as number);
    }
    assert.deepEqual(range, expected.filter((k) => k >= 1000 && k < 2000));
    const rangeBack: number[] = [];
    for await (const e of kv.list({ start: ["k", 1000], end: ["k", 2000] }, { reverse: true })) {
      rangeBack.push(e.key[1] as number);
    }
    assert.deepEqual(rangeBack, expected.filter((k) => k >= 1000 && k < 2000).reverse());
    for (const k of [0, 1, 2999, 5999, 6000]) {
      assert.equal((await kv.get(["k", k])).value, model.get(k) ?? null);
    }
    // Empty it completely, then use it again.
    const atomic = kv.atomic();
    for (const k of expected) atomic.delete(["k", k]);
    await atomic.commit();
    for await (const _ of kv.list({ prefix: [] })) assert.fail("not empty");
    await kv.set(["k", 1], 1);
    assert.equal((await kv.get(["k", 1])).value, 1);
    await kv.close();
  });

  it("finds every key among long shared prefixes (conversation-like keys)", async () => {
    // Names that are prefixes of each other ("u1", "u10", "u100") and many
    // interleaved appends: the bisection's shared-prefix shortcut must never
    // skip a differing byte.
    const kv = new MemoryKv();
    const names = ["u1", "u10", "u100", "u11", "u2", "v", "u1\u00e9", "u"];
    const keys: KvKey[] = [];
    let seed = 11;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let round = 0; round < 12; round++) {
      const atomic = kv.atomic();
      for (let j = 0; j < 400; j++) {
        const a = names[rand(names.length)];
        const b = names[rand(names.length)];
        const key = ["history", "direct", a, b, 1_700_000_000_000 + rand(50), rand(1000)];
        atomic.set(key, j);
        keys.push(key);
      }
      assert.ok((await atomic.commit()).ok);
    }
    const expected = [...new Map(keys.map((k) => [encodeKey(k).join(","), encodeKey(k)])).values()]
      .sort(compareBytes);
    const listed: Uint8Array[] = [];
    for await (const e of kv.list({ prefix: ["history"] })) listed.push(encodeKey(e.key));
    assert.deepEqual(listed, expected);
    for (const k of keys.slice(0, 500)) {
      assert.notEqual((await kv.get(k)).versionstamp, null, `missing ${JSON.stringify(k)}`);
    }
    const absent = ["history", "direct", "u1", "u10", 1_700_000_000_000 + 60, 5];
    assert.equal((await kv.get(absent)).versionstamp, null);
  });

  it("values read earlier stay intact while the same keys are rewritten many times", async () => {
    // Rewrites leave dead bytes behind; blocks compact them into new buffers. A value
    // handed out before must not change, and the latest value must win.
    const kv = new MemoryKv();
    const first = new Uint8Array(300).fill(1);
    await kv.set(["hot", 0], first);
    await kv.set(["hot", 1], "neighbour");
    const before = (await kv.get<Uint8Array>(["hot", 0])).value!;
    for (let round = 0; round < 3000; round++) {
      const atomic = kv.atomic();
      atomic.set(["hot", 0], new Uint8Array(300).fill(round & 0xff));
      if (round % 7 === 0) atomic.set(["hot", 2, round], round); // inserts between rewrites
      assert.ok((await atomic.commit()).ok);
    }
    assert.deepEqual(before, first);
    assert.deepEqual((await kv.get(["hot", 0])).value, new Uint8Array(300).fill(2999 & 0xff));
    assert.equal((await kv.get(["hot", 1])).value, "neighbour");
    let n = 0;
    for await (const e of kv.list<number>({ prefix: ["hot", 2] })) {
      assert.equal(e.value, e.key[2]);
      n++;
    }
    assert.equal(n, Math.ceil(3000 / 7));
  });

  it("holds values larger than a block's first buffer, and lists them in order", async () => {
    const kv = new MemoryKv();
    const big = (seed: number, size: number) => {
      const out = new Uint8Array(size);
      for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
      return out;
    };
    for (let i = 0; i < 40; i++) await kv.set(["big", 39 - i], big(i, 1000 + i * 5000));
    await kv.set(["big", 5], big(99, 250_000)); // a replacement bigger than everything
    const listed: number[] = [];
    for await (const e of kv.list<Uint8Array>({ prefix: ["big"] })) {
      const k = e.key[1] as number;
      listed.push(k);
      const seed = k === 5 ? 99 : 39 - k;
      const size = k === 5 ? 250_000 : 1000 + (39 - k) * 5000;
      assert.deepEqual(e.value, big(seed, size));
    }
    assert.deepEqual(listed, Array.from({ length: 40 }, (_, i) => i));
    await kv.delete(["big", 5]);
    assert.equal((await kv.get(["big", 5])).value, null);
  });

  it("matches a model under appends, rewrites of growing values, deletes and sums", async () => {
    // Conversation-like appends (insert hints, splits that start a new block) mixed with
    // rewrites whose values grow (buffers doubling and compacting under live hints),
    // deletes and sums; checked against a plain map after every commit batch.
    const kv = new MemoryKv();
    const model = new Map<string, { key: KvKey; value: unknown }>();
    let seed = 23;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const next = [0, 0, 0, 0];
    const id = (key: KvKey) => encodeKey(key).join(",");
    for (let round = 0; round < 60; round++) {
      const atomic = kv.atomic();
      const staged = new Map(model);
      for (let j = 0; j < 120; j++) {
        const op = rand(10);
        let key: KvKey;
        if (op < 5) {
          const c = rand(4);
          key = ["conv", c, next[c]++];
        } else {
          key = ["hot", rand(40)];
        }
        if (op === 9) {
          atomic.delete(key);
          staged.delete(id(key));
        } else if (op === 8 && key[0] === "hot") {
          const sumKey: KvKey = ["counter", rand(3)];
          atomic.sum(sumKey, 1n);
          const before = staged.get(id(sumKey))?.value as bigint | undefined;
          staged.set(id(sumKey), { key: sumKey, value: (before ?? 0n) + 1n });
        } else {
          const value = new Uint8Array(rand(3000)).fill(round & 0xff);
          atomic.set(key, value);
          staged.set(id(key), { key, value });
        }
      }
      assert.ok((await atomic.commit()).ok);
      model.clear();
      for (const [k, v] of staged) model.set(k, v);
      if (round % 10 !== 9) continue;
      const expected = [...model.values()].sort((a, b) =>
        compareBytes(encodeKey(a.key), encodeKey(b.key))
      );
      const listed: { key: KvKey; value: unknown }[] = [];
      for await (const e of kv.list({ prefix: [] }, { batchSize: 37 })) {
        listed.push({ key: e.key, value: e.value });
      }
      assert.equal(listed.length, expected.length);
      for (let i = 0; i < listed.length; i++) {
        assert.deepEqual(listed[i].key, expected[i].key);
        assert.deepEqual(listed[i].value, expected[i].value);
      }
      const back: KvKey[] = [];
      for await (const e of kv.list({ prefix: [] }, { reverse: true, batchSize: 50 })) {
        back.push(e.key);
      }
      assert.deepEqual(back, expected.map((e) => e.key).reverse());
    }
  });
  it("keeps many interleaved conversations in order while they grow, shrink and grow again", async () => {
    // Hundreds of conversations appending in random turns, a third of the messages in the
    // one that sorts last (blocks split where a conversation ends, or at the end of the
    // store; insert hints of colliding conversations share slots), some inserted before a
    // conversation's start (middle splits); then every conversation named u1... deleted
    // (blocks emptied and dropped, hints re-pointed) and the oldest entries of others;
    // then more of all that. Checked against a model, per conversation and whole, both
    // ways.
    const kv = new MemoryKv();
    const conversations = 300;
    const last = 99; // "u99@a" sorts after every other u<c>@a
    const stored: KvKey[][] = Array.from({ length: conversations }, () => []);
    let seed = 31;
    // The high bits: the low bits of this generator repeat too soon to reach 300 values.
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 8) % n;
    let seq = 0;
    const prefix = (c: number) => ["history", "direct", `u${c}@a`, `v${c % 7}@a`];
    const append = async (count: number) => {
      for (let done = 0; done < count;) {
        const atomic = kv.atomic();
        for (let j = 0; j < 500 && done < count; j++, done++) {
          const c = rand(3) === 0 ? last : rand(conversations);
          const early = rand(20) === 0;
          const key = [...prefix(c), (early ? 1_600_000_000_000 : 1_700_000_000_000) + seq, ++seq];
          atomic.set(key, seq);
          stored[c].push(key);
        }
        assert.ok((await atomic.commit()).ok);
      }
    };
    const byKey = (a: KvKey, b: KvKey) => compareBytes(encodeKey(a), encodeKey(b));
    const check = async () => {
      for (const keys of stored) keys.sort(byKey);
      for (const c of [0, 1, 13, 42, last, 150, 299]) {
        const listed: KvKey[] = [];
        for await (const e of kv.list({ prefix: prefix(c) })) {
          listed.push(e.key);
          assert.equal(e.value, e.key[5]);
        }
        assert.deepEqual(listed, stored[c]);
      }
      const expected = stored.flat().map(encodeKey).sort(compareBytes);
      const forward: Uint8Array[] = [];
      for await (const e of kv.list({ prefix: ["history"] }, { batchSize: 1000 })) {
        forward.push(encodeKey(e.key));
      }
      assert.deepEqual(forward, expected);
      const back: Uint8Array[] = [];
      for await (const e of kv.list({ prefix: ["history"] }, { reverse: true, batchSize: 1000 })) {
        back.push(encodeKey(e.key));
      }
      assert.deepEqual(back, expected.reverse());
    };
    await append(40_000);
    await check();
    for (let c = 0; c < conversations; c++) {
      stored[c].sort(byKey);
      const drop = String(c).startsWith("1")
        ? stored[c].length
        : c % 2 === 0
        ? Math.floor(stored[c].length * 0.9)
        : 0;
      const atomic = kv.atomic();
      for (const key of stored[c].slice(0, drop)) atomic.delete(key);
      stored[c] = stored[c].slice(drop);
      assert.ok((await atomic.commit()).ok);
    }
    await check();
    await append(30_000);
    await check();
  });
});
