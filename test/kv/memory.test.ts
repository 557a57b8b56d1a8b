import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryKv } from "../../src/kv/memory.ts";
import { kvConformance } from "./conformance.ts";

kvConformance("MemoryKv", () => {
  const kv = new MemoryKv();
  return Promise.resolve({ kv, cleanup: () => kv.close() });
});

describe("MemoryKv commits", () => {
  it("say they are applied and final before commit() returns", async () => {
    const kv = new MemoryKv();
    const heard: [string, boolean][] = [];
    const promise = kv.atomic().set(["k"], 1).commit({
      onApplied: (r, final) => heard.push([r.versionstamp, final]),
    });
    // Synchronously: a group commit can deliver and answer in the same turn.
    assert.equal(heard.length, 1);
    assert.equal(heard[0][1], true);
    const res = await promise;
    assert.ok(res.ok);
    assert.equal(heard[0][0], res.versionstamp);
    await kv.close();
  });
});
