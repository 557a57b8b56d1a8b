/** Connections share local-address objects and host strings. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { localAddr, remoteAddr, sharedHost } from "../../src/adapters/shared-addr.ts";

describe("shared addresses", () => {
  it("hands out one local-address object while it stays the same", () => {
    const a = localAddr("127.0.0.1", 7000);
    assert.equal(localAddr("127.0.0.1", 7000), a);
    assert.deepEqual(a, { hostname: "127.0.0.1", port: 7000 });
    const b = localAddr("::1", 7000);
    assert.notEqual(b, a);
    assert.deepEqual(b, { hostname: "::1", port: 7000 });
  });

  it("remote addresses are separate objects with equal host strings", () => {
    const a = remoteAddr("10.0.0.1", 1);
    const b = remoteAddr("10.0.0.1", 2);
    assert.notEqual(a, b);
    assert.deepEqual([a.hostname, a.port, b.hostname, b.port], ["10.0.0.1", 1, "10.0.0.1", 2]);
    assert.equal(sharedHost("10.0.0.1"), "10.0.0.1");
    // Bounded: thousands of distinct hosts do not grow it without limit (and stay correct).
    for (let i = 0; i < 5000; i++) assert.equal(sharedHost(`h${i}`), `h${i}`);
  });
});
