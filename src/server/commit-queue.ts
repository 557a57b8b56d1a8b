import { setImmediate } from "node:timers";
import type { Kv } from "../kv/kv.ts";
import { apply, type Mutation } from "../store/mutation.ts";

interface Waiter {
  readonly mutations: readonly Mutation[];
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit: every write submitted during one turn of the event loop goes
 * into a single store transaction (one fsync for SQLite), and each submitter's
 * promise settles when that transaction has committed. This is what lets the
 * server acknowledge a message only once it is durable without paying one
 * transaction per message.
 *
 * Batches commit strictly one after another, in submission order, so writes
 * from one connection are applied in the order it sent them. If a commit
 * fails, every submitter of that batch is rejected and nothing of it is
 * acknowledged; later batches are tried afresh.
 */
export class CommitQueue {
  #pending: Waiter[] = [];
  #scheduled = false;
  #running = false;
  #idle: (() => void)[] = [];
  /** Transactions committed and mutations in them, for metrics. */
  commits = 0;
  mutations = 0;

  constructor(private readonly kv: Kv, private readonly maxBatch = 5000) {}

  submit(mutations: readonly Mutation[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ mutations, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when everything submitted so far has been committed or failed. */
  drained(): Promise<void> {
    if (!this.#running && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    // setImmediate rather than a microtask: it runs after the I/O callbacks of
    // this loop turn, so requests from many connections share one commit.
    setImmediate(this.#run);
  }

  #run = async (): Promise<void> => {
    this.#scheduled = false;
    this.#running = true;
    while (this.#pending.length > 0) {
      let batch = this.#pending;
      if (batch.length > this.maxBatch) {
        this.#pending = batch.slice(this.maxBatch);
        batch = batch.slice(0, this.maxBatch);
      } else {
        this.#pending = [];
      }
      const atomic = this.kv.atomic();
      let count = 0;
      try {
        for (const w of batch) {
          apply(atomic, w.mutations);
          count += w.mutations.length;
        }
        const res = await atomic.commit();
        if (!res.ok) throw new Error("store refused the commit");
        this.commits++;
        this.mutations += count;
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.#running = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const f of idle) f();
  };
}
