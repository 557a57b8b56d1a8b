import { atTurnEnd } from "./turn-end.ts";
import type { AtomicOperation, Kv } from "../kv/kv.ts";
import { apply, type Mutation } from "../store/mutation.ts";

/**
 * One unit of work for a group commit: it adds its writes to the shared
 * transaction and hears how the transaction ended. The hot path (a direct
 * message) implements this on one small object, so a message costs no
 * promise, closure or mutation array on its way through the commit.
 */
export interface CommitJob {
  /** Adds this job's writes; returns how many (for metrics). Must not throw for valid input. */
  write(atomic: AtomicOperation): number;
  /**
   * The writes are applied: visible, and safe from a crash of this process,
   * though maybe not yet from power loss (see `AtomicCommitOptions`). Always
   * before `committed()`; not called when the commit fails before applying.
   */
  applied?(): void;
  /** The transaction holding the writes is durable (for durable stores). */
  committed(): void;
  /** The transaction failed: none of the writes happened. */
  failed(error: unknown): void;
}

/**
 * Writes once per transaction, after all its jobs: rows that several jobs
 * share (see `HistoryPacker`).
 */
export interface BatchWriter {
  /** Adds the batch's writes; returns how many (for metrics). */
  finish(atomic: AtomicOperation): number;
  /** The transaction failed while being written: forget what it collected. */
  discard(): void;
}

/** `submit()`'s job: a list of mutations and a promise. */
class MutationJob implements CommitJob {
  constructor(
    private readonly mutations: readonly Mutation[],
    readonly committed: () => void,
    readonly failed: (e: unknown) => void,
    readonly applied: (() => void) | undefined,
  ) {}

  write(atomic: AtomicOperation): number {
    apply(atomic, this.mutations);
    return this.mutations.length;
  }
}

/** One batch whose transaction has been started and has not fully completed. */
interface Flight {
  readonly jobs: CommitJob[];
  count: number;
  applied: boolean;
  /** Jobs were told `applied()`. */
  appliedTold: boolean;
  settled: boolean;
  error: unknown;
}

/**
 * Group commit: every write submitted during one turn of the event loop goes
 * into a single store transaction (one fsync for SQLite), and each submitter
 * hears when that transaction has committed. This is what lets the server
 * acknowledge a message only once it is durable without paying one
 * transaction per message.
 *
 * Transactions are pipelined: the next batch is written while the previous
 * one is still being made durable (SQLite's fsync runs off the event loop and
 * covers every transaction written before it started). Jobs hear
 * `applied()` and then `committed()` strictly in submission order, whatever
 * order the store finishes in, so writes, deliveries and replies from one
 * connection keep the order it sent them in. If a commit fails, every job of
 * that batch fails and nothing of it is acknowledged; later batches are tried
 * afresh.
 */
export class CommitQueue {
  #pending: CommitJob[] = [];
  #scheduled = false;
  /** Started transactions, oldest first. */
  #flights: Flight[] = [];
  #idle: (() => void)[] = [];
  readonly #writers: BatchWriter[] = [];
  /** Transactions committed and mutations in them, for metrics. */
  commits = 0;
  mutations = 0;

  constructor(
    private readonly kv: Kv,
    private readonly maxBatch = 5000,
    /** A job's completion handler threw: a bug, reported without stopping the queue. */
    private readonly onJobError: (e: unknown) => void = (e) => console.error(e),
  ) {}

  /** Adds a writer that every transaction calls after its jobs have written. */
  addBatchWriter(writer: BatchWriter): void {
    this.#writers.push(writer);
  }

  /** Queues `job` for the next group commit. */
  enqueue(job: CommitJob): void {
    this.#pending.push(job);
    if (!this.#scheduled) {
      this.#scheduled = true;
      // At the end of the turn rather than in a microtask: after the I/O callbacks
      // of this loop turn, so requests from many connections share one commit.
      atTurnEnd(this.#run);
    }
  }

  /**
   * Queues `mutations`; resolves once they are committed. `applied`, if given, runs
   * when they are written, before that (see `CommitJob.applied`).
   */
  submit(mutations: readonly Mutation[], applied?: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue(new MutationJob(mutations, resolve, reject, applied));
    });
  }

  /** Resolves when everything submitted so far has been committed or failed. */
  drained(): Promise<void> {
    if (this.#flights.length === 0 && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #run = (): void => {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      // While the store holds the newest transaction back (SQLite starting its WAL over),
      // later jobs wait here and go in together once it is written, rather than lining up
      // as one small transaction per turn of the event loop.
      if (this.#newestHeld()) return;
      let jobs = this.#pending;
      if (jobs.length > this.maxBatch) {
        this.#pending = jobs.slice(this.maxBatch);
        jobs = jobs.slice(0, this.maxBatch);
      } else {
        this.#pending = [];
      }
      const flight: Flight = {
        jobs,
        count: 0,
        applied: false,
        appliedTold: false,
        settled: false,
        error: null,
      };
      this.#flights.push(flight);
      let commit: Promise<{ ok: boolean }>;
      try {
        const atomic = this.kv.atomic();
        for (let i = 0; i < jobs.length; i++) flight.count += jobs[i].write(atomic);
        for (const w of this.#writers) flight.count += w.finish(atomic);
        commit = atomic.commit({
          onApplied: (_result, final) => {
            flight.applied = true;
            // A store that committed synchronously: deliveries and answers go out in
            // this turn, not after one more poll for input.
            if (final) flight.settled = true;
            this.#advance();
          },
        });
      } catch (e) {
        for (const w of this.#writers) w.discard();
        commit = Promise.reject(e);
      }
      commit.then(
        (res) => {
          if (flight.settled) return; // told already (onApplied's `final`)
          if (!res.ok) flight.error = new Error("store refused the commit");
          // A store (or wrapper) that does not report `onApplied` applied on resolving.
          else flight.applied = true;
          flight.settled = true;
          this.#advance();
        },
        (e) => {
          // Settled already: the commit was told final, and only a throwing handler fails it now.
          if (flight.settled) return this.onJobError(e);
          flight.error = e ?? new Error("commit failed");
          flight.settled = true;
          this.#advance();
        },
      );
    }
  };

  /** The newest transaction is started but neither written nor over. */
  #newestHeld(): boolean {
    const newest = this.#flights[this.#flights.length - 1];
    return newest !== undefined && !newest.applied && !newest.settled;
  }

  /** Tells jobs what became of their batches, oldest batch first. */
  #advance(): void {
    const flights = this.#flights;
    for (let f = 0; f < flights.length; f++) {
      const flight = flights[f];
      if (flight.appliedTold) continue;
      if (!flight.applied || flight.error !== null) {
        // A failed batch is never applied; a later one must still hear.
        if (flight.settled) continue;
        break;
      }
      flight.appliedTold = true;
      for (const job of flight.jobs) {
        if (job.applied === undefined) continue;
        try {
          job.applied();
        } catch (e) {
          this.onJobError(e);
        }
      }
    }
    while (flights.length > 0 && flights[0].settled) {
      const flight = flights.shift() as Flight;
      if (flight.error === null) {
        this.commits++;
        this.mutations += flight.count;
      }
      for (const job of flight.jobs) {
        try {
          if (flight.error === null) job.committed();
          else job.failed(flight.error);
        } catch (e) {
          this.onJobError(e);
        }
      }
    }
    if (this.#pending.length > 0 && !this.#scheduled && !this.#newestHeld()) {
      // Jobs held back by a transaction the store had not written yet (see #run).
      this.#scheduled = true;
      atTurnEnd(this.#run);
    }
    if (flights.length === 0 && this.#pending.length === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }
}
