/**
 * The group commit queue: one transaction per event-loop turn, pipelined
 * transactions whose jobs still hear `applied` then `committed` strictly in
 * submission order, and a failed batch that fails only its own jobs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type CommitJob, CommitQueue } from "../../src/server/commit-queue.ts";
import { MemoryKv } from "../../src/kv/memory.ts";
import type { AtomicCommitOptions, AtomicOperation, Kv } from "../../src/kv/kv.ts";
import { FaultyKv } from "../support/faulty-kv.ts";
import { atTurnEnd } from "../../src/server/turn-end.ts";

/** A job that records what it heard in a shared log. */
function job(log: string[], name: string, key = name): CommitJob {
  return {
    write(atomic: AtomicOperation) {
      atomic.set(["k", key], name);
      return 1;
    },
    applied: () => log.push(`applied ${name}`),
    committed: () => log.push(`committed ${name}`),
    failed: () => log.push(`failed ${name}`),
  };
}

/**
 * A store whose commits apply at once but become durable only when the test
 * says so, in any order: like SQLite "full" with fsyncs finishing out of order.
 */
class SlowSyncKv {
  readonly inner = new MemoryKv();
  readonly durable: (() => void)[] = [];
  atomic(): AtomicOperation {
    const op = this.inner.atomic();
    const commit = op.commit.bind(op);
    op.commit = (options?: AtomicCommitOptions) =>
      commit().then((res) => {
        if (res.ok) options?.onApplied?.(res, false);
        return new Promise((resolve) => this.durable.push(() => resolve(res)));
      });
    return op;
  }
}

const turn = () => new Promise((r) => setImmediate(r));

describe("CommitQueue", () => {
  it("commits everything queued in one turn as one transaction", async () => {
    const kv = new MemoryKv();
    const q = new CommitQueue(kv);
    const log: string[] = [];
    for (const n of ["a", "b", "c"]) q.enqueue(job(log, n));
    await q.drained();
    assert.equal(q.commits, 1);
    assert.equal(q.mutations, 3);
    assert.deepEqual(log, [
      "applied a",
      "applied b",
      "applied c",
      "committed a",
      "committed b",
      "committed c",
    ]);
    assert.equal((await kv.get(["k", "b"])).value, "b");
  });

  it("with a store that commits synchronously, answers within the commit's own turn-end task", async () => {
    // Deliveries and answers then leave in this turn's writes, not one poll for input later.
    const q = new CommitQueue(new MemoryKv());
    const log: string[] = [];
    q.enqueue(job(log, "a"));
    let seen: string[] = [];
    atTurnEnd(() => (seen = [...log])); // queued after the commit, runs right after it
    await q.drained();
    assert.deepEqual(seen, ["applied a", "committed a"]);
  });

  it("writes the next batch before the previous is durable, and answers in order", async () => {
    const slow = new SlowSyncKv();
    const q = new CommitQueue(slow as unknown as Kv);
    const log: string[] = [];
    q.enqueue(job(log, "first"));
    await turn();
    await turn();
    q.enqueue(job(log, "second"));
    await turn();
    await turn();
    // Both transactions are written (applied) while neither is durable.
    assert.deepEqual(log, ["applied first", "applied second"]);
    assert.equal(slow.durable.length, 2);
    // The later one becomes durable first: nobody hears before the earlier one.
    slow.durable[1]();
    await turn();
    assert.deepEqual(log, ["applied first", "applied second"]);
    slow.durable[0]();
    await q.drained();
    assert.deepEqual(log, [
      "applied first",
      "applied second",
      "committed first",
      "committed second",
    ]);
  });

  it("while the store holds a transaction back, later jobs wait and go in one transaction", async () => {
    // A store that takes a commit but writes it only when told (SQLite starting its WAL over).
    const inner = new MemoryKv();
    const held: (() => void)[] = [];
    let started = 0;
    const holding = {
      atomic(): AtomicOperation {
        const op = inner.atomic();
        const commit = op.commit.bind(op);
        op.commit = (options?: AtomicCommitOptions) => {
          started++;
          return new Promise((resolve) => held.push(() => resolve(commit(options))));
        };
        return op;
      },
    };
    const q = new CommitQueue(holding as unknown as Kv);
    const log: string[] = [];
    q.enqueue(job(log, "first"));
    await turn();
    for (const n of ["second", "third"]) {
      q.enqueue(job(log, n));
      await turn();
      await turn();
    }
    assert.equal(started, 1, "no new transaction while the first is held");
    held[0]();
    await turn();
    await turn();
    assert.equal(started, 2);
    assert.equal(held.length, 2);
    held[1]();
    await q.drained();
    assert.equal(q.commits, 2, "second and third went in one transaction");
    assert.deepEqual(log, [
      "applied first",
      "committed first",
      "applied second",
      "applied third",
      "committed second",
      "committed third",
    ]);
  });

  it("fails only the batch whose commit failed; later batches commit", async () => {
    const faulty = new FaultyKv(new MemoryKv());
    const q = new CommitQueue(faulty);
    const log: string[] = [];
    faulty.failing = true;
    q.enqueue(job(log, "lost"));
    await turn();
    await turn();
    faulty.failing = false;
    q.enqueue(job(log, "kept"));
    await q.drained();
    assert.deepEqual(log, ["failed lost", "applied kept", "committed kept"]);
    assert.equal((await faulty.get(["k", "lost"])).versionstamp, null);
  });

  it("reports a job handler that throws and still answers the others", async () => {
    const errors: unknown[] = [];
    const q = new CommitQueue(new MemoryKv(), undefined, (e) => errors.push(e));
    const log: string[] = [];
    q.enqueue({
      ...job(log, "bad"),
      committed: () => {
        throw new Error("boom");
      },
    });
    q.enqueue(job(log, "good"));
    await q.drained();
    assert.equal(errors.length, 1);
    assert.ok(log.includes("committed good"));
  });

  it("submit() resolves once committed and rejects when the commit fails", async () => {
    const faulty = new FaultyKv(new MemoryKv());
    const q = new CommitQueue(faulty);
    await q.submit([{ op: "set", key: ["k", "x"], value: 1 }]);
    assert.equal((await faulty.get(["k", "x"])).value, 1);
    faulty.failing = true;
    await assert.rejects(q.submit([{ op: "set", key: ["k", "y"], value: 2 }]), /simulated/);
  });

  it("lets batch writers add to each transaction after its jobs, and forget a failed one", async () => {
    const kv = new MemoryKv();
    const q = new CommitQueue(kv);
    const log: string[] = [];
    const seen: string[] = [];
    let discarded = 0;
    q.addBatchWriter({
      finish(atomic) {
        // Sees the jobs of its own transaction only, after they wrote.
        atomic.set(["k", "batch"], seen.join(","));
        seen.length = 0;
        return 1;
      },
      discard: () => {
        discarded++;
        seen.length = 0;
      },
    });
    const noted = (name: string): CommitJob => ({
      ...job(log, name),
      write(atomic) {
        seen.push(name);
        atomic.set(["k", name], name);
        return 1;
      },
    });
    q.enqueue(noted("a"));
    q.enqueue(noted("b"));
    await q.drained();
    assert.equal((await kv.get(["k", "batch"])).value, "a,b");
    assert.equal(q.mutations, 3);
    // A job whose write throws fails its batch; the writer forgets what it collected.
    q.enqueue(noted("c"));
    q.enqueue({
      ...job(log, "bad"),
      write() {
        throw new Error("bad write");
      },
    });
    await q.drained();
    assert.equal(discarded, 1);
    assert.ok(log.includes("failed c") && log.includes("failed bad"));
    q.enqueue(noted("d"));
    await q.drained();
    assert.equal((await kv.get(["k", "batch"])).value, "d");
    assert.equal((await kv.get(["k", "c"])).versionstamp, null);
  });
});
