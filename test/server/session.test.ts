/**
 * Client session protocol (spec §6) over real loopback TCP: greeting,
 * handshake, login, Test echo, and every malformed / out-of-state case
 * answered with the right Error and a close, while other connections carry on.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode, encodeMessage, type Payload } from "../../src/protocol/mod.ts";
import { RawClient } from "../support/raw-client.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { hex } from "../protocol/vectors.ts";

const HS_USER: Payload = { type: 0x03, major: 0, minor: 2, connType: 1 };
const auth = (username: string, password: string): Payload => ({ type: 0x04, username, password });

describe("client session", () => {
  let t: TestServer;
  let alice: string;
  before(async () => {
    t = await startServer({ authTimeoutMs: 600 });
    alice = await t.addUser("alice");
    await t.addUser("bob");
  });
  after(() => t.cleanup());

  async function loggedIn(): Promise<RawClient> {
    const c = await RawClient.connect(t.port);
    await c.send(HS_USER);
    await c.send(auth("alice", "pw-alice"));
    assert.deepEqual(await c.waitFrames(2), [
      { type: 0x03, major: 0, minor: 2, connType: 0 },
      { type: 0x01 },
    ]);
    return c;
  }

  it("greets with Handshake{0, 2, 0x00} as soon as a client connects", async () => {
    const c = await RawClient.connect(t.port);
    assert.deepEqual(await c.waitFrames(1), [{ type: 0x03, major: 0, minor: 2, connType: 0 }]);
    c.close();
  });

  it("logs in with a bare name or a full address, case-insensitive domain", async () => {
    for (const name of ["alice", alice, "alice@A.TEST"]) {
      const c = await RawClient.connect(t.port);
      await c.send(HS_USER);
      await c.send(auth(name, "pw-alice"));
      assert.deepEqual((await c.waitFrames(2))[1], { type: 0x01 }, name);
      c.close();
    }
  });

  it("works for a client that sends everything before reading the greeting", async () => {
    const c = await RawClient.connect(t.port);
    const frames = [HS_USER, auth("alice", "pw-alice"), { type: 0xff, data: new Uint8Array([7]) }]
      .map((p) => encode(p as Payload));
    await c.send(new Uint8Array(frames.flatMap((f) => [...f])));
    const got = await c.waitFrames(3);
    assert.deepEqual(got.slice(1), [{ type: 0x01 }, { type: 0xff, data: new Uint8Array([7]) }]);
    c.close();
  });

  for (
    const [name, username, password] of [
      ["wrong password", "alice", "nope"],
      ["unknown user", "mallory", "pw"],
      ["invalid name", "Alice!", "pw"],
      ["another domain", "alice@b.test", "pw-alice"],
    ]
  ) {
    it(`answers ${name} with Error 0x01 and closes`, async () => {
      const c = await RawClient.connect(t.port);
      await c.send(HS_USER);
      await c.send(auth(username, password));
      assert.deepEqual((await c.waitFrames(2))[1], { type: 0x02, code: 0x01 });
      await c.waitClosed();
    });
  }

  it("answers an unsupported major version with 0x81 and closes", async () => {
    const c = await RawClient.connect(t.port);
    await c.send({ type: 0x03, major: 1, minor: 0, connType: 1 });
    assert.deepEqual((await c.waitFrames(2))[1], { type: 0x02, code: 0x81 });
    await c.waitClosed();
  });

  it("accepts another minor version (0.9)", async () => {
    const c = await RawClient.connect(t.port);
    await c.send({ type: 0x03, major: 0, minor: 9, connType: 1 });
    await c.send(auth("alice", "pw-alice"));
    assert.deepEqual((await c.waitFrames(2))[1], { type: 0x01 });
    c.close();
  });

  it("echoes Test frames, before and after login", async () => {
    const c = await RawClient.connect(t.port);
    await c.send(hex("FF 00 03 01 02 03"));
    assert.deepEqual((await c.waitFrames(2))[1], { type: 0xff, data: new Uint8Array([1, 2, 3]) });
    c.close();
    const d = await loggedIn();
    await d.send({ type: 0xff, data: new Uint8Array(0) });
    assert.deepEqual((await d.waitFrames(3))[2], { type: 0xff, data: new Uint8Array(0) });
    d.close();
  });

  it("ignores a Success from the client (no reply)", async () => {
    const c = await loggedIn();
    await c.send({ type: 0x01 });
    await c.send({ type: 0xff, data: new Uint8Array([9]) });
    assert.deepEqual((await c.waitFrames(3))[2], { type: 0xff, data: new Uint8Array([9]) });
    c.close();
  });

  it("closes a connection that does not finish handshake and login in time", async () => {
    const c = await RawClient.connect(t.port);
    await c.send(HS_USER);
    await c.waitClosed(3000);
    assert.equal(c.frames.length, 1);
  });

  interface Violation {
    name: string;
    loggedIn: boolean;
    bytes: Uint8Array;
  }
  const violations: Violation[] = [
    { name: "UserAuth before Handshake", loggedIn: false, bytes: encode(auth("alice", "x")) },
    { name: "Success before login", loggedIn: false, bytes: hex("01 00 00") },
    {
      name: "a server conn_type from a client port",
      loggedIn: false,
      bytes: hex("03 00 03 00 02 02"),
    },
    { name: "a second UserAuth", loggedIn: true, bytes: encode(auth("alice", "pw-alice")) },
    { name: "a second Handshake", loggedIn: true, bytes: encode(HS_USER) },
    {
      name: "a ListItem from a client",
      loggedIn: true,
      bytes: hex("10 00 0D 00 0B 23 64 65 76 40 61 2E 74 65 73 74"),
    },
    { name: "an Error from a client", loggedIn: true, bytes: hex("02 00 01 01") },
    {
      name: "a ServerAuth from a client",
      loggedIn: true,
      bytes: hex("06 00 08 00 06 61 2E 74 65 73 74"),
    },
    { name: "reserved type 0x00", loggedIn: true, bytes: hex("00 00 00") },
    { name: "unknown type 0x42", loggedIn: true, bytes: hex("42 00 00") },
    { name: "a truncated Message", loggedIn: true, bytes: hex("05 00 04 00 05 61 62") },
    { name: "invalid UTF-8", loggedIn: true, bytes: hex("10 00 03 00 01 FF") },
    {
      name: "invalid UTF-8 in a Message's content",
      loggedIn: true,
      bytes: hex("05 00 11 00 01 61 00 01 62 00 00 01 9B 00 00 00 00 00 01 FF"),
    },
    {
      name: "invalid UTF-8 in a Message's source",
      loggedIn: true,
      bytes: hex("05 00 11 00 01 C0 00 01 62 00 00 01 9B 00 00 00 00 00 01 41"),
    },
    {
      name: "a Message cut inside its content",
      loggedIn: true,
      bytes: hex("05 00 11 00 01 61 00 01 62 00 00 01 9B 00 00 00 00 00 05 41 41 41 41"),
    },
    {
      name: "a negative History count",
      loggedIn: true,
      bytes: hex(
        "08 00 1A 00 00 00 00 00 00 00 00 00 00 FF FF FF FF FF FF FF FF 00 00 00 00 00 00 00 00",
      ),
    },
    { name: "a header above the payload limit", loggedIn: true, bytes: hex("05 20 01") },
  ];
  for (const v of violations) {
    it(`answers ${v.name} with 0x80 and closes; others carry on`, async () => {
      const bystander = await loggedIn();
      const c = v.loggedIn ? await loggedIn() : await RawClient.connect(t.port);
      const before = v.loggedIn ? 2 : 0;
      if (!v.loggedIn && v.name !== "UserAuth before Handshake" && !v.name.includes("conn_type")) {
        await c.send(HS_USER);
      }
      await c.send(v.bytes);
      await c.waitClosed();
      const last = c.frames[c.frames.length - 1];
      assert.deepEqual(last, { type: 0x02, code: 0x80 });
      assert.ok(c.frames.length >= before + 1);
      await bystander.send({ type: 0xff, data: new Uint8Array([1]) });
      assert.deepEqual((await bystander.waitFrames(3))[2], {
        type: 0xff,
        data: new Uint8Array([1]),
      });
      bystander.close();
    });
  }
});

describe("messages as stored and forwarded", () => {
  let t: TestServer;
  let alice: string, bob: string;
  before(async () => {
    t = await startServer();
    alice = await t.addUser("alice");
    bob = await t.addUser("bob");
    await t.contacts(alice, bob);
  });
  after(() => t.cleanup());

  async function login(name: string): Promise<RawClient> {
    const c = await RawClient.connect(t.port);
    await c.send(HS_USER);
    await c.send(auth(name, `pw-${name}`));
    await c.waitFrames(2);
    return c;
  }

  /** A Message payload spelled out, with optional bytes after the content. */
  function messageFrame(source: string, target: string, ts: number, content: string, extra = "") {
    const body = encodeMessage(source, target, ts, content).subarray(3);
    const tail = extra === "" ? new Uint8Array(0) : hex(extra);
    const out = new Uint8Array(3 + body.length + tail.length);
    out.set([0x05, (body.length + tail.length) >> 8, (body.length + tail.length) & 0xff]);
    out.set(body, 3);
    out.set(tail, 3 + body.length);
    return out;
  }

  it("forwards a canonical frame byte for byte", async () => {
    const a = await login("alice");
    const b = await login("bob");
    const frame = messageFrame(alice, bob, 1767225600123, "h\u00e9llo \u{1f600}");
    await a.send(frame);
    assert.deepEqual((await a.waitFrames(3))[2], { type: 0x01 });
    await b.waitFrames(3);
    assert.deepEqual(b.raw[2], frame);
    a.close();
    b.close();
  });

  it("stores and forwards the canonical form of any other spelling", async () => {
    const a = await login("alice");
    const b = await login("bob");
    // Domain in capitals, timestamp in seconds, two bytes after the content.
    const sent = messageFrame("alice@A.TEST", "bob@A.Test", 1767225601, "hi", "00 07");
    await a.send(sent);
    assert.deepEqual((await a.waitFrames(3))[2], { type: 0x01 });
    await b.waitFrames(3);
    const canonical = encodeMessage(alice, bob, 1767225601000, "hi");
    assert.deepEqual(b.raw[2], canonical);
    // History replays the same canonical bytes.
    await b.send({ type: 0x08, target: alice, since: 0, count: 1, offset: 0 });
    await b.waitFrames(5);
    assert.deepEqual(b.raw[3], canonical);
    assert.deepEqual(b.frames[4], { type: 0x01 });
    a.close();
    b.close();
  });
});
