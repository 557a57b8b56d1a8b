/**
 * The cache of successful password checks: a repeated login with the same
 * password skips scrypt; wrong passwords, changed passwords and expired
 * entries always get a full check.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AuthCache } from "../../src/server/auth-cache.ts";
import { hashPassword } from "../../src/server/password.ts";
import { rejectsWith } from "../support/expect.ts";
import { startServer, TEST_PASSWORD_COST } from "../support/server.ts";

describe("AuthCache", () => {
  it("remembers a success for the TTL, keyed by user, password and stored hash", () => {
    let now = 1000;
    const cache = new AuthCache(60_000, 100, () => now);
    cache.add("alice@a.test", "pw", "$h1");
    assert.equal(cache.has("alice@a.test", "pw", "$h1"), true);
    assert.equal(cache.has("alice@a.test", "other", "$h1"), false);
    assert.equal(cache.has("alice@a.test", "pw", "$h2"), false, "a new stored hash does not match");
    assert.equal(cache.has("bob@a.test", "pw", "$h1"), false);
    now += 60_001;
    assert.equal(cache.has("alice@a.test", "pw", "$h1"), false, "expired");
    assert.equal(cache.hits, 1);
  });

  it("stays bounded, dropping the oldest entries", () => {
    const cache = new AuthCache(60_000, 10);
    for (let i = 0; i < 25; i++) cache.add(`u${i}@a.test`, "pw", "$h");
    assert.equal(cache.has("u0@a.test", "pw", "$h"), false);
    assert.equal(cache.has("u24@a.test", "pw", "$h"), true);
  });

  it("is off with a TTL of 0", () => {
    const cache = new AuthCache(0);
    cache.add("a@a.test", "pw", "$h");
    assert.equal(cache.has("a@a.test", "pw", "$h"), false);
  });
});

describe("logins with the auth cache", () => {
  it("skips the check for a repeated login, never for a wrong or changed password", async () => {
    const t = await startServer();
    try {
      const alice = await t.addUser("alice");
      (await t.login(alice)).close();
      assert.equal(t.server.authCache.hits, 0);
      (await t.login(alice)).close();
      assert.equal(t.server.authCache.hits, 1);
      await rejectsWith(t.login(alice, "wrong"), 0x01);
      // The operator changes the password: the old one no longer logs in.
      await t.server.store.users.setPassword(
        alice,
        await hashPassword("new-pw", { cost: TEST_PASSWORD_COST }),
      );
      await rejectsWith(t.login(alice), 0x01);
      (await t.login(alice, "new-pw")).close();
    } finally {
      await t.cleanup();
    }
  });
});
