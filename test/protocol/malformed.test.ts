import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeFrame,
  decodePayload,
  ErrorCode,
  FrameDecoder,
  ProtocolError,
} from "../../src/protocol/mod.ts";
import { hex } from "./vectors.ts";

interface Case {
  readonly name: string;
  readonly frame: string;
  readonly code: number;
  readonly message: RegExp;
}

/** Each malformed input and the error code it must produce. */
const CASES: readonly Case[] = [
  {
    name: "reserved type 0x00",
    frame: "00 00 00",
    code: 0x80,
    message: /reserved payload type 0x00/,
  },
  {
    name: "unknown type 0x0b",
    frame: "0B 00 00",
    code: 0x80,
    message: /unknown payload type 0x0b/,
  },
  { name: "unknown type 0x11", frame: "11 00 01 00", code: 0x80, message: /unknown/ },
  { name: "unknown type 0xfe", frame: "FE 00 00", code: 0x80, message: /unknown/ },
  { name: "Error without code", frame: "02 00 00", code: 0x80, message: /Error.*"code"/ },
  { name: "Handshake cut short", frame: "03 00 02 00 02", code: 0x80, message: /conn_type/ },
  { name: "UserAuth empty", frame: "04 00 00", code: 0x80, message: /"username"/ },
  {
    name: "UserAuth string longer than payload",
    frame: "04 00 04 00 05 61 62",
    code: 0x80,
    message: /"username"/,
  },
  {
    name: "UserAuth missing password",
    frame: "04 00 03 00 01 61",
    code: 0x80,
    message: /"password"/,
  },
  {
    name: "UserAuth invalid UTF-8 (lone continuation byte)",
    frame: "04 00 05 00 01 80 00 00",
    code: 0x80,
    message: /"username" is not valid UTF-8/,
  },
  {
    name: "UserAuth invalid UTF-8 (overlong encoding)",
    frame: "04 00 06 00 02 C0 AF 00 00",
    code: 0x80,
    message: /not valid UTF-8/,
  },
  {
    name: "Message invalid UTF-8 (surrogate half) in a long content",
    frame: "05 00 36 00 01 61 00 01 62 00 00 01 9B 76 DA A8 00 00 26 " +
      "61 ".repeat(35) + "ED A0 80",
    code: 0x80,
    message: /"content" is not valid UTF-8/,
  },
  {
    name: "Message without timestamp",
    frame: "05 00 06 00 01 61 00 01 62",
    code: 0x80,
    message: /"timestamp"/,
  },
  {
    name: "Message timestamp beyond 2^53",
    frame: "05 00 10 00 01 61 00 01 62 FF FF FF FF FF FF FF FF 00 00",
    code: 0x80,
    message: /"timestamp" exceeds/,
  },
  {
    name: "Message without content",
    frame: "05 00 0E 00 01 61 00 01 62 00 00 01 9B 76 DA A8 00",
    code: 0x80,
    message: /"content"/,
  },
  {
    name: "ServerAuth with a truncated timestamp",
    frame: "06 00 05 00 01 61 00 00",
    code: 0x80,
    message: /"ts"/,
  },
  {
    name: "ServerAuth with a timestamp but no signature",
    frame: "06 00 0B 00 01 61 00 00 01 9B 76 DA A8 00",
    code: 0x80,
    message: /"signature"/,
  },
  {
    name: "ServerAuth signature longer than payload",
    frame: "06 00 0D 00 01 61 00 00 01 9B 76 DA A8 00 00 40",
    code: 0x80,
    message: /"signature"/,
  },
  { name: "Usermode without mode", frame: "07 00 04 00 00 00 00", code: 0x80, message: /"mode"/ },
  {
    name: "History negative since",
    frame: "08 00 1A 00 00 FF FF FF FF FF FF FF FF 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00",
    code: 0x80,
    message: /"since" is negative/,
  },
  {
    name: "History negative count",
    frame: "08 00 1A 00 00 00 00 00 00 00 00 00 00 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    code: 0x80,
    message: /"count" is negative/,
  },
  {
    name: "History missing offset",
    frame: "08 00 12 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01",
    code: 0x80,
    message: /"offset"/,
  },
  {
    name: "List negative offset",
    frame: "09 00 10 00 00 00 00 00 00 00 01 FF FF FF FF FF FF FF FE",
    code: 0x80,
    message: /"offset" is negative/,
  },
  {
    name: "List cut short",
    frame: "09 00 08 00 00 00 00 00 00 00 01",
    code: 0x80,
    message: /"offset"/,
  },
  { name: "ListItem empty", frame: "10 00 00", code: 0x80, message: /"address"/ },
];

function codeOf(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${e}`);
    return { code: e.code, message: e.message };
  }
  assert.fail("no error raised");
}

describe("malformed frames", () => {
  for (const c of CASES) {
    it(`${c.name} → 0x${c.code.toString(16)}`, () => {
      const bytes = hex(c.frame);
      assert.equal(((bytes[1] << 8) | bytes[2]) + 3, bytes.length, "case frame length");
      const viaFrame = codeOf(() => decodeFrame(bytes));
      assert.equal(viaFrame.code, c.code);
      assert.match(viaFrame.message, c.message);
      // The stream decoder agrees: unknown types are refused from the header.
      const d = new FrameDecoder({ maxPayload: 65535 });
      d.push(bytes);
      const viaStream = codeOf(() => decodePayload(d.next(), d.payload));
      assert.equal(viaStream.code, c.code);
    });
  }

  it("refuses an oversized frame from its header alone, before its payload arrives", () => {
    const d = new FrameDecoder({ maxPayload: 8192 });
    d.push(hex("05 20 01"));
    const e = codeOf(() => d.next());
    assert.equal(e.code, ErrorCode.ProtocolViolation);
    assert.match(e.message, /8193-byte payload, the limit is 8192/);
  });

  it("refuses an oversized frame whose header is split across chunks", () => {
    const d = new FrameDecoder({ maxPayload: 10 });
    d.push(hex("05"));
    assert.equal(d.next(), -1);
    d.push(hex("00"));
    assert.equal(d.next(), -1);
    d.push(hex("0B"));
    assert.equal(codeOf(() => d.next()).code, 0x80);
  });

  it("accepts a frame exactly at the limit", () => {
    const d = new FrameDecoder({ maxPayload: 4 });
    d.push(hex("FF 00 04 01 02 03 04"));
    assert.equal(d.next(), 0xff);
    assert.equal(d.payload.length, 4);
  });

  it("refuses an unknown type from the header before buffering its payload", () => {
    const d = new FrameDecoder({ maxPayload: 65535 });
    d.push(hex("42 FF FF"));
    assert.match(codeOf(() => d.next()).message, /unknown payload type 0x42/);
  });

  it("rejects frames whose length does not match the header in decodeFrame", () => {
    assert.equal(codeOf(() => decodeFrame(hex("01 00"))).code, 0x80);
    assert.equal(codeOf(() => decodeFrame(hex("01 00 01"))).code, 0x80);
    assert.equal(codeOf(() => decodeFrame(hex("01 00 00 00"))).code, 0x80);
  });

  it("rejects invalid maxPayload settings", () => {
    assert.throws(() => new FrameDecoder({ maxPayload: 70000 }), RangeError);
    assert.throws(() => new FrameDecoder({ maxPayload: -1 }), RangeError);
  });
});

describe("lenient where the spec says so", () => {
  it("ignores bytes after the last field (a later minor version may append fields)", () => {
    assert.deepEqual(decodeFrame(hex("03 00 05 00 02 01 AA BB")), {
      type: 3,
      major: 0,
      minor: 2,
      connType: 1,
    });
    assert.deepEqual(decodeFrame(hex("01 00 02 AA BB")), { type: 1 });
  });

  it("normalises timestamps in seconds to milliseconds", () => {
    // 1767225600 s = 2026-01-01T00:00:00Z
    const p = decodeFrame(hex("05 00 10 00 01 61 00 01 62 00 00 00 00 69 55 B9 00 00 00"));
    assert.equal(p.type, 5);
    if (p.type === 5) assert.equal(p.timestamp, 1767225600000);
    const h = decodeFrame(
      hex("08 00 1A 00 00 00 00 00 00 69 55 B9 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00"),
    );
    if (h.type === 8) assert.equal(h.since, 1767225600000);
  });

  it("keeps a timestamp of 1e11 and above as milliseconds", () => {
    // 100000000000 = 0x174876E800
    const p = decodeFrame(hex("05 00 10 00 01 61 00 01 62 00 00 00 17 48 76 E8 00 00 00"));
    if (p.type === 5) assert.equal(p.timestamp, 100_000_000_000);
  });

  it("clamps int64 counters beyond 2^53 instead of overflowing", () => {
    const p = decodeFrame(hex("09 00 10 7F FF FF FF FF FF FF FF 00 00 00 00 00 00 00 00"));
    assert.deepEqual(p, { type: 9, count: Number.MAX_SAFE_INTEGER, offset: 0 });
  });

  it("keeps a leading U+FEFF in strings (it is content, not a byte-order mark)", () => {
    const p = decodeFrame(hex("10 00 05 00 03 EF BB BF"));
    assert.deepEqual(p, { type: 0x10, address: "\uFEFF" });
  });

  it("decodes ServerAuth with the signature extension as a view", () => {
    const frame = hex("06 00 0F 00 01 61 00 00 01 9B 76 DA A8 00 00 02 AB CD");
    const p = decodeFrame(frame);
    assert.equal(p.type, 6);
    if (p.type !== 6) return;
    assert.equal(p.name, "a");
    assert.equal(p.ts, 1767225600000);
    assert.deepEqual(p.signature, new Uint8Array([0xab, 0xcd]));
    assert.equal(p.signature?.buffer, frame.buffer);
  });
});
