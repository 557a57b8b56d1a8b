/**
 * Codec properties checked against independent reference implementations, with seeded
 * random inputs (failures print the seed-determined case).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KvKey, KvKeyPart, KvValue } from "../../src/kv/kv.ts";
import { compareBytes, decodeKey, encodeKey } from "../../src/kv/key-codec.ts";
import { decodeValue, encodeValue } from "../../src/kv/value-codec.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utf8 = new TextEncoder();
const TYPE_RANK = (p: KvKeyPart): number =>
  p instanceof Uint8Array
    ? 0
    : typeof p === "string"
    ? 1
    : typeof p === "number"
    ? 2
    : typeof p === "bigint"
    ? 3
    : 4;

/** Deno KV's documented tuple order, written directly rather than via bytes. */
function comparePart(a: KvKeyPart, b: KvKeyPart): number {
  const ta = TYPE_RANK(a);
  const tb = TYPE_RANK(b);
  if (ta !== tb) return ta - tb;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  if (typeof a === "string" && typeof b === "string") {
    return compareBytes(utf8.encode(a), utf8.encode(b));
  }
  if (typeof a === "number" && typeof b === "number") {
    if (a !== b) return a < b ? -1 : 1;
    return Object.is(a, -0) === Object.is(b, -0) ? 0 : Object.is(a, -0) ? -1 : 1;
  }
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  return Number(a) - Number(b);
}

function compareTuple(a: KvKey, b: KvKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = comparePart(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function randomPart(r: () => number): KvKeyPart {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  switch (Math.floor(r() * 5)) {
    case 0:
      return new Uint8Array(
        Array.from({ length: Math.floor(r() * 4) }, () => pick([0, 1, 0xfe, 0xff, 0x7f])),
      );
    case 1:
      return Array.from(
        { length: Math.floor(r() * 4) },
        () => pick(["\u0000", "a", "b", "é", "\uffff", "😀", "\u00ff"]),
      )
        .join("");
    case 2:
      return pick([
        0,
        -0,
        1,
        -1,
        0.5,
        -0.5,
        1e-300,
        -1e-300,
        2 ** 53,
        -(2 ** 53),
        Infinity,
        -Infinity,
        r() * 1e6 - 5e5,
      ]);
    case 3:
      return pick([
        0n,
        1n,
        -1n,
        255n,
        -255n,
        256n,
        -256n,
        2n ** 64n,
        -(2n ** 64n),
        2n ** 64n - 1n,
        2n ** 200n,
        -(2n ** 200n),
      ]) +
        BigInt(Math.floor(r() * 3) - 1);
    default:
      return r() < 0.5;
  }
}

function randomKey(r: () => number): KvKey {
  return Array.from({ length: 1 + Math.floor(r() * 3) }, () => randomPart(r));
}

function randomValue(r: () => number, depth = 0): KvValue {
  const kind = Math.floor(r() * (depth > 3 ? 7 : 9));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return [
        0,
        -0,
        NaN,
        Infinity,
        1.5,
        -(2 ** 52),
        2 ** 52,
        2 ** 52 + 2,
        Math.floor(r() * 1e12) - 5e11,
        r(),
      ][Math.floor(r() * 10)];
    case 3:
      return [
        "",
        "a",
        "héllo",
        "\ud800",
        "x".repeat(Math.floor(r() * 300)),
        "日本".repeat(Math.floor(r() * 60)),
      ][Math.floor(r() * 6)];
    case 4:
      return BigInt(Math.floor(r() * 1e9) - 5e8) * (r() < 0.3 ? 2n ** 100n : 1n);
    case 5:
      return new Uint8Array(
        Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)),
      );
    case 6:
      return "s" + Math.floor(r() * 100);
    case 7:
      return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, KvValue> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) {
        o[["id", "text", "ü", "", "k" + i][i % 5]] = randomValue(r, depth + 1);
      }
      return o;
    }
  }
}

describe("key codec", () => {
  it("round-trips random keys", () => {
    const r = rng(1);
    for (let i = 0; i < 3000; i++) {
      const key = randomKey(r);
      assert.deepStrictEqual(decodeKey(encodeKey(key)), key);
    }
  });

  it("byte order of encodings equals tuple order (random pairs)", () => {
    const r = rng(2);
    for (let i = 0; i < 5000; i++) {
      const a = randomKey(r);
      const b = r() < 0.2 ? [...a, randomPart(r)] : randomKey(r);
      const expected = Math.sign(compareTuple(a, b));
      assert.equal(
        Math.sign(compareBytes(encodeKey(a), encodeKey(b))),
        expected,
        `${String(a)} vs ${String(b)}`,
      );
    }
  });

  it("a tuple's encoding prefixes exactly the encodings of its extensions", () => {
    const r = rng(3);
    for (let i = 0; i < 1000; i++) {
      const a = randomKey(r);
      const enc = encodeKey(a);
      const ext = encodeKey([...a, randomPart(r)]);
      assert.deepStrictEqual(ext.subarray(0, enc.length), enc);
    }
  });

  it("uses the documented layout", () => {
    assert.deepStrictEqual(
      encodeKey(["hello"]),
      new Uint8Array([0x02, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00]),
    );
    assert.deepStrictEqual(
      encodeKey([new Uint8Array([1, 0, 2])]),
      new Uint8Array([0x01, 1, 0, 0xff, 2, 0x00]),
    );
    assert.deepStrictEqual(
      encodeKey([0n, 1n, -1n]),
      new Uint8Array([0x34, 0x35, 0x01, 0x33, 0xfe]),
    );
    assert.deepStrictEqual(encodeKey([false, true]), new Uint8Array([0x46, 0x47]));
    assert.deepStrictEqual(encodeKey([1]), new Uint8Array([0x21, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0]));
    assert.deepStrictEqual(encodeKey([]), new Uint8Array([]));
  });

  it("rejects malformed encodings", () => {
    for (const bad of [[0x02, 0x61], [0x21, 0x01], [0x99], [0x3d], [0x35]]) {
      assert.throws(() => decodeKey(new Uint8Array(bad)), TypeError);
    }
  });
});

describe("value codec", () => {
  it("round-trips random values", () => {
    const r = rng(4);
    for (let i = 0; i < 3000; i++) {
      const v = randomValue(r);
      assert.deepStrictEqual(decodeValue(encodeValue(v)), v);
    }
  });

  it("stores a top-level Uint8Array as one tag byte plus the raw bytes", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    assert.deepStrictEqual(encodeValue(bytes), new Uint8Array([0x0c, 1, 2, 3]));
  });

  it("is compact for typical chat messages", () => {
    const msg = {
      id: "01J9ZK3",
      from: "ada",
      to: "#general",
      text: "hello there",
      ts: 1_764_000_000_123,
    };
    const json = new TextEncoder().encode(JSON.stringify(msg)).length;
    assert.ok(encodeValue(msg).length < json, `${encodeValue(msg).length} < ${json}`);
  });

  it("rejects corrupt bytes with a TypeError", () => {
    for (const bad of [[], [0x05, 0x05, 0x61], [0x99], [0x00, 0x00], [0x0b, 0x01, 0x00, 0x00]]) {
      assert.throws(() => decodeValue(new Uint8Array(bad)), TypeError, JSON.stringify(bad));
    }
  });
});
