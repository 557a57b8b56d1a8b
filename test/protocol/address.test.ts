import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  isValidDomain,
  parseAddress,
  parseChannelAddress,
  parseUserAddress,
  parseUserName,
} from "../../src/protocol/mod.ts";

describe("addresses (spec §5)", () => {
  it("parses users and channels", () => {
    assert.deepEqual(parseAddress("alice@a.test"), {
      kind: "user",
      name: "alice",
      domain: "a.test",
      full: "alice@a.test",
    });
    assert.deepEqual(parseAddress("#dev@a.test"), {
      kind: "channel",
      name: "dev",
      domain: "a.test",
      full: "#dev@a.test",
    });
    assert.equal(parseAddress("#team/dev@a.test")?.full, "#team/dev@a.test");
    assert.equal(parseAddress("a.b_c-9@localhost")?.name, "a.b_c-9");
  });

  it("lower-cases the domain and compares it case-insensitively", () => {
    assert.equal(parseAddress("bob@A.Test")?.full, "bob@a.test");
    assert.equal(parseAddress("#dev@EXAMPLE.ORG")?.domain, "example.org");
  });

  it("accepts names of 1 to 64 bytes", () => {
    assert.ok(parseAddress(`${"a".repeat(64)}@a.test`));
    assert.equal(parseAddress(`${"a".repeat(65)}@a.test`), undefined);
    assert.ok(parseAddress(`#${"a".repeat(64)}@a.test`));
    assert.equal(parseAddress(`#${"a".repeat(65)}@a.test`), undefined);
  });

  const invalid = [
    "",
    "alice",
    "@a.test",
    "alice@",
    "Alice@a.test", // upper case in the name
    "al ice@a.test",
    "alice@a..test",
    "alice@-a.test",
    "alice@a-.test",
    "alice@a.test.",
    "alice@a_b.test",
    "team/dev@a.test", // '/' only in channel names
    "#@a.test",
    "##dev@a.test",
    "#dev",
    "zażółć@a.test",
    `alice@${"a".repeat(64)}.test`,
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseAddress(text), undefined));
  }

  it("treats the last @ as the separator, so a name cannot contain one", () => {
    assert.equal(parseAddress("a@b@c.test"), undefined);
  });

  it("validates domains", () => {
    assert.ok(isValidDomain("localhost"));
    assert.ok(isValidDomain("A.TEST"));
    assert.ok(isValidDomain(`${"a".repeat(63)}.test`));
    assert.equal(isValidDomain(`${"a.".repeat(127)}ab`), false);
  });

  it("resolves a bare UserAuth name against the server's domain", () => {
    assert.equal(parseUserName("alice", "A.test")?.full, "alice@a.test");
    assert.equal(parseUserName("alice@b.test", "a.test")?.full, "alice@b.test");
    assert.equal(parseUserName("#dev@a.test", "a.test"), undefined);
    assert.equal(parseUserName("#dev", "a.test"), undefined);
    assert.equal(parseUserName("Alice", "a.test"), undefined);
  });

  it("narrows by kind", () => {
    assert.equal(parseUserAddress("#dev@a.test"), undefined);
    assert.equal(parseChannelAddress("alice@a.test"), undefined);
    assert.equal(parseChannelAddress("#dev@a.test")?.kind, "channel");
  });
});
