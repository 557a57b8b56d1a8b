import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { byteRange, setRangeCopies } from "../../src/alloc.ts";
import { decodePayload, FrameDecoder, type Payload } from "../../src/protocol/mod.ts";
import { platform } from "../support/platform.ts";
import { concat, hex, VECTORS } from "./vectors.ts";

/** Whether `a` shares memory with `b`: a write through `b` shows in `a`. */
function aliases(a: Uint8Array, b: Uint8Array, at: number): boolean {
  const before = a[0];
  b[at] ^= 0xff;
  const shared = a[0] !== before;
  b[at] ^= 0xff;
  return shared;
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

describe("byteRange", () => {
  // The runtime adapter's choice (imported above) is what every other test runs with.
  const adapterChoice = platform.runtime === "bun";
  after(() => setRangeCopies(adapterChoice));

  it("follows the runtime adapter: copies on Bun, views on Deno", () => {
    const source = bytes(64);
    assert.equal(aliases(byteRange(source, 8, 24), source, 8), !adapterChoice);
  });

  it("is a view into the source when copies are off", () => {
    setRangeCopies(false);
    const source = bytes(64);
    const range = byteRange(source, 8, 24);
    assert.deepEqual([...range], [...source.subarray(8, 24)]);
    assert.equal(aliases(range, source, 8), true);
  });

  it("is a copy of a small range when copies are on, and a view of a large one", () => {
    setRangeCopies(true);
    const source = bytes(4096);
    const small = byteRange(source, 8, 1032);
    assert.equal(small.length, 1024);
    assert.deepEqual([...small], [...source.subarray(8, 1032)]);
    assert.equal(aliases(small, source, 8), false);
    const large = byteRange(source, 8, 1033);
    assert.equal(large.length, 1025);
    assert.equal(aliases(large, source, 8), true);
  });

  for (const copies of [false, true]) {
    it(`lets the frame decoder decode every test vector with copies ${copies ? "on" : "off"}`, () => {
      setRangeCopies(copies);
      const stream = concat(VECTORS.map((v) => hex(v.hex)));
      const d = new FrameDecoder({ maxPayload: 65535 });
      d.push(stream);
      const out: Payload[] = [];
      const payloads: Uint8Array[] = [];
      for (let t = d.next(); t !== -1; t = d.next()) {
        payloads.push(d.payload);
        out.push(decodePayload(t, d.payload));
      }
      assert.deepEqual(out, VECTORS.map((v) => v.payload));
      // A copied payload keeps its bytes when the chunk it came from is overwritten.
      const first = payloads.find((p) => p.some((b) => b !== 0)) as Uint8Array;
      const saved = [...first];
      stream.fill(0);
      assert.equal(first.every((b, i) => b === saved[i]), copies);
    });
  }
});
