import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeFrame, encode, FrameDecoder } from "../../src/protocol/mod.ts";
import { hex, toHex, VECTORS } from "./vectors.ts";

describe("spec §8 test vectors", () => {
  for (const v of VECTORS) {
    it(`decodes ${v.name} to the fields as written`, () => {
      assert.deepEqual(decodeFrame(hex(v.hex)), v.payload);
    });
    it(`encodes ${v.name} byte-identically`, () => {
      assert.equal(toHex(encode(v.payload)), toHex(hex(v.hex)));
    });
    it(`frames ${v.name} through the stream decoder`, () => {
      const d = new FrameDecoder({ maxPayload: 65535 });
      const bytes = hex(v.hex);
      d.push(bytes);
      assert.equal(d.next(), bytes[0]);
      assert.equal(toHex(d.payload), toHex(bytes.subarray(3)));
      assert.equal(d.next(), -1);
    });
  }

  it("decodes binary fields as views into the input, not copies", () => {
    const frame = hex("FF 00 03 01 02 03");
    const p = decodeFrame(frame);
    assert.equal(p.type, 0xff);
    if (p.type !== 0xff) return;
    assert.equal(p.data.buffer, frame.buffer);
    frame[3] = 9;
    assert.equal(p.data[0], 9);
  });
});
