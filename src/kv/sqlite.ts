/**
 * A durable store in one SQLite file, through the runtime's driver (`OpenSqlite` is
 * injected; this module never names `bun:sqlite` or `node:sqlite`).
 *
 * Several processes may open the same file (the CLI next to a running server): the file is
 * in WAL mode so readers never block the writer, `busy_timeout` makes a writer wait for
 * another process's transaction instead of failing, and every commit runs inside
 * `BEGIN IMMEDIATE … COMMIT` and takes its versionstamp from a counter row in the same
 * file, so two processes can never hand out the same versionstamp.
 *
 * Schema (version 1):
 *   kv(k BLOB PRIMARY KEY, v BLOB NOT NULL, vs INTEGER NOT NULL) WITHOUT ROWID
 *     k  = key-codec bytes (BLOBs compare with memcmp, i.e. in tuple order)
 *     v  = value-codec bytes
 *     vs = commit number; the versionstamp is its 20-digit hex form
 *   kv_meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID
 *     'version' = the highest commit number handed out or reserved (see `#nextVersion`),
 *     'schema' = schema version
 */
import type { OpenSqlite, SqliteDatabase, SqliteStatement } from "../platform.ts";
import { closeSync, fsync, fsyncSync, openSync } from "node:fs";
import { EngineKv, formatVersionstamp } from "./engine.ts";
import { Flusher } from "./sqlite-flusher.ts";
import type { CheckpointReport, StartSqliteFlusher } from "./sqlite-flusher.ts";
import type { KvEngine, RawCheck, RawEntry, RawMutation } from "./engine.ts";
import type { KvCapabilities, KvStoreStats } from "./kv.ts";
import { sumEncoded } from "./value-codec.ts";

/**
 * Durability: "full" (default) makes every commit durable before it resolves,
 * surviving power loss; "normal" survives a crash of the process but may lose
 * the last commits on power loss; "off" leaves syncing to the OS.
 *
 * "full" is not SQLite's synchronous=FULL, which fsyncs inside COMMIT and so
 * blocks the event loop (both runtimes' SQLite drivers are synchronous) for
 * every transaction. Instead the connection runs synchronous=NORMAL, and
 * after COMMIT has written the WAL the commit's promise waits for an fsync of
 * the WAL file run on the runtime's worker threads; commits that finish while
 * one fsync runs share the next. The bytes on disk and the guarantee are the
 * same, but the event loop keeps serving while the disk flushes.
 *
 * With a flusher (`startFlusher`, what the server uses) those fsyncs and all WAL
 * checkpoints run on two threads of their own, see `sqlite-flusher.ts`; without one (the
 * CLI's short commands) fsyncs go through `fs.fsync` and SQLite checkpoints inside COMMIT as
 * usual.
 */
export type SqliteSynchronous = "full" | "normal" | "off";

export interface SqliteKvOptions {
  readonly openSqlite: OpenSqlite;
  /** Database file; created when missing. */
  readonly path: string;
  /** Defaults to "full". */
  readonly synchronous?: SqliteSynchronous;
  /** How long a commit waits for another process's write lock; defaults to 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** Runs fsyncs and checkpoints on two other threads (not used with synchronous "off"). */
  readonly startFlusher?: StartSqliteFlusher;
  /**
   * With a flusher: once the WAL holds this many frames (pages), new commits wait while the
   * flusher copies the rest into the database, so that the next commit can start the WAL
   * over. Defaults to 8192 (32 MiB with 4 KiB pages).
   */
  readonly walRestartFrames?: number;
  /**
   * The longest commits are held for a WAL restart; default 25 ms. Past it they go ahead
   * (the WAL starts over at a later try): a checkpoint stuck behind a slow disk must not
   * stall writes, and with them deliveries, for as long as the disk takes.
   */
  readonly maxCommitHoldMs?: number;
  /**
   * After a hold that ran out (maxCommitHoldMs), the next WAL restart is tried no sooner than
   * this; the wait doubles after each such hold, up to 10 s, and is back to this after a
   * restart. Default 1000 ms. Under sustained full load the restart's checkpoint takes
   * longer than a hold may last, so every try would fail: trying at every checkpoint stalled
   * commits 25 ms at a time, 4.6 % of a full-speed run (see walMaxFrames for what bounds the
   * WAL then).
   */
  readonly restartRetryMs?: number;
  /**
   * Once the WAL holds this many frames, a restart is tried without waiting out
   * restartRetryMs and its hold may last up to maxForcedHoldMs: under sustained full load
   * every 25 ms hold runs out, and the WAL would otherwise grow for as long as the load lasts
   * (~50 MB a second on the development VM). Default 4 x walRestartFrames (128 MiB).
   */
  readonly walMaxFrames?: number;
  /**
   * The longest hold of a restart forced by walMaxFrames; default 250 ms or maxCommitHoldMs.
   * Such holds took 10-52 ms at full speed on the development VM; a hold that runs this
   * long is a disk in a slow spell, and every delivery waits it out: a client that sees no
   * delivery for a second may presume its messages lost and send them again (an injected
   * 1.5 s fsync did that to the benchmark's clients with a 1 s limit, not with 250 ms). Past
   * it the WAL grows until a later try (see restartRetryMs).
   */
  readonly maxForcedHoldMs?: number;
  /**
   * Told each time a hold forced by walMaxFrames reaches maxForcedHoldMs before the WAL
   * emptied: every delivery waited that long for a disk in a slow spell, and the WAL keeps
   * growing until the next try (`nextTryMs` from now). The server logs it.
   */
  readonly onForcedHoldRanOut?: (report: ForcedHoldReport) => void;
  /** With a flusher: checkpoint at most this often while commits come in; default 200 ms. */
  readonly checkpointEveryMs?: number;
  /**
   * With a flusher and "full": start an fsync of the WAL at most this often; default 2 ms.
   * Commits that finish meanwhile share the next one, so a busy server's disk sees at most
   * 1000 / syncIntervalMs flushes a second, at the price of up to this much longer waits for
   * acknowledgements (deliveries never wait for an fsync). 0: each fsync starts as soon as
   * the previous one returns.
   */
  readonly syncIntervalMs?: number;
}

/** A forced WAL-restart hold that ran out (see `onForcedHoldRanOut`). */
export interface ForcedHoldReport {
  /** How long commits were held, in milliseconds. */
  readonly heldMs: number;
  /** The WAL's length in pages at the last checkpoint. */
  readonly walFrames: number;
  /** Milliseconds until the next forced try. */
  readonly nextTryMs: number;
}

/** The longest `syncIntervalMs`: beyond it acknowledgements would wait too long to be useful. */
export const MAX_SYNC_INTERVAL_MS = 1000;

/** Checkpoints, each with an fsync of the database file, before commits wait for a WAL restart. */
const CATCH_UP_CHECKPOINTS = 2;

/** The longest wait between WAL restart tries that keep running out, unless `restartRetryMs` is longer. */
const MAX_RESTART_BACKOFF_MS = 10_000;

/** Page cache per connection, in KiB (see the constructor). */
const CACHE_KIB = 8192;

/** A commit waiting for the fsync that makes it durable. */
interface SyncWaiter {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** A commit that arrived while the WAL is being emptied (see `walRestartFrames`). */
interface DeferredCommit {
  readonly checks: readonly RawCheck[];
  readonly mutations: readonly RawMutation[];
  readonly onApplied: ((versionstamp: string) => void) | undefined;
  readonly resolve: (versionstamp: string | null) => void;
  readonly reject: (e: unknown) => void;
}

const SCHEMA_VERSION = 1;
/** Commit numbers a connection reserves at a time (see `#nextVersion`). */
const VERSION_BLOCK = 1024;
const SYNCHRONOUS: Record<SqliteSynchronous, string> = {
  full: "NORMAL", // plus an fsync of the WAL per commit, off the event loop (see above)
  normal: "NORMAL",
  off: "OFF",
};

interface Statements {
  get: SqliteStatement;
  upsert: SqliteStatement;
  delete: SqliteStatement;
  scanAsc: SqliteStatement;
  scanDesc: SqliteStatement;
  reserveVersions: SqliteStatement;
  dataVersion: SqliteStatement;
  begin: SqliteStatement;
  beginImmediate: SqliteStatement;
  commit: SqliteStatement;
  rollback: SqliteStatement;
  ping: SqliteStatement;
}

function asBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new Error(`corrupt SQLite KV row: ${what} is ${typeof v}, expected a BLOB`);
}

function rowEntry(row: Record<string, unknown>): RawEntry {
  return {
    key: asBytes(row.k, "key"),
    value: asBytes(row.v, "value"),
    versionstamp: formatVersionstamp(Number(row.vs)),
  };
}

class SqliteEngine implements KvEngine {
  readonly capabilities: KvCapabilities = { durable: true, sharedAcrossProcesses: true };
  readonly #db: SqliteDatabase;
  readonly #stmt: Statements;
  readonly #walPath: string;
  /** Commits wait for a WAL fsync before they resolve ("full"). */
  readonly #syncCommits: boolean;
  #walFd: number | null = null;
  /** Without a flusher: an `fs.fsync` is running, and the commits waiting for the next. */
  #syncRunning = false;
  #syncWaiters: SyncWaiter[] = [];
  #flusher: Flusher | null = null;
  /** With a flusher: commits waiting for an fsync, each with its request number, oldest first. */
  #flusherWaits: (SyncWaiter & { readonly seq: number })[] = [];
  readonly #walRestartFrames: number;
  /** The checkpoint that catches up before a WAL restart (0: none running). */
  #catchUpCheckpoint = 0;
  /** Catch-up checkpoints still to come after it. */
  #catchUpsLeft = 0;
  /** Non-zero while commits wait for the checkpoint with this number. */
  #restartCheckpoint = 0;
  #deferred: DeferredCommit[] = [];
  /** For `storeStats()`. */
  #checkpoints = 0;
  #walRestarts = 0;
  #walFrames = 0;
  #holdSeconds = 0;
  #holdsRanOut = 0;
  #fsyncs = 0;
  #holdStartedAt = 0;
  readonly #maxHoldMs: number;
  readonly #walMaxFrames: number;
  readonly #maxForcedHoldMs: number;
  readonly #onForcedHoldRanOut: ((report: ForcedHoldReport) => void) | undefined;
  /** The hold running is one forced by walMaxFrames. */
  #holdForced = false;
  /** `performance.now()` before which no forced restart is tried (after one ran out). */
  #forcedRetryAt = 0;
  readonly #restartRetryMs: number;
  /** The wait before the next try after a hold that ran out (see `restartRetryMs`). */
  #restartBackoffMs: number;
  /** `performance.now()` before which no restart is tried. */
  #restartRetryAt = 0;
  #holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next commit number of this connection's reserved block, and the block's last. */
  #versionNext = 1;
  #versionLast = 0;
  /** `PRAGMA data_version` when the block was reserved: it changes when another connection commits. */
  #dataVersion = -1;

  constructor(options: SqliteKvOptions) {
    const synchronous = options.synchronous ?? "full";
    if (!(synchronous in SYNCHRONOUS)) {
      throw new TypeError(`invalid synchronous mode "${synchronous}": use full, normal or off`);
    }
    const busy = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busy) || busy < 0) throw new TypeError(`invalid busyTimeoutMs ${busy}`);

    const restart = options.walRestartFrames ?? 8192;
    if (!Number.isInteger(restart) || restart < 1) {
      throw new TypeError(`invalid walRestartFrames ${restart}`);
    }
    this.#walRestartFrames = restart;
    const maxHold = options.maxCommitHoldMs ?? 25;
    if (!(maxHold >= 0)) throw new TypeError(`invalid maxCommitHoldMs ${maxHold}`);
    this.#maxHoldMs = maxHold;
    const walMax = options.walMaxFrames ?? 4 * restart;
    if (!Number.isInteger(walMax) || walMax < restart) {
      throw new TypeError(`invalid walMaxFrames ${walMax}: at least walRestartFrames`);
    }
    this.#walMaxFrames = walMax;
    const forcedHold = options.maxForcedHoldMs ?? Math.max(250, maxHold);
    if (!(forcedHold >= maxHold)) {
      throw new TypeError(`invalid maxForcedHoldMs ${forcedHold}: at least maxCommitHoldMs`);
    }
    this.#maxForcedHoldMs = forcedHold;
    this.#onForcedHoldRanOut = options.onForcedHoldRanOut;
    const retry = options.restartRetryMs ?? 1000;
    if (!(retry >= 0)) throw new TypeError(`invalid restartRetryMs ${retry}`);
    this.#restartRetryMs = retry;
    this.#restartBackoffMs = retry;
    const syncIntervalMs = options.syncIntervalMs ?? 2;
    if (!(syncIntervalMs >= 0 && syncIntervalMs <= MAX_SYNC_INTERVAL_MS)) {
      throw new TypeError(`invalid syncIntervalMs ${syncIntervalMs}`);
    }
    this.#walPath = `${options.path}-wal`;
    this.#syncCommits = synchronous === "full";
    const db = options.openSqlite(options.path);
    try {
      // busy_timeout first: switching to WAL and creating the schema may already have to
      // wait for another process that is opening the same file.
      db.exec(`PRAGMA busy_timeout = ${busy}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${SYNCHRONOUS[synchronous]}`);
      // 8 MiB of page cache rather than SQLite's 2 MiB: a history row of several messages
      // spills into overflow pages, which every insert beside it reads again to compare
      // keys; with the small cache those reads went to the file (8 % of the server's time
      // at full speed, Bun + 50 pairs; 1.5 % with this).
      db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
      // SQLite starts a WAL over from its beginning but never shrinks the file; after a burst
      // that grew it (see walMaxFrames) the first commit of the next cycle cuts it back to
      // twice the length a steady load reaches (more would be cut back and grown again each
      // cycle, and appending costs more than overwriting).
      const pageSize = Number(db.prepare("PRAGMA page_size").get()?.page_size ?? 4096);
      db.exec(`PRAGMA journal_size_limit = ${2 * restart * pageSize}`);
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec(
          "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL, vs INTEGER NOT NULL) WITHOUT ROWID",
        );
        db.exec(
          "CREATE TABLE IF NOT EXISTS kv_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        );
        db.exec("INSERT OR IGNORE INTO kv_meta (name, value) VALUES ('version', 0)");
        db.exec(`INSERT OR IGNORE INTO kv_meta (name, value) VALUES ('schema', ${SCHEMA_VERSION})`);
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
      const schema = db.prepare("SELECT value FROM kv_meta WHERE name = 'schema'").get();
      if (Number(schema?.value) !== SCHEMA_VERSION) {
        throw new Error(
          `${options.path}: KV schema version ${schema?.value} is not supported (expected ${SCHEMA_VERSION})`,
        );
      }
      this.#stmt = {
        get: db.prepare("SELECT k, v, vs FROM kv WHERE k = ?"),
        upsert: db.prepare(
          "INSERT INTO kv (k, v, vs) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v, vs = excluded.vs",
        ),
        delete: db.prepare("DELETE FROM kv WHERE k = ?"),
        scanAsc: db.prepare(
          "SELECT k, v, vs FROM kv WHERE k >= ? AND k < ? ORDER BY k ASC LIMIT ?",
        ),
        scanDesc: db.prepare(
          "SELECT k, v, vs FROM kv WHERE k >= ? AND k < ? ORDER BY k DESC LIMIT ?",
        ),
        reserveVersions: db.prepare(
          "UPDATE kv_meta SET value = value + ? WHERE name = 'version' RETURNING value",
        ),
        dataVersion: db.prepare("PRAGMA data_version"),
        begin: db.prepare("BEGIN"),
        beginImmediate: db.prepare("BEGIN IMMEDIATE"),
        commit: db.prepare("COMMIT"),
        rollback: db.prepare("ROLLBACK"),
        ping: db.prepare("SELECT 1 AS ok"),
      };
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    if (options.startFlusher !== undefined && synchronous !== "off") {
      // The flusher checkpoints; SQLite must not also do it inside our COMMITs.
      db.exec("PRAGMA wal_autocheckpoint = 0");
      this.#flusher = new Flusher(options.startFlusher, {
        path: options.path,
        walPath: this.#walPath,
        busyTimeoutMs: busy,
        checkpointEveryMs: options.checkpointEveryMs ?? 200,
        syncIntervalMs,
      }, {
        synced: (seq, error) => {
          this.#flusherSynced(seq, error);
        },
        checkpointed: (report) => this.#checkpointed(report),
        failed: (error) => this.#flusherFailed(error),
      });
    }
  }

  /**
   * After each checkpoint: start the WAL over once it has grown long (walRestartFrames).
   * Under steady load the checkpoints never quite catch up with the writer, and SQLite only
   * starts the WAL over when a commit begins with every frame copied. So: two checkpoints
   * right away to catch up, each followed by an fsync of the database file, while commits
   * go on; then new commits wait for one more that copies the frames written meanwhile and
   * fsyncs the database again (a few milliseconds, every walRestartFrames pages). Each
   * catch-up leaves the held one less to copy and write back: holds at 5,000 msg/s on the
   * development VM were 8-9 ms with none, 5.9 ms with one, 4.6 ms with two. (The second
   * once cost ~5 % of full-speed throughput, when its fsync held back the WAL's on the same
   * thread; on the checkpoint thread of its own it costs none.)
   */
  #checkpointed(report: CheckpointReport): void {
    const flusher = this.#flusher;
    if (flusher === null) return;
    this.#checkpoints++;
    this.#walFrames = report.walFrames;
    if (this.#restartCheckpoint !== 0) {
      if (report.seq < this.#restartCheckpoint) return;
      // Emptied (or as far as another process's readers allow): the next commit starts
      // the WAL from its beginning, whichever it is.
      if (report.error === undefined && report.backfilled === report.walFrames) {
        this.#walRestarts++;
        this.#restartBackoffMs = this.#restartRetryMs;
      }
      this.#endHold();
    } else if (this.#catchUpCheckpoint !== 0) {
      if (report.seq < this.#catchUpCheckpoint) return;
      this.#catchUpCheckpoint = 0;
      if (report.error !== undefined) return;
      if (this.#catchUpsLeft > 0) {
        this.#catchUpsLeft--;
        this.#catchUpCheckpoint = flusher.requestCheckpoint(true);
      } else {
        this.#restartCheckpoint = flusher.requestCheckpoint();
        this.#holdStartedAt = performance.now();
        this.#holdForced = report.walFrames >= this.#walMaxFrames;
        // Its report comes later or never: either way this hold ends, and a checkpoint
        // report after the back-off starts the next try.
        this.#holdTimer = setTimeout(
          () => this.#holdRanOut(),
          this.#holdForced ? this.#maxForcedHoldMs : this.#maxHoldMs,
        );
      }
    } else if (report.walFrames >= this.#walRestartFrames && report.error === undefined) {
      // A WAL past walMaxFrames waits out only the back-off of forced tries that ran out.
      const forced = report.walFrames >= this.#walMaxFrames;
      if (performance.now() < (forced ? this.#forcedRetryAt : this.#restartRetryAt)) return;
      this.#catchUpsLeft = CATCH_UP_CHECKPOINTS - 1;
      this.#catchUpCheckpoint = flusher.requestCheckpoint(true);
    }
  }

  #flusherFailed(error: Error): void {
    this.#flusher = null;
    // The fsyncs it was asked for may not have happened. One started now covers everything
    // written so far, so their commits just wait for that one; SQLite checkpoints by itself.
    this.#fsyncOnEventLoop(this.#takeFlusherWaits());
    try {
      this.#db.exec("PRAGMA wal_autocheckpoint = 1000");
    } catch {
      // The connection is closing; nothing to restore.
    }
    console.error(`${error.message}; fsyncs and checkpoints run on the event loop from now on`);
    this.#catchUpCheckpoint = 0;
    this.#endHold();
  }

  #holdRanOut(): void {
    this.#holdsRanOut++;
    const now = performance.now();
    const heldMs = now - this.#holdStartedAt;
    const nextTryMs = this.#restartBackoffMs;
    this.#restartRetryAt = now + nextTryMs;
    if (this.#holdForced) this.#forcedRetryAt = this.#restartRetryAt;
    this.#restartBackoffMs = Math.min(
      this.#restartBackoffMs * 2,
      Math.max(MAX_RESTART_BACKOFF_MS, this.#restartRetryMs),
    );
    this.#endHold();
    if (this.#holdForced) {
      this.#onForcedHoldRanOut?.({ heldMs, walFrames: this.#walFrames, nextTryMs });
    }
  }

  /** Commits held for a WAL restart go ahead. */
  #endHold(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (this.#restartCheckpoint !== 0) {
      this.#restartCheckpoint = 0;
      this.#holdSeconds += (performance.now() - this.#holdStartedAt) / 1000;
    }
    this.#runDeferred();
  }

  storeStats(): KvStoreStats {
    return {
      flusherUp: this.#flusher !== null,
      checkpoints: this.#checkpoints,
      walRestarts: this.#walRestarts,
      walFrames: this.#walFrames,
      fsyncs: this.#fsyncs,
      commitHoldSeconds: this.#holdSeconds,
      commitHoldsRanOut: this.#holdsRanOut,
    };
  }

  #runDeferred(): void {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const d of deferred) {
      try {
        const result = this.commit(d.checks, d.mutations, d.onApplied);
        if (typeof result === "object" && result !== null) result.then(d.resolve, d.reject);
        else d.resolve(result);
      } catch (e) {
        d.reject(e);
      }
    }
  }

  get(key: Uint8Array): RawEntry | null {
    const row = this.#stmt.get.get(key);
    return row ? rowEntry(row) : null;
  }

  getMany(keys: readonly Uint8Array[]): (RawEntry | null)[] {
    // One read transaction so all answers come from the same snapshot, even while another
    // process commits in between.
    const s = this.#stmt;
    s.begin.run();
    try {
      return keys.map((k) => this.get(k));
    } finally {
      s.commit.run();
    }
  }

  scan(start: Uint8Array, end: Uint8Array, limit: number, reverse: boolean): RawEntry[] {
    const stmt = reverse ? this.#stmt.scanDesc : this.#stmt.scanAsc;
    return stmt.all(start, end, limit).map(rowEntry);
  }

  commit(
    checks: readonly RawCheck[],
    mutations: readonly RawMutation[],
    onApplied?: (versionstamp: string) => void,
  ): string | null | Promise<string | null> {
    if (this.#restartCheckpoint !== 0) {
      return new Promise((resolve, reject) => {
        this.#deferred.push({ checks, mutations, onApplied, resolve, reject });
      });
    }
    const versionstamp = this.#commitNow(checks, mutations);
    this.#flusher?.noteWrite();
    if (versionstamp === null || !this.#syncCommits) return versionstamp;
    const durable = this.#durable().then(() => versionstamp);
    onApplied?.(versionstamp);
    return durable;
  }

  /** Resolves once everything committed so far is on disk (an fsync of the WAL). */
  #durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      const flusher = this.#flusher;
      if (flusher !== null) {
        // Asked at once, even while an fsync runs or the thread waits to start the next
        // (syncIntervalMs): the thread reads the newest request just before each fsync,
        // so every commit written by then shares it.
        this.#flusherWaits.push({ seq: flusher.requestSync(), resolve, reject });
      } else {
        this.#fsyncOnEventLoop([{ resolve, reject }]);
      }
    });
  }

  /** The flusher's fsync for request `seq` returned: it covers that request and all before. */
  #flusherSynced(seq: number, error: Error | null): void {
    this.#fsyncs++;
    const waits = this.#flusherWaits;
    let n = 0;
    while (n < waits.length && waits[n].seq <= seq) n++;
    if (n === 0) return;
    for (const w of waits.splice(0, n)) error === null ? w.resolve() : w.reject(error);
  }

  #takeFlusherWaits(): SyncWaiter[] {
    const waits = this.#flusherWaits;
    this.#flusherWaits = [];
    return waits;
  }

  /** Without a flusher: one `fs.fsync` at a time; commits that finish meanwhile share the next. */
  #fsyncOnEventLoop(waiters: readonly SyncWaiter[]): void {
    for (const w of waiters) this.#syncWaiters.push(w);
    if (this.#syncRunning || this.#syncWaiters.length === 0) return;
    const batch = this.#syncWaiters;
    this.#syncWaiters = [];
    this.#syncRunning = true;
    this.#fsyncWal((err) => {
      this.#fsyncs++;
      this.#syncRunning = false;
      for (const w of batch) err ? w.reject(err) : w.resolve();
      // Commits that finished during this fsync need one that starts after them.
      this.#fsyncOnEventLoop([]);
    });
  }

  /** An fsync of the WAL through `fs.fsync` (the runtime's I/O threads). */
  #fsyncWal(finish: (err: unknown) => void): void {
    try {
      fsync(this.#walDescriptor(), finish);
    } catch (err) {
      finish(err);
    }
  }

  /** The WAL file lives as long as the database is open: one descriptor serves. */
  #walDescriptor(): number {
    return this.#walFd ??= openSync(this.#walPath, "r+");
  }

  #commitNow(checks: readonly RawCheck[], mutations: readonly RawMutation[]): string | null {
    const s = this.#stmt;
    // IMMEDIATE takes the write lock up front: checks and writes see no other writer, and a
    // concurrent process waits (busy_timeout) instead of failing halfway with SQLITE_BUSY.
    s.beginImmediate.run();
    let done = false;
    try {
      for (const check of checks) {
        const row = s.get.get(check.key);
        const current = row ? formatVersionstamp(Number(row.vs)) : null;
        if (current !== check.versionstamp) return null;
      }
      const version = this.#nextVersion();
      for (const m of mutations) {
        if (m.type === "set") {
          s.upsert.run(m.key, m.value, version);
        } else if (m.type === "delete") {
          s.delete.run(m.key);
        } else {
          // Reads inside the transaction, so it sees this commit's earlier mutations.
          const row = s.get.get(m.key);
          s.upsert.run(m.key, sumEncoded(row ? asBytes(row.v, "value") : null, m.n), version);
        }
      }
      s.commit.run();
      done = true;
      return formatVersionstamp(version);
    } finally {
      if (!done) this.#rollback();
    }
  }

  /**
   * The commit number for the transaction in progress. Numbers come from a block reserved in
   * kv_meta, so that a commit does not also write that row: one page less per commit, which
   * is half of what a one-message commit writes to the WAL. A commit by another connection
   * (another process, or the CLI's handle) voids what is left of the block: that connection
   * reserved past it, and commit numbers must keep increasing in commit order. Unused numbers
   * are skipped, never handed out twice (the row always holds the end of the last block).
   */
  #nextVersion(): number {
    const s = this.#stmt;
    const seen = Number(s.dataVersion.get()?.data_version);
    if (seen !== this.#dataVersion || this.#versionNext > this.#versionLast) {
      const last = Number(s.reserveVersions.get(VERSION_BLOCK)?.value);
      if (!Number.isSafeInteger(last) || last < VERSION_BLOCK) {
        throw new Error("corrupt SQLite KV: the commit counter is missing");
      }
      this.#dataVersion = seen;
      this.#versionNext = last - VERSION_BLOCK + 1;
      this.#versionLast = last;
    }
    return this.#versionNext++;
  }

  #rollback(): void {
    // A block reserved in this transaction is rolled back with it.
    this.#versionLast = 0;
    try {
      this.#stmt.rollback.run();
    } catch {
      // SQLite already rolled back (e.g. COMMIT itself failed); keep the original error.
    }
  }

  ping(): void {
    this.#stmt.ping.get();
  }

  async close(): Promise<void> {
    // Commits held for a WAL restart go ahead; then the worker stops and closes its
    // connection before ours, so ours is the last and checkpoints the WAL away.
    this.#endHold();
    await this.#flusher?.close();
    this.#flusher = null;
    const waits = this.#takeFlusherWaits();
    if (waits.length > 0) {
      // Only when the worker had to be abandoned: whether it ran its last fsyncs is
      // unknown, so run one here (closing, so blocking the event loop does not matter).
      try {
        fsyncSync(this.#walDescriptor());
        for (const w of waits) w.resolve();
      } catch (err) {
        for (const w of waits) w.reject(err);
      }
    }
    if (this.#walFd !== null) closeSync(this.#walFd);
    this.#walFd = null;
    this.#db.close();
  }
}

/** A store in the SQLite file at `options.path`. */
export class SqliteKv extends EngineKv {
  constructor(options: SqliteKvOptions) {
    super(new SqliteEngine(options));
  }
}
