/**
 * The test vectors of spec §8, verbatim (hex, header included), with the
 * payload each one must decode to.
 */
import type { Payload } from "../../src/protocol/mod.ts";

export interface Vector {
  readonly name: string;
  readonly hex: string;
  readonly payload: Payload;
}

const te = new TextEncoder();

export const VECTORS: readonly Vector[] = [
  { name: "Success", hex: "01 00 00", payload: { type: 0x01 } },
  { name: "Error 0x01", hex: "02 00 01 01", payload: { type: 0x02, code: 0x01 } },
  {
    name: "Handshake greeting 0.2",
    hex: "03 00 03 00 02 00",
    payload: { type: 0x03, major: 0, minor: 2, connType: 0 },
  },
  {
    name: "Handshake 0.2 user->server",
    hex: "03 00 03 00 02 01",
    payload: { type: 0x03, major: 0, minor: 2, connType: 1 },
  },
  {
    name: "Handshake 0.2 server->server",
    hex: "03 00 03 00 02 02",
    payload: { type: 0x03, major: 0, minor: 2, connType: 2 },
  },
  {
    name: 'UserAuth "alice@a.test" "hunter2"',
    hex: `04 00 17 00 0C 61 6C 69 63 65 40 61 2E 74 65 73 74 00 07 68 75 6E 74 65 72 32`,
    payload: { type: 0x04, username: "alice@a.test", password: "hunter2" },
  },
  {
    name: 'Message alice@a.test -> bob@a.test, ts 1767225600000, "hi"',
    hex: `05 00 26 00 0C 61 6C 69 63 65 40 61 2E 74 65 73 74 00 0A 62 6F 62 40 61 2E
      74 65 73 74 00 00 01 9B 76 DA A8 00 00 02 68 69`,
    payload: {
      type: 0x05,
      source: "alice@a.test",
      target: "bob@a.test",
      timestamp: 1767225600000,
      content: "hi",
    },
  },
  {
    name: 'Message alice@a.test -> #dev@a.test, ts 1767225600000, "zażółć 👋"',
    hex: `05 00 34 00 0C 61 6C 69 63 65 40 61 2E 74 65 73 74 00 0B 23 64 65 76 40 61
      2E 74 65 73 74 00 00 01 9B 76 DA A8 00 00 0F 7A 61 C5 BC C3 B3 C5 82 C4 87
      20 F0 9F 91 8B`,
    payload: {
      type: 0x05,
      source: "alice@a.test",
      target: "#dev@a.test",
      timestamp: 1767225600000,
      content: "zażółć 👋",
    },
  },
  {
    name: "Usermode join alice@a.test #dev@a.test",
    hex: `07 00 1C 00 0C 61 6C 69 63 65 40 61 2E 74 65 73 74 00 0B 23 64 65 76 40 61
      2E 74 65 73 74 01`,
    payload: { type: 0x07, user: "alice@a.test", channel: "#dev@a.test", mode: 1 },
  },
  {
    name: "Usermode add contact alice@a.test bob@b.test",
    hex: `07 00 1B 00 0C 61 6C 69 63 65 40 61 2E 74 65 73 74 00 0A 62 6F 62 40 62 2E
      74 65 73 74 01`,
    payload: { type: 0x07, user: "alice@a.test", channel: "bob@b.test", mode: 1 },
  },
  {
    name: "History #dev@a.test since 0 count 100 offset 0",
    hex: `08 00 25 00 0B 23 64 65 76 40 61 2E 74 65 73 74 00 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 64 00 00 00 00 00 00 00 00`,
    payload: { type: 0x08, target: "#dev@a.test", since: 0, count: 100, offset: 0 },
  },
  {
    name: "List count 50 offset 0",
    hex: `09 00 10 00 00 00 00 00 00 00 32 00 00 00 00 00 00 00 00`,
    payload: { type: 0x09, count: 50, offset: 0 },
  },
  {
    name: "ListItem #dev@a.test",
    hex: "10 00 0D 00 0B 23 64 65 76 40 61 2E 74 65 73 74",
    payload: { type: 0x10, address: "#dev@a.test" },
  },
  {
    name: 'ServerAuth, upstream form "a.test"',
    hex: "06 00 08 00 06 61 2E 74 65 73 74",
    payload: { type: 0x06, name: "a.test" },
  },
  {
    name: "Test 01 02 03",
    hex: "FF 00 03 01 02 03",
    payload: { type: 0xff, data: new Uint8Array([1, 2, 3]) },
  },
];

/** Parses spec-style hex ("05 00 26 …", any whitespace) into bytes. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) {
    throw new Error(`bad hex: ${text}`);
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(" ");
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const utf8 = (s: string): Uint8Array => te.encode(s);
