import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodePayload, FrameDecoder, type Payload } from "../../src/protocol/mod.ts";
import { setRangeCopies } from "../../src/alloc.ts";
import { concat, hex, VECTORS } from "./vectors.ts";

function decodeInChunks(stream: Uint8Array, size: number): Payload[] {
  const d = new FrameDecoder({ maxPayload: 65535 });
  const out: Payload[] = [];
  for (let at = 0; at < stream.length; at += size) {
    d.push(stream.subarray(at, at + size));
    for (let t = d.next(); t !== -1; t = d.next()) out.push(decodePayload(t, d.payload));
  }
  assert.equal(d.buffered, 0);
  return out;
}

describe("stream splitting", () => {
  const stream = concat(VECTORS.map((v) => hex(v.hex)));
  const expected = VECTORS.map((v) => v.payload);

  it("yields every frame, in order, for every chunk size from 1 byte to the whole stream", () => {
    for (let size = 1; size <= stream.length; size++) {
      assert.deepEqual(decodeInChunks(stream, size), expected, `chunk size ${size}`);
    }
  });

  it("yields the same frames for random chunkings", () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let round = 0; round < 200; round++) {
      const d = new FrameDecoder({ maxPayload: 65535 });
      const out: Payload[] = [];
      for (let at = 0; at < stream.length;) {
        const size = 1 + Math.floor(rand() * 40);
        d.push(stream.subarray(at, at + size));
        for (let t = d.next(); t !== -1; t = d.next()) out.push(decodePayload(t, d.payload));
        at += size;
      }
      assert.deepEqual(out, expected);
    }
  });

  it("copies nothing for frames inside one chunk when range copies are off", () => {
    const was = setRangeCopies(false);
    try {
      const d = new FrameDecoder();
      d.push(stream);
      assert.notEqual(d.next(), -1);
      assert.equal(d.payload.buffer, stream.buffer);
    } finally {
      setRangeCopies(was);
    }
  });

  it("lets go of a drained chunk: the last payload is empty once next() says -1", () => {
    const was = setRangeCopies(false);
    try {
      const d = new FrameDecoder();
      const chunk = concat(VECTORS.slice(0, 2).map((v) => hex(v.hex)));
      d.push(chunk);
      assert.notEqual(d.next(), -1);
      assert.notEqual(d.next(), -1);
      assert.ok(d.payload.buffer === chunk.buffer, "a payload is a view into the chunk");
      assert.equal(d.next(), -1);
      assert.equal(d.payload.length, 0);
      assert.ok(d.payload.buffer !== chunk.buffer, "the chunk is no longer referenced");
      assert.equal(d.buffered, 0);
    } finally {
      setRangeCopies(was);
    }
  });

  it("handles a maximum-size frame fed one byte at a time", () => {
    const frame = new Uint8Array(3 + 65535);
    frame[0] = 0xff;
    frame[1] = 0xff;
    frame[2] = 0xff;
    for (let i = 3; i < frame.length; i++) frame[i] = i & 0xff;
    const d = new FrameDecoder({ maxPayload: 65535 });
    let got = -1;
    for (let i = 0; i < frame.length; i++) {
      d.push(frame.subarray(i, i + 1));
      const t = d.next();
      if (t !== -1) got = t;
    }
    assert.equal(got, 0xff);
    assert.deepEqual(d.payload, frame.subarray(3));
  });

  it("rejects a push before the previous chunk is drained", () => {
    const d = new FrameDecoder();
    d.push(hex("01 00 00 01 00 00"));
    assert.equal(d.next(), 1);
    assert.throws(() => d.push(hex("01 00 00")), /before next\(\)/);
  });
});
