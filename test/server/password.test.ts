import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { scryptSync } from "node:crypto";
import {
  DEFAULT_PASSWORD_COST,
  hashPassword,
  MAX_CONCURRENT_HASHES,
  needsRehash,
  parsePasswordHash,
  PASSWORD_COST_MAX,
  PASSWORD_COST_MIN,
  verifyAgainstDummy,
  verifyPassword,
} from "../../src/server/password.ts";

const COST = 10; // fast: a few ms per hash

const PHC_RE = /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

describe("hashPassword / verifyPassword", () => {
  it("round-trips and has the PHC shape", async () => {
    const phc = await hashPassword("correct horse battery staple", { cost: COST });
    assert.match(phc, PHC_RE);
    assert.equal(await verifyPassword("correct horse battery staple", phc), true);
  });

  it("rejects a wrong password", async () => {
    const phc = await hashPassword("hunter2", { cost: COST });
    assert.equal(await verifyPassword("hunter3", phc), false);
    assert.equal(await verifyPassword("Hunter2", phc), false);
    assert.equal(await verifyPassword("", phc), false);
    assert.equal(await verifyPassword("hunter2 ", phc), false);
  });

  it("uses a fresh salt each time", async () => {
    const a = await hashPassword("same", { cost: COST });
    const b = await hashPassword("same", { cost: COST });
    assert.notEqual(a, b);
    assert.notDeepEqual(parsePasswordHash(a)!.salt, parsePasswordHash(b)!.salt);
    assert.equal(await verifyPassword("same", a), true);
    assert.equal(await verifyPassword("same", b), true);
  });

  it("handles empty, long and non-ASCII passwords", async () => {
    for (const pw of ["", "x".repeat(10_000), "pässwörd 🔑", "日本語"]) {
      const phc = await hashPassword(pw, { cost: COST });
      assert.equal(await verifyPassword(pw, phc), true, pw.slice(0, 20));
    }
  });

  it("normalises Unicode (NFC) so composed and decomposed forms match", async () => {
    const composed = "caf\u00e9";
    const decomposed = "cafe\u0301";
    const phc = await hashPassword(composed, { cost: COST });
    assert.equal(await verifyPassword(decomposed, phc), true);
  });

  it("uses the default cost when none is given", async () => {
    const phc = await hashPassword("pw");
    assert.equal(parsePasswordHash(phc)!.ln, DEFAULT_PASSWORD_COST);
    assert.equal(await verifyPassword("pw", phc), true);
  });

  it("accepts costs from PASSWORD_COST_MIN to PASSWORD_COST_MAX (maxmem is big enough)", async () => {
    assert.equal(PASSWORD_COST_MIN, 10);
    assert.equal(PASSWORD_COST_MAX, 17);
    const phc = await hashPassword("big", { cost: PASSWORD_COST_MAX });
    assert.match(phc, /^\$scrypt\$ln=17,r=8,p=1\$/);
    assert.equal(await verifyPassword("big", phc), true);
  });

  it("refuses costs outside the range", async () => {
    for (const cost of [9, 18, 10.5, Number.NaN]) {
      await assert.rejects(hashPassword("pw", { cost }), RangeError);
    }
  });

  it("verifies many at once (the concurrency limit queues, never drops)", async () => {
    assert.ok(MAX_CONCURRENT_HASHES >= 1 && MAX_CONCURRENT_HASHES <= 4);
    const phc = await hashPassword("together", { cost: COST });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => verifyPassword(i % 2 ? "together" : "apart", phc)),
    );
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i % 2 === 1));
  });
});

describe("parameters come from the stored string", () => {
  it("parsePasswordHash reads ln, r, p, salt and hash", async () => {
    const phc = await hashPassword("pw", { cost: 11 });
    const parsed = parsePasswordHash(phc);
    assert.ok(parsed);
    assert.equal(parsed.ln, 11);
    assert.equal(parsed.r, 8);
    assert.equal(parsed.p, 1);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.hash.length, 32);
    assert.equal(phc, `$scrypt$ln=11,r=8,p=1$${b64(parsed.salt)}$${b64(parsed.hash)}`);
  });

  it("verifies a hash made elsewhere with other r, p and lengths", async () => {
    const salt = Buffer.from("0123456789abcdef01234567"); // 24 bytes
    const hash = scryptSync("legacy", salt, 48, { N: 2 ** 9, r: 4, p: 2 });
    const phc = `$scrypt$ln=9,r=4,p=2$${b64(salt)}$${b64(hash)}`;
    assert.equal(await verifyPassword("legacy", phc), true);
    assert.equal(await verifyPassword("legacy!", phc), false);
    assert.deepEqual(
      { ...parsePasswordHash(phc)!, salt: undefined, hash: undefined },
      { ln: 9, r: 4, p: 2, salt: undefined, hash: undefined },
    );
  });
});

describe("malformed stored strings", () => {
  it("verify to false and never throw", async () => {
    const good = await hashPassword("pw", { cost: COST });
    const [, , params, salt, hash] = good.split("$");
    const malformed: unknown[] = [
      "",
      "pw",
      "$scrypt$",
      `$argon2id$${params}$${salt}$${hash}`,
      `$scrypt$${salt}$${hash}`,
      `$scrypt$ln=10,r=8$${salt}$${hash}`,
      `$scrypt$r=8,ln=10,p=1$${salt}$${hash}`,
      `$scrypt$ln=0,r=8,p=1$${salt}$${hash}`,
      `$scrypt$ln=010,r=8,p=1$${salt}$${hash}`,
      `$scrypt$ln=18,r=8,p=1$${salt}$${hash}`, // too much memory: refused
      `$scrypt$ln=99,r=8,p=1$${salt}$${hash}`,
      `$scrypt$ln=10,r=99,p=1$${salt}$${hash}`,
      `$scrypt$ln=10,r=8,p=9$${salt}$${hash}`,
      `$scrypt$${params}$${salt}==$${hash}`,
      `$scrypt$${params}$${salt}$${hash}=`,
      `$scrypt$${params}$${salt!.replace(/./, "!")}$${hash}`,
      `$scrypt$${params}$${salt!.slice(0, 8)}$${hash}`, // 6-byte salt
      `$scrypt$${params}$${salt}$${hash!.slice(0, 10)}`, // 7-byte hash
      `$scrypt$${params}$${salt}$${hash}$extra`,
      `${good} `,
      ` ${good}`,
      good.replace("$scrypt$", "$SCRYPT$"),
      null,
      undefined,
      42,
    ];
    for (const phc of malformed) {
      assert.equal(parsePasswordHash(phc as string), null, String(phc));
      assert.equal(await verifyPassword("pw", phc as string), false, String(phc));
      assert.equal(needsRehash(phc as string, COST), true, String(phc));
    }
  });

  it("a non-canonical base64 tail is refused", async () => {
    const good = await hashPassword("pw", { cost: COST });
    const parts = good.split("$");
    const salt = parts[3]!; // 22 chars: the last one carries 4 unused bits
    const last = salt[21]!;
    const sibling = "AQgw".includes(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : "A";
    parts[3] = salt.slice(0, 21) + sibling;
    assert.equal(parsePasswordHash(parts.join("$")), null);
  });
});

describe("needsRehash", () => {
  it("is false for a hash made with the current policy", async () => {
    const phc = await hashPassword("pw", { cost: COST });
    assert.equal(needsRehash(phc, COST), false);
  });

  it("is true when the policy's cost went up, never to lower a stronger hash", async () => {
    const phc = await hashPassword("pw", { cost: COST });
    assert.equal(needsRehash(phc, 11), true);
    const high = await hashPassword("pw", { cost: 11 });
    assert.equal(needsRehash(high, COST), false);
  });

  it("is true for other r, p or lengths, and defaults to DEFAULT_PASSWORD_COST", () => {
    const salt = b64(Buffer.alloc(16, 1));
    const hash = b64(Buffer.alloc(32, 2));
    const ln = DEFAULT_PASSWORD_COST;
    assert.equal(needsRehash(`$scrypt$ln=${ln},r=8,p=1$${salt}$${hash}`), false);
    assert.equal(needsRehash(`$scrypt$ln=${ln},r=4,p=1$${salt}$${hash}`), true);
    assert.equal(needsRehash(`$scrypt$ln=${ln},r=8,p=2$${salt}$${hash}`), true);
    assert.equal(needsRehash(`$scrypt$ln=${ln},r=8,p=1$${b64(Buffer.alloc(8))}$${hash}`), true);
    assert.equal(needsRehash(`$scrypt$ln=${ln},r=8,p=1$${salt}$${b64(Buffer.alloc(64))}`), true);
  });
});

describe("verifyAgainstDummy", () => {
  it("always answers false", async () => {
    for (const pw of ["", "pw", "password"]) {
      assert.equal(await verifyAgainstDummy(pw, { cost: COST }), false);
    }
  });

  it("rejects costs outside the range like hashPassword", async () => {
    await assert.rejects(verifyAgainstDummy("pw", { cost: 99 }), RangeError);
  });

  it("takes about as long as a real verify at the same cost", async () => {
    const cost = 13; // ~20-50 ms: long enough to dwarf timer noise
    const phc = await hashPassword("secret", { cost });
    await verifyAgainstDummy("warm up", { cost });
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 5; i++) {
      real.push(await timed(() => verifyPassword("wrong", phc)));
      dummy.push(await timed(() => verifyAgainstDummy("wrong", { cost })));
    }
    const ratio = median(dummy) / median(real);
    assert.ok(
      ratio > 0.5 && ratio < 2,
      `dummy/real = ${ratio.toFixed(2)} (${median(dummy)} / ${median(real)} ms)`,
    );
    // And far more than the instant answer a missing user would otherwise get.
    const ln10 = median(
      await Promise.all([1, 2, 3].map(() => timed(() => verifyAgainstDummy("x", { cost: 10 })))),
    );
    assert.ok(median(dummy) > ln10, `ln13 ${median(dummy)} ms vs ln10 ${ln10} ms`);
  });
});
