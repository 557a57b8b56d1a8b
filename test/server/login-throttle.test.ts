import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ipKey,
  LoginThrottle,
  type LoginThrottleOptions,
} from "../../src/server/login-throttle.ts";

const MINUTE = 60_000;

function setup(options: Omit<LoginThrottleOptions, "now"> = {}) {
  const clock = { t: 1_000_000 };
  const throttle = new LoginThrottle({ ...options, now: () => clock.t });
  return { clock, throttle };
}

function fail(
  throttle: LoginThrottle,
  n: number,
  ip = "192.0.2.1",
  account = "alice@a.test",
): void {
  for (let i = 0; i < n; i++) throttle.recordFailure(ip, account);
}

describe("LoginThrottle: delays", () => {
  it("the first 3 failures are free, then the delay doubles from 250 ms up to 10 s", () => {
    const { throttle } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      delays.push(throttle.delayMs("192.0.2.1", "alice@a.test"));
      throttle.recordFailure("192.0.2.1", "alice@a.test");
    }
    assert.deepEqual(delays, [0, 0, 0, 0, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it("stays at the cap for any number of failures", () => {
    const { throttle } = setup();
    fail(throttle, 5000);
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 10_000);
  });

  it("an IP's failures delay its attempts at any account", () => {
    const { throttle } = setup();
    for (let i = 0; i < 6; i++) throttle.recordFailure("192.0.2.1", `user${i}@a.test`);
    assert.equal(throttle.delayMs("192.0.2.1", "fresh@a.test"), 1000);
    assert.equal(throttle.delayMs("192.0.2.99", "fresh@a.test"), 0);
  });

  it("an account's failures delay attempts from any IP", () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.recordFailure(`192.0.2.${i}`, "alice@a.test");
    assert.equal(throttle.delayMs("198.51.100.7", "alice@a.test"), 500);
    assert.equal(throttle.delayMs("198.51.100.7", "bob@a.test"), 0);
  });

  it("uses the larger of the IP's and the account's delay", () => {
    const { throttle } = setup();
    fail(throttle, 4, "192.0.2.1", "alice@a.test"); // both at 4 failures
    fail(throttle, 2, "192.0.2.1", "bob@a.test"); // IP at 6
    assert.deepEqual(throttle.failures("192.0.2.1", "alice@a.test"), { ip: 6, account: 4 });
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 1000);
    assert.equal(throttle.delayMs("192.0.2.2", "alice@a.test"), 250);
  });

  it("honours custom options", () => {
    const { throttle } = setup({ freeFailures: 0, baseDelayMs: 100, maxDelayMs: 300 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      delays.push(throttle.delayMs("ip", "acct"));
      throttle.recordFailure("ip", "acct");
    }
    assert.deepEqual(delays, [0, 100, 200, 300, 300]);
  });
});

describe("LoginThrottle: success", () => {
  it("clears the account's counter", () => {
    const { throttle } = setup();
    fail(throttle, 8);
    throttle.recordSuccess("192.0.2.50", "alice@a.test");
    assert.equal(throttle.failures("192.0.2.1", "alice@a.test").account, 0);
    assert.equal(throttle.delayMs("192.0.2.50", "alice@a.test"), 0);
  });

  it("does not clear the IP's counter", () => {
    const { throttle } = setup();
    for (let i = 0; i < 8; i++) throttle.recordFailure("192.0.2.1", `victim${i}@a.test`);
    throttle.recordSuccess("192.0.2.1", "mallory@a.test");
    assert.equal(throttle.failures("192.0.2.1", "x").ip, 8);
    assert.equal(throttle.delayMs("192.0.2.1", "victim9@a.test"), 4000);
  });
});

describe("LoginThrottle: expiry", () => {
  it("forgets a key 15 minutes after its last failure", () => {
    const { clock, throttle } = setup();
    fail(throttle, 6);
    clock.t += 15 * MINUTE - 1;
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 1000);
    clock.t += 1;
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 0);
    assert.deepEqual(throttle.failures("192.0.2.1", "alice@a.test"), { ip: 0, account: 0 });
  });

  it("the window slides with each failure", () => {
    const { clock, throttle } = setup();
    fail(throttle, 4);
    clock.t += 10 * MINUTE;
    fail(throttle, 1);
    clock.t += 10 * MINUTE; // 20 min after the first failures, 10 after the last
    assert.equal(throttle.failures("192.0.2.1", "alice@a.test").account, 5);
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 500);
  });

  it("counting restarts at 1 after expiry", () => {
    const { clock, throttle } = setup();
    fail(throttle, 9);
    clock.t += 16 * MINUTE;
    fail(throttle, 1);
    assert.deepEqual(throttle.failures("192.0.2.1", "alice@a.test"), { ip: 1, account: 1 });
  });

  it("honours a custom window", () => {
    const { clock, throttle } = setup({ windowMs: 1000 });
    fail(throttle, 5);
    clock.t += 999;
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 500);
    clock.t += 1;
    assert.equal(throttle.delayMs("192.0.2.1", "alice@a.test"), 0);
  });

  it("sweep() drops expired entries", () => {
    const { clock, throttle } = setup();
    fail(throttle, 1, "192.0.2.1", "a@a.test");
    clock.t += 10 * MINUTE;
    fail(throttle, 1, "192.0.2.2", "b@a.test");
    assert.deepEqual(throttle.size, { ips: 2, accounts: 2 });
    clock.t += 6 * MINUTE; // first expired, second not
    throttle.sweep();
    assert.deepEqual(throttle.size, { ips: 1, accounts: 1 });
    assert.equal(throttle.failures("192.0.2.2", "b@a.test").account, 1);
  });
});

describe("LoginThrottle: bounded memory", () => {
  it("never tracks more than maxKeys IPs or accounts", () => {
    const { clock, throttle } = setup({ maxKeys: 100 });
    for (let i = 0; i < 5000; i++) {
      clock.t += 1;
      throttle.recordFailure(`10.0.${i >> 8}.${i & 255}`, `user${i}@a.test`);
      assert.ok(throttle.size.ips <= 100 && throttle.size.accounts <= 100);
    }
    assert.deepEqual(throttle.size, { ips: 100, accounts: 100 });
  });

  it("defaults to 10 000 keys per map", () => {
    const { throttle } = setup();
    for (let i = 0; i < 12_000; i++) throttle.recordFailure(`ip${i}`, `user${i}`);
    assert.deepEqual(throttle.size, { ips: 10_000, accounts: 10_000 });
  });

  it("evicts the key whose last failure is oldest", () => {
    const { clock, throttle } = setup({ maxKeys: 3 });
    fail(throttle, 5, "ip-a", "acct-a");
    clock.t += 1;
    fail(throttle, 5, "ip-b", "acct-b");
    clock.t += 1;
    fail(throttle, 5, "ip-c", "acct-c");
    clock.t += 1;
    fail(throttle, 1, "ip-a", "acct-a"); // a is now the most recent
    clock.t += 1;
    fail(throttle, 1, "ip-d", "acct-d"); // evicts b
    assert.deepEqual(throttle.failures("ip-a", "acct-a"), { ip: 6, account: 6 });
    assert.deepEqual(throttle.failures("ip-b", "acct-b"), { ip: 0, account: 0 });
    assert.deepEqual(throttle.failures("ip-c", "acct-c"), { ip: 5, account: 5 });
    assert.deepEqual(throttle.failures("ip-d", "acct-d"), { ip: 1, account: 1 });
  });

  it("drops expired keys before evicting live ones", () => {
    const { clock, throttle } = setup({ maxKeys: 3 });
    fail(throttle, 1, "old-1", "old-1");
    fail(throttle, 1, "old-2", "old-2");
    clock.t += 14 * MINUTE;
    fail(throttle, 5, "live", "live");
    clock.t += 2 * MINUTE; // the two old ones have expired
    fail(throttle, 1, "new", "new");
    assert.deepEqual(throttle.size, { ips: 2, accounts: 2 });
    assert.equal(throttle.failures("live", "live").ip, 5);
  });

  it("cuts very long keys", () => {
    const { throttle } = setup();
    const long = "x".repeat(70_000);
    fail(throttle, 4, long, long + "1");
    // Same first 320 characters: counted as one key.
    assert.deepEqual(throttle.failures(long + "2", long + "3"), { ip: 4, account: 4 });
  });

  it("rejects maxKeys below 1", () => {
    assert.throws(() => new LoginThrottle({ maxKeys: 0 }), RangeError);
  });
});

describe("LoginThrottle: keys", () => {
  it("compares accounts case-insensitively", () => {
    const { throttle } = setup();
    fail(throttle, 5, "192.0.2.1", "Alice@A.Test");
    assert.equal(throttle.failures("198.51.100.1", "alice@a.test").account, 5);
  });

  it("counts IPv6 per /64 and IPv4-mapped IPv6 as IPv4", () => {
    const { throttle } = setup();
    fail(throttle, 3, "2001:db8:1:2::1", "a");
    fail(throttle, 2, "2001:db8:1:2:ffff:ffff:ffff:ffff", "b");
    assert.equal(throttle.failures("[2001:DB8:1:2::99]", "c").ip, 5);
    assert.equal(throttle.failures("2001:db8:1:3::1", "c").ip, 0);
    fail(throttle, 4, "::ffff:192.0.2.7", "d");
    assert.equal(throttle.failures("192.0.2.7", "e").ip, 4);
  });

  it("ipKey normalises addresses", () => {
    assert.equal(ipKey("192.0.2.1"), "192.0.2.1");
    assert.equal(ipKey("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(ipKey("[::FFFF:c000:0201]"), "192.0.2.1");
    assert.equal(ipKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(ipKey("2001:0db8:0001:0002::"), "2001:db8:1:2::/64");
    assert.equal(ipKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(ipKey("::1"), "0:0:0:0::/64");
    assert.equal(ipKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
    // Unparsable: used as is.
    assert.equal(ipKey("not:an:ip::x"), "not:an:ip::x");
    assert.equal(ipKey("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9");
    assert.equal(ipKey("unix-socket"), "unix-socket");
  });
});
