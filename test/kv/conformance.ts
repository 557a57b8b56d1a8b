/**
 * The behaviour every `Kv` backend must show, as one reusable suite (in the spirit of
 * aedes-persistence's abstract.js and unstorage's testDriver). A backend's test file calls
 * `kvConformance("name", factory)`; a new backend (Redis, …) must pass it unchanged.
 *
 * Every case gets a fresh, empty store from `factory` and calls `cleanup()` afterwards.
 * Optional behaviour is gated on the store's own `capabilities`:
 * - `durable`: data survives close + `reopen()` (the harness must then provide `reopen`);
 * - `sharedAcrossProcesses`: two handles from `openAnother()` see each other's writes and
 *   never hand out the same versionstamp (the harness must then provide `openAnother`).
 * Those cases pass vacuously on stores without the capability.
 *
 * Only `node:test` and `node:assert/strict` are used, so the suite runs under both
 * `bun test` and `deno test`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type {
  Kv,
  KvEntry,
  KvKey,
  KvKeyPart,
  KvListOptions,
  KvListSelector,
  KvValue,
} from "../../src/kv/kv.ts";

export interface KvHarness {
  /** A fresh, empty store. */
  kv: Kv;
  /** Close every handle the harness opened and delete any files. */
  cleanup(): Promise<void>;
  /** Durable stores: close `kv` and open the same store again. */
  reopen?(): Promise<Kv>;
  /** Shared stores: open another independent handle (as another process would) on the same store. */
  openAnother?(): Promise<Kv>;
}

export type KvFactory = () => Promise<KvHarness>;

const VERSIONSTAMP = /^[0-9a-f]{20}$/;

async function collect<T = KvValue>(
  kv: Kv,
  selector: KvListSelector,
  options?: KvListOptions,
): Promise<KvEntry<T>[]> {
  const out: KvEntry<T>[] = [];
  for await (const entry of kv.list<T>(selector, options)) out.push(entry);
  return out;
}

async function listKeys(
  kv: Kv,
  selector: KvListSelector,
  options?: KvListOptions,
): Promise<KvKey[]> {
  return (await collect(kv, selector, options)).map((e) => e.key);
}

/** Walk a listing page by page through cursors; returns every key seen, in order. */
async function paginate(
  kv: Kv,
  selector: KvListSelector,
  pageSize: number,
  reverse: boolean,
): Promise<KvKey[]> {
  const keys: KvKey[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const iter = kv.list(selector, { limit: pageSize, cursor, reverse });
    for await (const entry of iter) keys.push(entry.key);
    cursor = iter.cursor;
    if (cursor === "") return keys;
  }
  throw new Error("pagination did not terminate");
}

/** Deterministic shuffle (mulberry32) so failures reproduce. */
function shuffled<T>(items: readonly T[], seed = 42): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Write many entries in few commits (one commit per entry would be slow on fsyncing stores). */
async function setAll(kv: Kv, entries: readonly (readonly [KvKey, KvValue])[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 250) {
    const op = kv.atomic();
    for (const [key, value] of entries.slice(i, i + 250)) op.set(key, value);
    const res = await op.commit();
    assert.equal(res.ok, true);
  }
}

/** Insert `parts` as keys `[prefix, part]` in a scrambled order and expect them listed in the given order. */
async function assertOrder(kv: Kv, prefix: string, parts: readonly KvKeyPart[]): Promise<void> {
  await setAll(kv, shuffled(parts.map((p, i) => [[prefix, p], i] as const)));
  const listed = await collect<number>(kv, { prefix: [prefix] });
  assert.deepStrictEqual(listed.map((e) => e.key[1]), [...parts]);
  assert.deepStrictEqual(listed.map((e) => e.value), parts.map((_, i) => i));
  const reversed = await listKeys(kv, { prefix: [prefix] }, { reverse: true });
  assert.deepStrictEqual(reversed.map((k) => k[1]), [...parts].reverse());
}

const BAD_KEYS: readonly (readonly [string, unknown])[] = [
  ["a string instead of an array", "key"],
  ["an undefined part", ["a", undefined]],
  ["a null part", [null]],
  ["an object part", [{}]],
  ["a nested array part", [["a"]]],
  ["a NaN part", ["a", NaN]],
  ["a symbol part", [Symbol("s")]],
  ["a Date part", [new Date(0)]],
  ["a Uint16Array part", [new Uint16Array(2)]],
  ["a string with a lone surrogate", ["\ud800"]],
];

class Point {
  x = 1;
}

function badValues(): (readonly [string, unknown, RegExp])[] {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const sparse: unknown[] = new Array(3);
  sparse[0] = 1;
  sparse[2] = 3;
  return [
    ["a function", () => 1, /function/],
    ["undefined", undefined, /undefined/],
    ["a symbol", Symbol("x"), /symbol/],
    ["a Date", new Date(0), /Date/],
    ["a Map", new Map(), /Map/],
    ["a Set", new Set(), /Set/],
    ["a RegExp", /x/, /RegExp/],
    ["a class instance", new Point(), /Point/],
    ["an Int16Array", new Int16Array(2), /Int16Array/],
    ["an ArrayBuffer", new ArrayBuffer(2), /ArrayBuffer/],
    ["undefined inside an object", { a: { b: undefined } }, /value\.a\.b/],
    ["a function inside an array", [1, () => 2], /value\[1\]/],
    ["a hole in a sparse array", sparse, /value\[1\]/],
    ["a cyclic object", cyclic, /cyclic/],
  ];
}

export function kvConformance(name: string, factory: KvFactory): void {
  /** Run `fn` against a fresh store and always clean up. */
  const withKv = (fn: (kv: Kv, harness: KvHarness) => Promise<void>) => async () => {
    const harness = await factory();
    try {
      await fn(harness.kv, harness);
    } finally {
      await harness.cleanup();
    }
  };

  describe(name, () => {
    describe("basics", () => {
      it(
        "declares its capabilities",
        withKv(async (kv) => {
          assert.equal(typeof kv.capabilities.durable, "boolean");
          assert.equal(typeof kv.capabilities.sharedAcrossProcesses, "boolean");
          await kv.ping();
        }),
      );

      it(
        "get of a missing key answers nulls with the key",
        withKv(async (kv) => {
          const got = await kv.get(["missing", 1]);
          assert.deepStrictEqual(got, { key: ["missing", 1], value: null, versionstamp: null });
        }),
      );

      it(
        "set then get returns the value and the commit's versionstamp",
        withKv(async (kv) => {
          const res = await kv.set(["a"], "hello");
          assert.equal(res.ok, true);
          assert.match(res.versionstamp, VERSIONSTAMP);
          const got = await kv.get(["a"]);
          assert.deepStrictEqual(got, {
            key: ["a"],
            value: "hello",
            versionstamp: res.versionstamp,
          });
        }),
      );

      it(
        "overwriting replaces the value and advances the versionstamp",
        withKv(async (kv) => {
          const first = await kv.set(["a"], 1);
          const second = await kv.set(["a"], 2);
          assert.ok(second.versionstamp > first.versionstamp);
          const got = await kv.get(["a"]);
          assert.equal(got.value, 2);
          assert.equal(got.versionstamp, second.versionstamp);
        }),
      );

      it(
        "delete removes a key; deleting a missing key is fine",
        withKv(async (kv) => {
          await kv.set(["d", 1], "x");
          await kv.set(["d", 2], "y");
          await kv.delete(["d", 1]);
          await kv.delete(["d", 99]);
          assert.deepStrictEqual(await kv.get(["d", 1]), {
            key: ["d", 1],
            value: null,
            versionstamp: null,
          });
          assert.equal((await kv.get(["d", 2])).value, "y");
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["d"] }), [["d", 2]]);
        }),
      );

      it(
        "getMany answers in order, with nulls for missing keys and repeats",
        withKv(async (kv) => {
          const a = await kv.set(["g", 1], "one");
          await kv.set(["g", 2], "two");
          const got = await kv.getMany([["g", 1], ["g", 3], ["g", 2], ["g", 1]]);
          assert.deepStrictEqual(got.map((e) => e.value), ["one", null, "two", "one"]);
          assert.deepStrictEqual(got.map((e) => e.key), [["g", 1], ["g", 3], ["g", 2], ["g", 1]]);
          assert.equal(got[0].versionstamp, a.versionstamp);
          assert.equal(got[1].versionstamp, null);
          assert.deepStrictEqual(await kv.getMany([]), []);
        }),
      );

      it(
        "keys of every part type round-trip through get and list",
        withKv(async (kv) => {
          const key: KvKey = [
            new Uint8Array([0, 1, 255]),
            "s\u0000t",
            -0,
            1.5,
            -(2n ** 80n),
            true,
            false,
          ];
          await kv.set(key, "v");
          const got = await kv.get(key);
          assert.deepStrictEqual(got.key, key);
          assert.ok(Object.is(got.key[2], -0));
          assert.equal(got.value, "v");
          const [listed] = await collect(kv, { prefix: [key[0]] });
          assert.deepStrictEqual(listed.key, key);
        }),
      );

      it(
        "-0 and 0 are different keys",
        withKv(async (kv) => {
          await kv.set(["z", -0], "negative zero");
          assert.equal((await kv.get(["z", 0])).value, null);
          await kv.set(["z", 0], "zero");
          assert.equal((await kv.get(["z", -0])).value, "negative zero");
          assert.equal((await kv.get(["z", 0])).value, "zero");
        }),
      );
    });

    describe("values", () => {
      const samples: readonly (readonly [string, KvValue])[] = [
        ["null", null],
        ["true", true],
        ["false", false],
        ["zero", 0],
        ["a small integer", 42],
        ["a negative integer", -7],
        ["a float", 3.25],
        ["the largest safe integer", Number.MAX_SAFE_INTEGER],
        ["the smallest safe integer", Number.MIN_SAFE_INTEGER],
        ["a huge number", 1.7976931348623157e308],
        ["a millisecond timestamp", 1_764_000_000_123],
        ["Infinity", Infinity],
        ["-Infinity", -Infinity],
        ["an empty string", ""],
        ["an ASCII string", "hello world"],
        ["a non-ASCII string", "héllo wörld 👋 日本語"],
        ["a string with NUL", "a\u0000b"],
        ["a long string", "x".repeat(100_000)],
        ["a string with a lone surrogate", "bad \ud800 pair \udc00"],
        ["bigint 0n", 0n],
        ["a negative bigint", -123456789n],
        ["a huge bigint", 2n ** 521n - 1n],
        ["a huge negative bigint", -(2n ** 300n)],
        ["empty bytes", new Uint8Array(0)],
        ["bytes", new Uint8Array([0, 1, 2, 254, 255])],
        ["an empty array", []],
        ["an empty object", {}],
        ["an array of everything", [null, true, 1, "s", 2n, new Uint8Array([9]), [], {}]],
        ["a nested object", {
          id: "m1",
          from: { nick: "ada", host: "example.org" },
          text: "hi ✨",
          ts: 1_764_000_000_123,
          seq: 12n,
          raw: new Uint8Array([1, 2, 3]),
          tags: ["a", ["b", { c: null }]],
          "key with spaces": -1.5,
          "": "empty key",
        }],
        ["a deeply nested value", JSON.parse("[".repeat(100) + "]".repeat(100)) as KvValue],
      ];
      for (const [label, value] of samples) {
        it(
          `stores ${label}`,
          withKv(async (kv) => {
            await kv.set(["v"], value);
            const got = await kv.get(["v"]);
            assert.deepStrictEqual(got.value, value);
          }),
        );
      }

      it(
        "keeps -0 and NaN exactly",
        withKv(async (kv) => {
          await kv.set(["n", 1], -0);
          await kv.set(["n", 2], NaN);
          assert.ok(Object.is((await kv.get(["n", 1])).value, -0));
          assert.ok(Number.isNaN((await kv.get(["n", 2])).value));
        }),
      );

      it(
        "keeps an own __proto__ property as data",
        withKv(async (kv) => {
          const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as KvValue;
          await kv.set(["p"], value);
          const got = (await kv.get<Record<string, KvValue>>(["p"])).value;
          assert.ok(got !== null);
          assert.equal(Object.getPrototypeOf(got), Object.prototype);
          assert.ok(Object.hasOwn(got, "__proto__"));
          assert.deepStrictEqual(got["__proto__"], { polluted: true });
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
        }),
      );

      it(
        "copies bytes on set and on get",
        withKv(async (kv) => {
          const bytes = new Uint8Array([1, 2, 3]);
          await kv.set(["b"], bytes);
          bytes[0] = 99;
          const first = (await kv.get<Uint8Array>(["b"])).value;
          assert.ok(first);
          assert.equal(Object.getPrototypeOf(first), Uint8Array.prototype);
          assert.deepStrictEqual(first, new Uint8Array([1, 2, 3]));
          first[1] = 99;
          const second = (await kv.get<Uint8Array>(["b"])).value;
          assert.notStrictEqual(first, second);
          assert.deepStrictEqual(second, new Uint8Array([1, 2, 3]));
        }),
      );

      it(
        "stores only the viewed bytes of a subarray",
        withKv(async (kv) => {
          const backing = new Uint8Array([10, 11, 12, 13, 14]);
          await kv.set(["b"], backing.subarray(1, 3));
          await kv.set(["nested"], { data: backing.subarray(3) });
          assert.deepStrictEqual((await kv.get(["b"])).value, new Uint8Array([11, 12]));
          assert.deepStrictEqual((await kv.get(["nested"])).value, {
            data: new Uint8Array([13, 14]),
          });
        }),
      );

      it(
        "copies nested objects on set and on get",
        withKv(async (kv) => {
          const value = { list: [1, 2], inner: { bytes: new Uint8Array([5]) } };
          await kv.set(["o"], value);
          value.list.push(3);
          value.inner.bytes[0] = 6;
          const got = (await kv.get<typeof value>(["o"])).value;
          assert.deepStrictEqual(got, { list: [1, 2], inner: { bytes: new Uint8Array([5]) } });
          got?.list.push(4);
          assert.deepStrictEqual((await kv.get(["o"])).value, {
            list: [1, 2],
            inner: { bytes: new Uint8Array([5]) },
          });
        }),
      );

      it(
        "copies an atomic set's value when it is queued",
        withKv(async (kv) => {
          const value = { n: 1 };
          const op = kv.atomic().set(["q"], value);
          value.n = 2;
          assert.equal((await op.commit()).ok, true);
          assert.deepStrictEqual((await kv.get(["q"])).value, { n: 1 });
        }),
      );

      it(
        "copies key bytes, so mutating a key part afterwards changes nothing",
        withKv(async (kv) => {
          const part = new Uint8Array([1]);
          await kv.set(["k", part], "v");
          part[0] = 2;
          assert.equal((await kv.get(["k", new Uint8Array([1])])).value, "v");
          assert.equal((await kv.get(["k", new Uint8Array([2])])).value, null);
        }),
      );

      for (const [label, value, mentions] of badValues()) {
        it(
          `rejects ${label} with a TypeError that names it`,
          withKv(async (kv) => {
            await assert.rejects(() => kv.set(["bad"], value as KvValue), (err: unknown) => {
              assert.ok(err instanceof TypeError, `expected TypeError, got ${err}`);
              assert.match(err.message, mentions);
              return true;
            });
            await assert.rejects(async () => {
              await kv.atomic().set(["bad"], value as KvValue).commit();
            }, TypeError);
            assert.equal((await kv.get(["bad"])).versionstamp, null);
          }),
        );
      }
    });

    describe("key order", () => {
      it(
        "orders types: Uint8Array < string < number < bigint < boolean",
        withKv(async (kv) => {
          await assertOrder(kv, "t", [
            new Uint8Array([]),
            new Uint8Array([255, 255]),
            "",
            "zzz",
            -Infinity,
            Infinity,
            -(2n ** 100n),
            0n,
            2n ** 100n,
            false,
            true,
          ]);
        }),
      );

      it(
        "orders numbers numerically, with -0 just before 0",
        withKv(async (kv) => {
          await assertOrder(kv, "n", [
            -Infinity,
            -Number.MAX_VALUE,
            -1e300,
            -2,
            -1,
            -0.5,
            -Number.MIN_VALUE,
            -0,
            0,
            Number.MIN_VALUE,
            0.5,
            1,
            2,
            10,
            1e300,
            Number.MAX_VALUE,
            Infinity,
          ]);
        }),
      );

      it(
        "orders bigints numerically, across byte-length boundaries",
        withKv(async (kv) => {
          await assertOrder(kv, "b", [
            -(2n ** 2000n),
            -(2n ** 100n),
            -(2n ** 64n) - 1n,
            -(2n ** 64n),
            -(2n ** 64n) + 1n,
            -(2n ** 63n),
            -65536n,
            -256n,
            -255n,
            -1n,
            0n,
            1n,
            255n,
            256n,
            65536n,
            2n ** 63n,
            2n ** 64n - 1n,
            2n ** 64n,
            2n ** 100n,
            2n ** 2000n,
          ]);
        }),
      );

      it(
        "orders strings by UTF-8 bytes, NUL characters included",
        withKv(async (kv) => {
          await assertOrder(kv, "s", [
            "",
            "\u0000",
            "\u0000\u0000",
            "\u0000\u0001",
            "\u0001",
            "A",
            "a",
            "a\u0000",
            "a\u0000b",
            "ab",
            "b",
            "é",
            "\uffff", // UTF-16 would put this after the emoji; UTF-8 puts it before
            "😀",
          ]);
        }),
      );

      it(
        "orders byte strings lexicographically, prefixes first",
        withKv(async (kv) => {
          await assertOrder(kv, "u", [
            new Uint8Array([]),
            new Uint8Array([0]),
            new Uint8Array([0, 0]),
            new Uint8Array([0, 1]),
            new Uint8Array([0, 255]),
            new Uint8Array([1]),
            new Uint8Array([1, 0]),
            new Uint8Array([255]),
            new Uint8Array([255, 0]),
            new Uint8Array([255, 255]),
          ]);
        }),
      );

      it(
        "orders false before true",
        withKv(async (kv) => {
          await assertOrder(kv, "f", [false, true]);
        }),
      );

      it(
        "orders tuples part by part, a tuple before its extensions",
        withKv(async (kv) => {
          const keys: KvKey[] = [
            ["a"],
            ["a", new Uint8Array([0])],
            ["a", ""],
            ["a", "\u0000"],
            ["a", -1],
            ["a", 0, "x"],
            ["a", 1],
            ["a", 1, 1],
            ["a", 0n],
            ["a", true],
            ["a\u0000"],
            ["a\u0000", "a"],
            ["ab"],
            ["b"],
          ];
          await setAll(kv, shuffled(keys.map((k) => [k, null] as const)));
          assert.deepStrictEqual(await listKeys(kv, { prefix: [] }), keys);
        }),
      );
    });

    describe("list", () => {
      const fill = (kv: Kv) =>
        setAll(kv, [
          [["r"], "prefix itself"],
          ...Array.from({ length: 10 }, (_, i) => [["r", i], i] as const),
          [["r\u0000"], "sibling"],
          [["rr"], "sibling"],
          [["q"], "before"],
        ]);
      const r = (...ns: number[]) => ns.map((n) => ["r", n]);

      it(
        "prefix lists keys strictly under the prefix, not the prefix key itself",
        withKv(async (kv) => {
          await fill(kv);
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }),
            r(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
          );
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["r", 3] }), []);
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["nothing"] }), []);
        }),
      );

      it(
        "an empty prefix lists everything",
        withKv(async (kv) => {
          await fill(kv);
          const keys = await listKeys(kv, { prefix: [] });
          assert.equal(keys.length, 14);
          assert.deepStrictEqual(keys[0], ["q"]);
          assert.deepStrictEqual(keys[keys.length - 1], ["rr"]);
        }),
      );

      it(
        "byte-string prefixes do not match longer byte strings",
        withKv(async (kv) => {
          await kv.set([new Uint8Array([1]), "a"], 1);
          await kv.set([new Uint8Array([1, 0]), "b"], 2);
          await kv.set([new Uint8Array([1, 0xff])], 3);
          assert.deepStrictEqual(await listKeys(kv, { prefix: [new Uint8Array([1])] }), [[
            new Uint8Array([1]),
            "a",
          ]]);
        }),
      );

      it(
        "returns values and versionstamps with the keys",
        withKv(async (kv) => {
          const a = await kv.set(["e", 1], { x: 1 });
          const b = await kv.set(["e", 2], [new Uint8Array([7])]);
          assert.deepStrictEqual(await collect(kv, { prefix: ["e"] }), [
            { key: ["e", 1], value: { x: 1 }, versionstamp: a.versionstamp },
            { key: ["e", 2], value: [new Uint8Array([7])], versionstamp: b.versionstamp },
          ]);
        }),
      );

      it(
        "prefix + start (inclusive) and prefix + end (exclusive)",
        withKv(async (kv) => {
          await fill(kv);
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"], start: ["r", 7] }),
            r(7, 8, 9),
          );
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["r"], end: ["r", 3] }), r(0, 1, 2));
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"], start: ["r", 7] }, { reverse: true }),
            r(9, 8, 7),
          );
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"], end: ["r", 3] }, { reverse: true }),
            r(2, 1, 0),
          );
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"], start: ["r", 2.5] }),
            r(3, 4, 5, 6, 7, 8, 9),
          );
        }),
      );

      it(
        "start (inclusive) to end (exclusive)",
        withKv(async (kv) => {
          await fill(kv);
          assert.deepStrictEqual(
            await listKeys(kv, { start: ["r", 2], end: ["r", 5] }),
            r(2, 3, 4),
          );
          assert.deepStrictEqual(
            await listKeys(kv, { start: ["r", 2], end: ["r", 5] }, { reverse: true }),
            r(4, 3, 2),
          );
          assert.deepStrictEqual(await listKeys(kv, { start: ["r", 4], end: ["r", 4] }), []);
          assert.deepStrictEqual(await listKeys(kv, { start: ["q"], end: ["r", 1] }), [
            ["q"],
            ["r"],
            ["r", 0],
          ]);
        }),
      );

      it(
        "reverse lists in descending order",
        withKv(async (kv) => {
          await fill(kv);
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { reverse: true }),
            r(9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
          );
        }),
      );

      it(
        "limit caps the results in either direction",
        withKv(async (kv) => {
          await fill(kv);
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["r"] }, { limit: 3 }), r(0, 1, 2));
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { limit: 3, reverse: true }),
            r(9, 8, 7),
          );
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { limit: 100 }),
            r(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
          );
        }),
      );

      it(
        "small batch sizes still list everything once, in order",
        withKv(async (kv) => {
          await fill(kv);
          for (const batchSize of [1, 2, 3, 7, 1000]) {
            assert.deepStrictEqual(
              await listKeys(kv, { prefix: ["r"] }, { batchSize }),
              r(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
            );
            assert.deepStrictEqual(
              await listKeys(kv, { prefix: ["r"] }, { batchSize, reverse: true, limit: 4 }),
              r(9, 8, 7, 6),
            );
          }
        }),
      );

      it(
        "keeps going when the entries it returned are deleted mid-listing",
        withKv(async (kv) => {
          await fill(kv);
          const seen: KvKey[] = [];
          for await (const entry of kv.list({ prefix: ["r"] }, { batchSize: 2 })) {
            seen.push(entry.key);
            await kv.delete(entry.key);
          }
          assert.deepStrictEqual(seen, r(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["r"] }), []);
        }),
      );

      it(
        "cursor resumes after the last entry, forwards and backwards",
        withKv(async (kv) => {
          await fill(kv);
          const first = kv.list({ prefix: ["r"] }, { limit: 4 });
          const firstKeys: KvKey[] = [];
          for await (const e of first) firstKeys.push(e.key);
          assert.deepStrictEqual(firstKeys, r(0, 1, 2, 3));
          const cursor = first.cursor;
          assert.notEqual(cursor, "");
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { cursor }),
            r(4, 5, 6, 7, 8, 9),
          );
          // The cursor marks a position; listing backwards from it yields what came before.
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { cursor, reverse: true }),
            r(2, 1, 0),
          );

          const back = kv.list({ prefix: ["r"] }, { limit: 2, reverse: true });
          for await (const _ of back) { /* drain */ }
          assert.deepStrictEqual(
            await listKeys(kv, { prefix: ["r"] }, { cursor: back.cursor, reverse: true }),
            r(7, 6, 5, 4, 3, 2, 1, 0),
          );
        }),
      );

      it(
        "cursor pagination reproduces the full listing in both directions",
        withKv(async (kv) => {
          await fill(kv);
          const selectors: KvListSelector[] = [
            { prefix: ["r"] },
            { prefix: ["r"], start: ["r", 3] },
            { prefix: ["r"], end: ["r", 8] },
            { start: ["r", 1], end: ["r", 9] },
            { start: ["q"], end: ["rr"] },
            { prefix: [] },
          ];
          for (const selector of selectors) {
            const all = await listKeys(kv, selector);
            const allReversed = await listKeys(kv, selector, { reverse: true });
            assert.deepStrictEqual(allReversed, [...all].reverse());
            for (const pageSize of [1, 3, 5, 100]) {
              assert.deepStrictEqual(
                await paginate(kv, selector, pageSize, false),
                all,
                `forward, pages of ${pageSize}`,
              );
              assert.deepStrictEqual(
                await paginate(kv, selector, pageSize, true),
                allReversed,
                `reverse, pages of ${pageSize}`,
              );
            }
          }
        }),
      );

      it(
        "cursor is empty once the listing reached its end",
        withKv(async (kv) => {
          await fill(kv);
          const iter = kv.list({ prefix: ["r"] }, { limit: 50 });
          for await (const _ of iter) { /* drain */ }
          assert.equal(iter.cursor, "");
          const none = kv.list({ prefix: ["nothing"] });
          for await (const _ of none) { /* drain */ }
          assert.equal(none.cursor, "");
        }),
      );

      it(
        "reading the cursor before the first entry throws",
        withKv(async (kv) => {
          await fill(kv);
          const iter = kv.list({ prefix: ["r"] });
          assert.throws(() => iter.cursor);
          await iter.next();
          assert.equal(typeof iter.cursor, "string");
        }),
      );

      it(
        "rejects garbage cursors with a TypeError",
        withKv(async (kv) => {
          await fill(kv);
          for (const cursor of ["%%%", "not base64!", "7g"]) {
            await assert.rejects(
              () => listKeys(kv, { prefix: ["r"] }, { cursor }),
              TypeError,
              cursor,
            );
          }
        }),
      );

      it(
        "rejects malformed selectors and options with a TypeError",
        withKv(async (kv) => {
          const bad: [KvListSelector, KvListOptions?][] = [
            [{ prefix: ["r"], start: ["s"] }],
            [{ prefix: ["r"], end: ["q"] }],
            [{ prefix: ["r"], start: ["r"] }],
            [{ start: ["r", 5], end: ["r", 2] }],
            [{ start: ["r"] } as unknown as KvListSelector],
            [{} as unknown as KvListSelector],
            [{ prefix: ["r", NaN] }],
            [{ prefix: ["r"] }, { limit: 0 }],
            [{ prefix: ["r"] }, { limit: -1 }],
            [{ prefix: ["r"] }, { limit: 1.5 }],
            [{ prefix: ["r"] }, { batchSize: 0 }],
            [{ prefix: ["r"] }, { batchSize: 1001 }],
          ];
          for (const [selector, options] of bad) {
            await assert.rejects(
              () => listKeys(kv, selector, options),
              TypeError,
              JSON.stringify([selector, options]),
            );
          }
        }),
      );

      it(
        "lists 5 000 keys in order, whatever order they were written in",
        withKv(async (kv) => {
          const n = 5000;
          const ids = Array.from({ length: n }, (_, i) => i);
          await setAll(kv, shuffled(ids).map((i) => [["m", i], { i }] as const));
          await kv.set(["m"], "prefix itself");
          await kv.set(["n", 0], "after");
          const entries = await collect<{ i: number }>(kv, { prefix: ["m"] });
          assert.equal(entries.length, n);
          assert.deepStrictEqual(entries.map((e) => e.value.i), ids);
          const reversed = await listKeys(kv, { prefix: ["m"] }, { reverse: true });
          assert.deepStrictEqual(reversed.map((k) => k[1]), [...ids].reverse());
          const middle = await listKeys(kv, { start: ["m", 1000], end: ["m", 2000] });
          assert.deepStrictEqual(middle.map((k) => k[1]), ids.slice(1000, 2000));
          const tail = await listKeys(kv, { prefix: ["m"] }, { reverse: true, limit: 3 });
          assert.deepStrictEqual(tail, [["m", 4999], ["m", 4998], ["m", 4997]]);
          assert.deepStrictEqual(
            await paginate(kv, { prefix: ["m"] }, 777, false),
            entries.map((e) => e.key),
          );
        }),
      );
    });

    describe("atomic", () => {
      it(
        "applies all mutations with one shared versionstamp",
        withKv(async (kv) => {
          await kv.set(["x", "gone"], 1);
          const res = await kv.atomic().set(["x", 1], "a").set(["x", 2], "b").delete(["x", "gone"])
            .commit();
          assert.ok(res.ok);
          assert.match(res.versionstamp, VERSIONSTAMP);
          const [a, b, gone] = await kv.getMany([["x", 1], ["x", 2], ["x", "gone"]]);
          assert.equal(a.versionstamp, res.versionstamp);
          assert.equal(b.versionstamp, res.versionstamp);
          assert.equal(gone.value, null);
        }),
      );

      it(
        "an empty commit succeeds with a new versionstamp",
        withKv(async (kv) => {
          const before = await kv.set(["e"], 1);
          const res = await kv.atomic().commit();
          assert.ok(res.ok);
          assert.ok(res.versionstamp > before.versionstamp);
        }),
      );

      it(
        "succeeds when checks match current versionstamps",
        withKv(async (kv) => {
          const a = await kv.set(["c", "a"], 1);
          const res = await kv.atomic()
            .check({ key: ["c", "a"], versionstamp: a.versionstamp })
            .check({ key: ["c", "missing"], versionstamp: null })
            .set(["c", "a"], 2)
            .set(["c", "missing"], 3)
            .commit();
          assert.ok(res.ok);
          assert.deepStrictEqual(
            (await kv.getMany([["c", "a"], ["c", "missing"]])).map((e) => e.value),
            [2, 3],
          );
        }),
      );

      it(
        "fails, applying nothing, on a stale versionstamp",
        withKv(async (kv) => {
          const old = await kv.set(["c"], "v1");
          const current = await kv.set(["c"], "v2");
          const res = await kv.atomic()
            .check({ key: ["c"], versionstamp: old.versionstamp })
            .set(["c"], "v3")
            .set(["c", "other"], "x")
            .delete(["c"])
            .commit();
          assert.deepStrictEqual(res, { ok: false });
          assert.deepStrictEqual(await kv.get(["c"]), {
            key: ["c"],
            value: "v2",
            versionstamp: current.versionstamp,
          });
          assert.equal((await kv.get(["c", "other"])).value, null);
        }),
      );

      it(
        "null versionstamp means the key must not exist",
        withKv(async (kv) => {
          await kv.set(["u"], "taken");
          assert.deepStrictEqual(
            await kv.atomic().check({ key: ["u"], versionstamp: null }).set(["u"], "mine").commit(),
            { ok: false },
          );
          assert.equal((await kv.get(["u"])).value, "taken");
          await kv.delete(["u"]);
          assert.ok(
            (await kv.atomic().check({ key: ["u"], versionstamp: null }).set(["u"], "mine")
              .commit()).ok,
          );
          assert.equal((await kv.get(["u"])).value, "mine");
        }),
      );

      it(
        "a versionstamp check on a missing key fails",
        withKv(async (kv) => {
          const res = await kv.set(["w"], 1);
          await kv.delete(["w"]);
          assert.deepStrictEqual(
            await kv.atomic().check({ key: ["w"], versionstamp: res.versionstamp }).set(["w"], 2)
              .commit(),
            { ok: false },
          );
        }),
      );

      it(
        "compare-and-swap loop: only one of two racing writers wins",
        withKv(async (kv) => {
          await kv.set(["counter"], 0);
          const a = await kv.get<number>(["counter"]);
          const b = await kv.get<number>(["counter"]);
          const first = await kv.atomic().check(a).set(["counter"], (a.value ?? 0) + 1).commit();
          const second = await kv.atomic().check(b).set(["counter"], (b.value ?? 0) + 1).commit();
          assert.ok(first.ok);
          assert.deepStrictEqual(second, { ok: false });
          assert.equal((await kv.get(["counter"])).value, 1);
        }),
      );

      it(
        "applies mutations of one key in order",
        withKv(async (kv) => {
          assert.ok((await kv.atomic().set(["o", 1], "x").delete(["o", 1]).commit()).ok);
          assert.equal((await kv.get(["o", 1])).value, null);
          assert.ok((await kv.atomic().delete(["o", 2]).set(["o", 2], "y").commit()).ok);
          assert.equal((await kv.get(["o", 2])).value, "y");
          assert.ok((await kv.atomic().set(["o", 3], "a").set(["o", 3], "b").commit()).ok);
          assert.equal((await kv.get(["o", 3])).value, "b");
        }),
      );

      it(
        "sum adds to a bigint, treating a missing key as 0n",
        withKv(async (kv) => {
          assert.ok((await kv.atomic().sum(["s"], 5n).commit()).ok);
          assert.equal((await kv.get(["s"])).value, 5n);
          await kv.atomic().sum(["s"], -7n).commit();
          assert.equal((await kv.get(["s"])).value, -2n);
          await kv.set(["big"], 2n ** 70n);
          await kv.atomic().sum(["big"], 1n).sum(["big"], 1n).commit();
          assert.equal((await kv.get(["big"])).value, 2n ** 70n + 2n);
          const res = await kv.atomic().set(["t"], 10n).sum(["t"], 5n).commit();
          assert.ok(res.ok);
          assert.deepStrictEqual(await kv.get(["t"]), {
            key: ["t"],
            value: 15n,
            versionstamp: res.versionstamp,
          });
        }),
      );

      it(
        "sum over a non-bigint rejects and applies nothing",
        withKv(async (kv) => {
          const before = await kv.set(["s"], "text");
          await assert.rejects(
            () => kv.atomic().set(["other"], 1).sum(["s"], 1n).commit(),
            TypeError,
          );
          assert.equal((await kv.get(["other"])).value, null);
          assert.deepStrictEqual(await kv.get(["s"]), {
            key: ["s"],
            value: "text",
            versionstamp: before.versionstamp,
          });
          await assert.rejects(async () => {
            await kv.atomic().sum(["s"], 1 as unknown as bigint).commit();
          }, TypeError);
        }),
      );

      it(
        "rejects invalid check versionstamps with a TypeError",
        withKv(async (kv) => {
          for (
            const versionstamp of ["abc", "0".repeat(19), "G".repeat(20), 5 as unknown as string]
          ) {
            await assert.rejects(async () => {
              await kv.atomic().check({ key: ["k"], versionstamp }).commit();
            }, TypeError);
          }
        }),
      );
      it(
        "onApplied: once, before commit() resolves, with its versionstamp; never on a failed check",
        withKv(async (kv) => {
          const heard: { versionstamp: string; final: boolean; settled: boolean }[] = [];
          let settled = false;
          const res = await kv.atomic().set(["oa"], 1).commit({
            onApplied: (r, final) => heard.push({ versionstamp: r.versionstamp, final, settled }),
          }).finally(() => (settled = true));
          assert.ok(res.ok);
          assert.equal(heard.length, 1);
          assert.equal(heard[0].versionstamp, res.versionstamp);
          assert.equal(heard[0].settled, false, "told before the commit resolved");
          assert.equal(typeof heard[0].final, "boolean");
          await kv.set(["oa"], 2); // res.versionstamp is stale now
          const failed = await kv.atomic().check({ key: ["oa"], versionstamp: res.versionstamp })
            .set(["oa"], 3).commit({ onApplied: () => assert.fail("told about a failed commit") });
          assert.deepStrictEqual(failed, { ok: false });
        }),
      );
    });

    describe("versionstamps", () => {
      it(
        "strictly increase with every write",
        withKv(async (kv) => {
          const stamps: string[] = [];
          stamps.push((await kv.set(["a"], 1)).versionstamp);
          stamps.push((await kv.set(["b"], 1)).versionstamp);
          const r = await kv.atomic().set(["a"], 2).commit();
          assert.ok(r.ok);
          stamps.push(r.versionstamp);
          await kv.delete(["a"]);
          stamps.push((await kv.set(["a"], 3)).versionstamp);
          const s = await kv.atomic().sum(["n"], 1n).commit();
          assert.ok(s.ok);
          stamps.push(s.versionstamp);
          for (const vs of stamps) assert.match(vs, VERSIONSTAMP);
          for (let i = 1; i < stamps.length; i++) {
            assert.ok(stamps[i] > stamps[i - 1], `${stamps[i]} > ${stamps[i - 1]}`);
          }
        }),
      );

      it(
        "a failed check does not consume the store's order",
        withKv(async (kv) => {
          const a = await kv.set(["a"], 1);
          await kv.atomic().check({ key: ["a"], versionstamp: null }).set(["a"], 2).commit();
          const b = await kv.set(["b"], 1);
          assert.ok(b.versionstamp > a.versionstamp);
        }),
      );
    });

    describe("invalid keys", () => {
      it(
        "the empty key is rejected by get, set, delete and atomic",
        withKv(async (kv) => {
          await assert.rejects(() => kv.get([]), TypeError);
          await assert.rejects(() => kv.set([], 1), TypeError);
          await assert.rejects(() => kv.delete([]), TypeError);
          await assert.rejects(() => kv.getMany([["ok"], []]), TypeError);
          await assert.rejects(async () => {
            await kv.atomic().set([], 1).commit();
          }, TypeError);
          await assert.rejects(async () => {
            await kv.atomic().check({ key: [], versionstamp: null }).commit();
          }, TypeError);
        }),
      );

      it(
        "an oversized key is rejected on write",
        withKv(async (kv) => {
          await assert.rejects(() => kv.set(["x".repeat(3000)], 1), TypeError);
          assert.deepStrictEqual(await listKeys(kv, { prefix: [] }), []);
        }),
      );

      for (const [label, key] of BAD_KEYS) {
        it(
          `a key with ${label} is rejected everywhere`,
          withKv(async (kv) => {
            const k = key as KvKey;
            await assert.rejects(() => kv.set(k, 1), TypeError, "set");
            await assert.rejects(() => kv.get(k), TypeError, "get");
            await assert.rejects(() => kv.getMany([k]), TypeError, "getMany");
            await assert.rejects(() => kv.delete(k), TypeError, "delete");
            for (
              const build of [
                () => kv.atomic().set(k, 1),
                () => kv.atomic().delete(k),
                () => kv.atomic().sum(k, 1n),
                () => kv.atomic().check({ key: k, versionstamp: null }),
              ]
            ) {
              await assert.rejects(
                async () => {
                  await build().commit();
                },
                TypeError,
                "atomic",
              );
            }
            await assert.rejects(() => listKeys(kv, { prefix: k }), TypeError, "list");
            assert.deepStrictEqual(await listKeys(kv, { prefix: [] }), []);
          }),
        );
      }
    });

    describe("lifecycle", () => {
      it(
        "ping resolves while open",
        withKv(async (kv) => {
          await kv.ping();
          await kv.set(["a"], 1);
          await kv.ping();
        }),
      );

      it(
        "after close every call rejects, and closing again is harmless",
        withKv(async (kv) => {
          await kv.set(["a"], 1);
          await kv.close();
          await assert.rejects(() => kv.ping());
          await assert.rejects(() => kv.get(["a"]));
          await assert.rejects(() => kv.set(["a"], 2));
          await assert.rejects(() => kv.delete(["a"]));
          await assert.rejects(() => kv.getMany([["a"]]));
          await assert.rejects(() => kv.atomic().set(["a"], 3).commit());
          await assert.rejects(() => listKeys(kv, { prefix: [] }));
          await kv.close();
        }),
      );

      it(
        "durable stores keep data and versionstamps across close and reopen",
        withKv(async (kv, harness) => {
          if (!kv.capabilities.durable) return;
          assert.ok(harness.reopen, "a durable store's harness must provide reopen()");
          const a = await kv.set(["p", 1], { text: "kept" });
          const b = await kv.atomic().set(["p", 2], new Uint8Array([1, 2])).sum(["p", "n"], 3n)
            .commit();
          assert.ok(b.ok);
          const again = await harness.reopen();
          assert.deepStrictEqual(await collect(again, { prefix: ["p"] }), [
            { key: ["p", "n"], value: 3n, versionstamp: b.versionstamp },
            { key: ["p", 1], value: { text: "kept" }, versionstamp: a.versionstamp },
            { key: ["p", 2], value: new Uint8Array([1, 2]), versionstamp: b.versionstamp },
          ]);
          const c = await again.set(["p", 3], 1);
          assert.ok(c.versionstamp > b.versionstamp, "versionstamps keep increasing after reopen");
        }),
      );
    });

    describe("shared stores", () => {
      it(
        "two handles see each other's writes",
        withKv(async (kv, harness) => {
          if (!kv.capabilities.sharedAcrossProcesses) return;
          assert.ok(harness.openAnother, "a shared store's harness must provide openAnother()");
          const other = await harness.openAnother();
          const a = await kv.set(["x", "from-a"], 1);
          const b = await other.set(["x", "from-b"], 2);
          assert.deepStrictEqual(await other.get(["x", "from-a"]), {
            key: ["x", "from-a"],
            value: 1,
            versionstamp: a.versionstamp,
          });
          assert.deepStrictEqual(await kv.get(["x", "from-b"]), {
            key: ["x", "from-b"],
            value: 2,
            versionstamp: b.versionstamp,
          });
          await other.delete(["x", "from-a"]);
          assert.deepStrictEqual(await listKeys(kv, { prefix: ["x"] }), [["x", "from-b"]]);
        }),
      );

      it(
        "two handles never hand out the same versionstamp",
        withKv(async (kv, harness) => {
          if (!kv.capabilities.sharedAcrossProcesses) return;
          assert.ok(harness.openAnother, "a shared store's harness must provide openAnother()");
          const other = await harness.openAnother();
          const stamps: string[] = [];
          for (let i = 0; i < 50; i++) {
            const [x, y] = await Promise.all([
              kv.set(["v", "a", i], i),
              other.set(["v", "b", i], i),
            ]);
            stamps.push(x.versionstamp, y.versionstamp);
            const z = await (i % 2 ? kv : other).atomic().sum(["v", "n"], 1n).commit();
            assert.ok(z.ok);
            stamps.push(z.versionstamp);
          }
          assert.equal(new Set(stamps).size, stamps.length);
          assert.equal((await kv.get(["v", "n"])).value, 50n);
          const last = await kv.set(["v", "last"], 1);
          for (const vs of stamps) assert.ok(last.versionstamp > vs);
        }),
      );

      it(
        "checks conflict across handles",
        withKv(async (kv, harness) => {
          if (!kv.capabilities.sharedAcrossProcesses) return;
          assert.ok(harness.openAnother, "a shared store's harness must provide openAnother()");
          const other = await harness.openAnother();
          await kv.set(["acct"], 100);
          const seenByA = await kv.get<number>(["acct"]);
          const seenByB = await other.get<number>(["acct"]);
          assert.equal(seenByA.versionstamp, seenByB.versionstamp);
          assert.ok((await other.atomic().check(seenByB).set(["acct"], 50).commit()).ok);
          assert.deepStrictEqual(await kv.atomic().check(seenByA).set(["acct"], 70).commit(), {
            ok: false,
          });
          const fresh = await kv.get<number>(["acct"]);
          assert.equal(fresh.value, 50);
          assert.ok((await kv.atomic().check(fresh).set(["acct"], 20).commit()).ok);
          assert.equal((await other.get(["acct"])).value, 20);
          // Both racing to create the same key: exactly one wins.
          const results = [
            await kv.atomic().check({ key: ["nick", "ada"], versionstamp: null }).set([
              "nick",
              "ada",
            ], "a").commit(),
            await other.atomic().check({ key: ["nick", "ada"], versionstamp: null }).set([
              "nick",
              "ada",
            ], "b").commit(),
          ];
          assert.deepStrictEqual(results.map((r) => r.ok), [true, false]);
        }),
      );
    });
  });
}
