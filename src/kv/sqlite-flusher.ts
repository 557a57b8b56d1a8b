/**
 * The SQLite store's flusher threads: the disk work that must not run on the event loop.
 *
 * Both runtimes' SQLite drivers are synchronous, so anything slow that SQLite does inside a
 * statement stops every connection of the server. Two things are slow:
 *
 * - the fsync of the WAL that makes commits durable ("full"). An asynchronous `fs.fsync`
 *   is not free either: dispatching one costs the event loop ~50 µs on both runtimes
 *   (measured), and a busy server asks for thousands a second;
 * - WAL checkpoints: copying committed pages into the database file and fsyncing both
 *   files. SQLite runs them inside the COMMIT that crosses `wal_autocheckpoint`, which
 *   stopped the server for 10–20 ms every few thousand commits.
 *
 * Two Workers do them, one each. The event loop asks through a few integers in shared
 * memory (an `Atomics.notify`, no message) and hears back by message. The checkpoint
 * thread has its own connection to the file and checkpoints in PASSIVE mode, which never
 * blocks the writer and, with `synchronous = NORMAL` on its connection, fsyncs the WAL
 * before copying and the database after, exactly as SQLite's own checkpoints do. The sync
 * thread only fsyncs the WAL. On one thread, each checkpoint at full speed (thousands of
 * pages, 100-250 ms on the development VM) held back the fsyncs that acknowledgements wait
 * for; apart, Bun + SQLite delivered 7-26 % more at full speed in alternating runs and its
 * p99 there fell from 120-200 ms to ~60 ms. The cost is the second thread: ~2 MB of memory
 * on Bun, ~12 MB on Deno (a V8 isolate).
 *
 * The worker entry is per runtime (it opens its connection with that runtime's driver):
 * `src/adapters/{bun,deno}/sqlite-flusher.ts`, each one line around `runFlusher`.
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { setPriority } from "node:os";
import process from "node:process";
import type { OpenSqlite, SqliteStatement } from "../platform.ts";

/** Indexes into the shared Int32Array. */
const SYNC_REQ = 0; // the last fsync the event loop asked for
const CKPT_REQ = 1; // the last checkpoint the event loop asked for
const WRITES = 2; // commits so far (no notify: the checkpoint thread looks when it wakes)
const STOP = 3;
const SYNC_DB = 4; // the checkpoint request that is to be followed by an fsync of the database
// Bumped after each request to that thread and on stop; the thread waits on its own. A
// thread that found nothing to do waits for the count it read before looking, so a
// request or stop made in between is never slept through.
const SYNC_WAKE = 5;
const CKPT_WAKE = 6;
const SLOTS = 7;
/** The flusher threads' nice values on Linux (see `runSyncs` and `runCheckpoints`). */
export const SYNC_NICE = 19;
export const CHECKPOINT_NICE = 10;
/** Where the event loop's requests are, for tests that play a thread's part. */
export const flusherSlots = { SYNC_REQ, CKPT_REQ, STOP, SYNC_DB } as const;

/** What one thread does: fsyncs of the WAL, or checkpoints (see above). */
export type FlusherRole = "sync" | "checkpoint";

/** What the event loop sends once, to start the worker. */
export interface FlusherOpen {
  readonly type: "open";
  readonly role: FlusherRole;
  readonly path: string;
  readonly walPath: string;
  readonly control: SharedArrayBuffer;
  readonly busyTimeoutMs: number;
  /** Checkpoint at most this often while commits keep coming. */
  readonly checkpointEveryMs: number;
  /** Start an fsync at most this often (0: as soon as asked); see `runFlusher`. */
  readonly syncIntervalMs: number;
}

/** What a checkpoint found and did, in WAL frames (pages). */
export interface CheckpointReport {
  /** The checkpoint request this run answered (0: one the worker started on its own). */
  readonly seq: number;
  /** Frames in the WAL. */
  readonly walFrames: number;
  /** Frames now copied into the database file. */
  readonly backfilled: number;
  /** The database file was fsynced after the copy (asked for with `requestCheckpoint(true)`). */
  readonly databaseSynced?: boolean;
  readonly error?: string;
}

export type FlusherReport =
  | { readonly type: "synced"; readonly seq: number; readonly error?: string }
  | ({ readonly type: "checkpointed" } & CheckpointReport)
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "closed" };

/** The event loop's side of a worker (adapters start it; `workerThread` wraps a Worker). */
export interface FlusherThread {
  post(message: FlusherOpen): void;
  /** `onMessage` hears every report; `onError` once if the thread itself fails. */
  listen(onMessage: (report: FlusherReport) => void, onError: (error: Error) => void): void;
  terminate(): void;
}

/** Starts one thread of the flusher; `Flusher` calls it once per role. */
export type StartSqliteFlusher = () => FlusherThread;

/** A web `Worker` running a flusher entry module, as a `FlusherThread`. */
export function workerThread(entry: URL): FlusherThread {
  const worker = new Worker(entry.href, { type: "module" });
  return {
    post: (message) => worker.postMessage(message),
    listen(onMessage, onError) {
      worker.onmessage = (e: MessageEvent) => onMessage(e.data as FlusherReport);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        onError(new Error(`SQLite flusher thread failed: ${e.message}`));
      };
    },
    terminate: () => worker.terminate(),
  };
}

export interface FlusherEvents {
  /** The fsync asked for by `requestSync()` returning `seq` (and every earlier one) ended. */
  synced(seq: number, error: Error | null): void;
  checkpointed(report: CheckpointReport): void;
  /** The threads are gone; nothing more will be answered. */
  failed(error: Error): void;
}

/** The event loop's handle: asks for fsyncs and checkpoints, hears the answers. */
export class Flusher {
  readonly #threads: FlusherThread[] = [];
  readonly #control: Int32Array;
  #syncSeq = 0;
  #checkpointSeq = 0;
  /** Threads that have closed their connection. */
  #threadsClosed = 0;
  #closed: (() => void) | null = null;
  #gone = false;

  /** Starts both threads (`start` is called once for each). */
  constructor(
    start: StartSqliteFlusher,
    options: Omit<FlusherOpen, "type" | "role" | "control">,
    events: FlusherEvents,
  ) {
    const control = new SharedArrayBuffer(SLOTS * 4);
    this.#control = new Int32Array(control);
    const onReport = (report: FlusherReport): void => {
      // Threads given up on (failed, or closed after a timeout) have nothing more to say.
      if (this.#gone) return;
      switch (report.type) {
        case "synced":
          events.synced(report.seq, report.error === undefined ? null : new Error(report.error));
          break;
        case "checkpointed":
          events.checkpointed(report);
          break;
        case "failed":
          this.#fail(new Error(report.error), events);
          break;
        case "closed":
          // Its connection is closed; ending the threads also lets the process exit (a
          // live worker keeps Bun's running).
          if (++this.#threadsClosed < this.#threads.length) break;
          this.#gone = true;
          this.#terminate();
          this.#closed?.();
          break;
      }
    };
    for (const role of ["sync", "checkpoint"] as const) {
      const thread = start();
      this.#threads.push(thread);
      thread.listen(onReport, (error) => this.#fail(error, events));
      thread.post({ type: "open", role, control, ...options });
    }
  }

  #terminate(): void {
    for (const thread of this.#threads) thread.terminate();
  }

  #fail(error: Error, events: FlusherEvents): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#terminate();
    this.#closed?.();
    events.failed(error);
  }

  #wake(slot: number): void {
    Atomics.add(this.#control, slot, 1);
    Atomics.notify(this.#control, slot);
  }

  /** Asks for an fsync of the WAL as it is now; returns its number for `synced`. */
  requestSync(): number {
    Atomics.store(this.#control, SYNC_REQ, ++this.#syncSeq);
    this.#wake(SYNC_WAKE);
    return this.#syncSeq;
  }

  /**
   * Asks for a checkpoint starting after everything committed so far; with `syncDatabase`,
   * the database file is fsynced after the copy too (see `runFlusher`).
   */
  requestCheckpoint(syncDatabase = false): number {
    const seq = ++this.#checkpointSeq;
    if (syncDatabase) Atomics.store(this.#control, SYNC_DB, seq);
    Atomics.store(this.#control, CKPT_REQ, seq);
    this.#wake(CKPT_WAKE);
    return seq;
  }

  /** Notes a commit, so the checkpoint thread knows there is something to checkpoint. */
  noteWrite(): void {
    Atomics.add(this.#control, WRITES, 1);
  }

  /** Stops the threads after their current step; they close their connections first. */
  close(timeoutMs = 10_000): Promise<void> {
    if (this.#gone) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // A thread stuck in the kernel for this long is not coming back.
        this.#gone = true;
        this.#terminate();
        resolve();
      }, timeoutMs);
      this.#closed = () => {
        clearTimeout(timer);
        resolve();
      };
      Atomics.store(this.#control, STOP, 1);
      // Also ends a wait between two fsyncs (see `runSyncs`).
      Atomics.notify(this.#control, STOP);
      this.#wake(SYNC_WAKE);
      this.#wake(CKPT_WAKE);
    });
  }
}

/** How the worker talks to the event loop (adapters pass their worker's `self`). */
export interface FlusherScope {
  post(report: FlusherReport): void;
  /** Calls `handler` with the first message the event loop sends. */
  onOpen(handler: (open: FlusherOpen) => void): void;
}

/** The `FlusherScope` of the worker this code runs in (`postMessage` / `onmessage` on its global). */
export function workerScope(): FlusherScope {
  const self = globalThis as unknown as {
    postMessage(message: unknown): void;
    onmessage: ((event: { data: unknown }) => void) | null;
  };
  return {
    post: (report) => self.postMessage(report),
    onOpen(handler) {
      self.onmessage = (event) => {
        self.onmessage = null;
        handler(event.data as FlusherOpen);
      };
    },
  };
}

/**
 * Lowers this thread's priority (on Linux `setpriority(0)` applies to the calling thread
 * only): on a busy core the event loop, which delivers messages, goes first; an fsync that
 * waits a little delays only acknowledgements. Where the OS refuses or applies it to the
 * whole process (not Linux), nothing changes: the priority is only set if it is one thread's.
 */
function lowerThreadPriority(nice: number): void {
  if (process.platform !== "linux") return;
  try {
    setPriority(nice);
  } catch {
    // Not allowed here: the thread runs at the process's priority, as before.
  }
}

/** A file fsynced through one descriptor, opened at the first fsync and kept. */
class KeptFile {
  #fd: number | null = null;
  constructor(private readonly path: string) {}

  sync(): void {
    this.#fd ??= openSync(this.path, "r+");
    fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/**
 * A worker's whole life: wait for work in shared memory, fsync or checkpoint, report. It
 * blocks in `Atomics.wait` between steps and never returns to its own event loop until
 * told to stop; reports are plain `postMessage`s, which need no event loop to send.
 */
export function runFlusher(openSqlite: OpenSqlite, scope: FlusherScope): void {
  scope.onOpen((open) => {
    const control = new Int32Array(open.control);
    if (open.role === "sync") runSyncs(open, control, scope);
    else runCheckpoints(openSqlite, open, control, scope);
  });
}

/** The sync thread: fsyncs of the WAL, which commits wait on. It needs no connection. */
function runSyncs(open: FlusherOpen, control: Int32Array, scope: FlusherScope): void {
  // Nice 19: on the server's one core, each fsync (~140 µs of CPU on the development VM,
  // mostly the virtual disk's doorbell) otherwise held the event loop off the core while
  // messages waited to be read. Bun + SQLite at 5,000 msg/s, alternating runs: p99 545-684
  // µs against 692-782 at nice 10; 1-4 % less at full speed, where acknowledgements wait a
  // little longer for the fsync that covers them.
  lowerThreadPriority(SYNC_NICE);
  // The WAL exists before the first commit asks for an fsync.
  const wal = new KeptFile(open.walPath);
  let syncSeen = 0;
  let lastSyncAt = -Infinity;
  for (;;) {
    const wake = Atomics.load(control, SYNC_WAKE);
    // Before stopping too: commits wait on it.
    if (Atomics.load(control, SYNC_REQ) !== syncSeen) {
      // Paced: at most one fsync per syncIntervalMs. The event loop asks with every
      // commit, so a server committing often would otherwise fsync back to back (on the
      // development VM 2,500 fsyncs a second at 5,000 msg/s, and the hypervisor took the
      // core away for ~10 ms at a time, 5 % of the run). Commits written during the wait
      // share the fsync that follows it: only acknowledgements wait, never writes or
      // deliveries.
      const wait = lastSyncAt + open.syncIntervalMs - performance.now();
      if (wait > 0 && Atomics.load(control, STOP) === 0) Atomics.wait(control, STOP, 0, wait);
      // Read after the wait: every request up to this one was written before it was made.
      const syncReq = Atomics.load(control, SYNC_REQ);
      syncSeen = syncReq;
      lastSyncAt = performance.now();
      try {
        wal.sync();
        scope.post({ type: "synced", seq: syncReq });
      } catch (e) {
        scope.post({ type: "synced", seq: syncReq, error: message(e) });
      }
      continue;
    }
    if (Atomics.load(control, STOP) !== 0) break;
    Atomics.wait(control, SYNC_WAKE, wake);
  }
  try {
    wal.close();
  } finally {
    scope.post({ type: "closed" });
  }
}

/**
 * The checkpoint thread: copies the WAL into the database file with its own connection, in
 * PASSIVE mode, which never blocks the writer; with `synchronous = NORMAL` on its
 * connection SQLite fsyncs the WAL before copying and the database after, as its own
 * checkpoints do.
 */
function runCheckpoints(
  openSqlite: OpenSqlite,
  open: FlusherOpen,
  control: Int32Array,
  scope: FlusherScope,
): void {
  let checkpoint: SqliteStatement;
  let close: () => void;
  try {
    const db = openSqlite(open.path);
    close = () => db.close();
    db.exec(`PRAGMA busy_timeout = ${open.busyTimeoutMs}`);
    // NORMAL: a checkpoint fsyncs the WAL before it copies and the database after.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  } catch (e) {
    scope.post({ type: "failed", error: `cannot open ${open.path}: ${message(e)}` });
    return;
  }
  // Nice 10, not 19: a checkpoint must keep up with a server writing at full speed, or the
  // WAL grows until commits wait for it to start over.
  lowerThreadPriority(CHECKPOINT_NICE);
  const database = new KeptFile(open.path);
  let checkpointSeen = 0;
  let writesSeen = Atomics.load(control, WRITES);
  let lastCheckpoint = performance.now();
  for (;;) {
    const wake = Atomics.load(control, CKPT_WAKE);
    if (Atomics.load(control, STOP) !== 0) break;
    const checkpointReq = Atomics.load(control, CKPT_REQ);
    const writes = Atomics.load(control, WRITES);
    const now = performance.now();
    const due = writes !== writesSeen && now - lastCheckpoint >= open.checkpointEveryMs;
    if (checkpointReq !== checkpointSeen || due) {
      checkpointSeen = checkpointReq;
      writesSeen = writes;
      lastCheckpoint = now;
      let report = runCheckpoint(checkpoint, checkpointReq);
      if (checkpointReq !== 0 && Atomics.load(control, SYNC_DB) === checkpointReq) {
        // SQLite fsyncs the database file only when a checkpoint copies the whole WAL,
        // which under steady commits is only the one that restarts it, while commits are
        // held: that fsync then writes back every page copied since the last restart
        // (7-9 ms on the development VM with the 8192-frame default, 21 ms at 65536),
        // and every message arriving meanwhile waits. Done here, after the catch-up, it
        // runs while commits go on, and the held one flushes only the few pages copied
        // during the hold.
        try {
          database.sync();
          report = { ...report, databaseSynced: true };
        } catch (e) {
          report = { ...report, error: `fsync of the database: ${message(e)}` };
        }
      }
      scope.post({ type: "checkpointed", ...report });
      continue;
    }
    // Woken by a request, or in time for the next checkpoint if commits have come since.
    Atomics.wait(control, CKPT_WAKE, wake, open.checkpointEveryMs);
  }
  try {
    database.close();
    close();
  } finally {
    scope.post({ type: "closed" });
  }
}

function runCheckpoint(checkpoint: SqliteStatement, seq: number): CheckpointReport {
  try {
    const row = checkpoint.get();
    // (busy, log, checkpointed); log and checkpointed are -1 when the file is not in WAL mode.
    return {
      seq,
      walFrames: Math.max(0, Number(row?.log ?? 0)),
      backfilled: Math.max(0, Number(row?.checkpointed ?? 0)),
    };
  } catch (e) {
    return { seq, walFrames: 0, backfilled: 0, error: message(e) };
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
