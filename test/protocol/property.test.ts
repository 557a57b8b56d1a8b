import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeFrame,
  decodePayload,
  encode,
  FrameDecoder,
  type Payload,
  ProtocolError,
} from "../../src/protocol/mod.ts";

const text = fc.string({ unit: "binary", maxLength: 40 });
const u8 = fc.integer({ min: 0, max: 255 });
/** Milliseconds: at or above the seconds threshold, so decode keeps them as they are. */
const ms = fc.integer({ min: 100_000_000_000, max: Number.MAX_SAFE_INTEGER });
const counter = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 200 });

const payload: fc.Arbitrary<Payload> = fc.oneof(
  fc.constant<Payload>({ type: 0x01 }),
  u8.map((code): Payload => ({ type: 0x02, code })),
  fc.tuple(u8, u8, u8).map(([major, minor, connType]): Payload => ({
    type: 0x03,
    major,
    minor,
    connType,
  })),
  fc.tuple(text, text).map(([username, password]): Payload => ({ type: 0x04, username, password })),
  fc.tuple(text, text, ms, fc.string({ unit: "binary", maxLength: 2000 })).map((
    [source, target, timestamp, content],
  ): Payload => ({ type: 0x05, source, target, timestamp, content })),
  text.map((name): Payload => ({ type: 0x06, name })),
  fc.tuple(text, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), bytes).map((
    [name, ts, signature],
  ): Payload => ({ type: 0x06, name, ts, signature })),
  fc.tuple(text, text, u8).map(([user, channel, mode]): Payload => ({
    type: 0x07,
    user,
    channel,
    mode,
  })),
  fc.tuple(text, fc.oneof(fc.constant(0), ms), counter, counter).map((
    [target, since, count, offset],
  ): Payload => ({ type: 0x08, target, since, count, offset })),
  fc.tuple(counter, counter).map(([count, offset]): Payload => ({ type: 0x09, count, offset })),
  text.map((address): Payload => ({ type: 0x10, address })),
  bytes.map((data): Payload => ({ type: 0xff, data })),
);

function decodeOrProtocolError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    assert.equal(e.code, 0x80);
  }
}

describe("codec properties", () => {
  it("random valid payloads round-trip through encode and decode", () => {
    fc.assert(
      fc.property(payload, (p) => {
        assert.deepEqual(decodeFrame(encode(p)), p);
      }),
      { numRuns: 2000 },
    );
  });

  it("random valid payloads round-trip through the stream decoder in random chunks", () => {
    fc.assert(
      fc.property(
        fc.array(payload, { maxLength: 20 }),
        fc.integer({ min: 1, max: 64 }),
        (ps, size) => {
          const stream = ps.map(encode);
          const all = new Uint8Array(stream.reduce((n, f) => n + f.length, 0));
          let at = 0;
          for (const f of stream) {
            all.set(f, at);
            at += f.length;
          }
          const d = new FrameDecoder({ maxPayload: 65535 });
          const out: Payload[] = [];
          for (let i = 0; i < all.length; i += size) {
            d.push(all.subarray(i, i + size));
            for (let t = d.next(); t !== -1; t = d.next()) out.push(decodePayload(t, d.payload));
          }
          assert.deepEqual(out, ps);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("random byte strings either decode or raise ProtocolError 0x80, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        decodeOrProtocolError(() => decodeFrame(b));
        if (b.length > 0) decodeOrProtocolError(() => decodePayload(b[0], b.subarray(1)));
      }),
      { numRuns: 5000 },
    );
  });

  it("random byte streams through the stream decoder end or raise ProtocolError, never hang", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 1, max: 50 }),
        (b, size) => {
          const d = new FrameDecoder({ maxPayload: 512 });
          decodeOrProtocolError(() => {
            for (let i = 0; i < b.length; i += size) {
              d.push(b.subarray(i, i + size));
              // Each next() consumes input or returns -1, so this loop is bounded.
              for (let t = d.next(); t !== -1; t = d.next()) decodePayload(t, d.payload);
            }
          });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("mutated valid frames decode or raise ProtocolError", () => {
    fc.assert(
      fc.property(payload, fc.nat(), u8, (p, where, value) => {
        const f = encode(p);
        f[where % f.length] = value;
        decodeOrProtocolError(() => decodeFrame(f));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("encoder bounds", () => {
  it("refuses strings over 65535 bytes and payloads over 65535 bytes", () => {
    assert.throws(() => encode({ type: 0x10, address: "x".repeat(65536) }), RangeError);
    assert.throws(
      () => encode({ type: 0x04, username: "x".repeat(40000), password: "y".repeat(40000) }),
      RangeError,
    );
  });

  it("refuses out-of-range integers", () => {
    assert.throws(() => encode({ type: 0x02, code: 256 }), RangeError);
    assert.throws(() => encode({ type: 0x09, count: -1, offset: 0 }), RangeError);
    assert.throws(() => encode({ type: 0x09, count: 1.5, offset: 0 }), RangeError);
    assert.throws(
      () => encode({ type: 0x05, source: "a", target: "b", timestamp: 2 ** 60, content: "" }),
      RangeError,
    );
  });

  it("encodes a lone surrogate as U+FFFD like TextEncoder, with a correct length", () => {
    const f = encode({ type: 0x10, address: "a\uD800b" });
    assert.deepEqual(decodeFrame(f), { type: 0x10, address: "a\uFFFDb" });
  });
});
