import { readdirSync, readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import process from "node:process";

/**
 * Lowers the scheduling priority (raises the nice value) of the runtime's own helper
 * threads: JIT compilers, garbage-collector helpers, allocator scavengers, hashing pools.
 *
 * Why: the event loop delivers every message, and on a busy or single core a helper thread
 * that the kernel lets run its full time slice holds the event loop off the core for
 * milliseconds. Bun's JIT compiler threads used 0.6 s of a 16 s benchmark run on the
 * server's core, and at 5,000 msg/s most messages that waited over 1 ms before the server
 * read them waited while neither solec code nor a garbage collection ran; with these
 * threads at nice 10 the p99 went from 1.7-2.3 to 1.1-2.0 ms (BENCHMARKS.md). At nice 10 a
 * helper still gets a tenth of a contended core and all of an idle one.
 *
 * A nice value sets a thread's share of a contended core, not how long it keeps the core
 * once it has it: Linux's scheduler (EEVDF) lets a running thread finish its time slice
 * before a thread that wakes, so a message that arrives while the allocator's scavenger
 * runs waits for the scavenger's whole pass (0.3-0.4 ms). Threads whose work can always
 * wait are put in `SCHED_IDLE` instead (`idleNames`, where the platform can set it), which
 * a waking thread of any other policy preempts at once.
 *
 * Linux only (per-thread nice via `setpriority` on a thread id, thread names in
 * `/proc/self/task/TID/comm`); elsewhere, and wherever the OS refuses, nothing changes.
 * Only threads whose name matches the runtime adapter's pattern are touched (threads the
 * event loop may spin on while waiting must not be), never the main thread, and a priority
 * is only ever lowered. Runtimes start helpers lazily (a JIT thread at the first hot
 * function, a pool thread at the first hash), so the threads are looked at again every
 * `rescanMs`.
 */
export interface HelperThreadsOptions {
  /** Thread names (`comm`, at most 15 characters) to lower. */
  readonly names: RegExp;
  /** The nice value to give them, 1-19. */
  readonly nice: number;
  /**
   * Of those, the threads to put in `SCHED_IDLE` instead (see `Platform.idleHelperThreads`),
   * with `setIdle`; a thread the call fails for gets the nice value.
   */
  readonly idleNames?: RegExp;
  /** Puts a thread of this process in `SCHED_IDLE`; returns whether the kernel took it. */
  readonly setIdle?: (tid: number) => boolean;
  /** How often to look for new threads; default 5000 ms. */
  readonly rescanMs?: number;
  /** For tests: the directory listing the process's threads, and the priority calls. */
  readonly taskDir?: string;
  readonly getPriority?: (tid: number) => number;
  readonly setPriority?: (tid: number, nice: number) => void;
  readonly mainThreadId?: number;
}

/** Thread ids remembered as done before the set starts over (see `scan`). */
const MAX_REMEMBERED = 4096;

export class HelperThreads {
  readonly #names: RegExp;
  readonly #nice: number;
  readonly #idleNames: RegExp | null;
  readonly #setIdle: ((tid: number) => boolean) | null;
  readonly #taskDir: string;
  readonly #get: (tid: number) => number;
  readonly #set: (tid: number, nice: number) => void;
  readonly #main: number;
  readonly #rescanMs: number;
  /** Threads already lowered (or refused): not asked again. */
  readonly #done = new Set<number>();
  #lowered = 0;
  #idled = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: HelperThreadsOptions) {
    if (!Number.isInteger(options.nice) || options.nice < 1 || options.nice > 19) {
      throw new RangeError(`invalid nice value ${options.nice}: use an integer 1-19`);
    }
    this.#names = options.names;
    this.#nice = options.nice;
    this.#idleNames = options.idleNames ?? null;
    this.#setIdle = options.setIdle ?? null;
    this.#taskDir = options.taskDir ?? "/proc/self/task";
    this.#get = options.getPriority ?? getPriority;
    this.#set = options.setPriority ?? setPriority;
    this.#main = options.mainThreadId ?? process.pid;
    this.#rescanMs = options.rescanMs ?? 5000;
  }

  /** Whether this OS has per-thread priorities we know how to set. */
  static get supported(): boolean {
    return process.platform === "linux";
  }

  /** Helper threads lowered so far (to the nice value or to `SCHED_IDLE`). */
  get lowered(): number {
    return this.#lowered;
  }

  /** Of `lowered`, the threads put in `SCHED_IDLE`. */
  get idled(): number {
    return this.#idled;
  }

  /** Lowers the matching threads seen now; returns how many it lowered this time. */
  scan(): number {
    let tids: string[];
    try {
      tids = readdirSync(this.#taskDir);
    } catch {
      return 0;
    }
    let lowered = 0;
    for (const entry of tids) {
      const tid = Number(entry);
      if (!Number.isInteger(tid) || tid === this.#main || this.#done.has(tid)) continue;
      let name: string;
      try {
        name = readFileSync(`${this.#taskDir}/${entry}/comm`, "utf8").trimEnd();
      } catch {
        continue; // The thread ended meanwhile.
      }
      if (!this.#names.test(name)) continue;
      // Thread ids are reused once threads end; a long-lived process forgets old ones.
      if (this.#done.size >= MAX_REMEMBERED) this.#done.clear();
      this.#done.add(tid);
      if (this.#idleNames?.test(name) && this.#trySetIdle(tid)) {
        this.#idled++;
        lowered++;
        continue;
      }
      try {
        if (this.#get(tid) >= this.#nice) continue;
        this.#set(tid, this.#nice);
        lowered++;
      } catch {
        // Gone, or not allowed: it keeps the priority it has.
      }
    }
    this.#lowered += lowered;
    return lowered;
  }

  #trySetIdle(tid: number): boolean {
    try {
      return this.#setIdle !== null && this.#setIdle(tid);
    } catch {
      return false;
    }
  }

  /** Scans now and every `rescanMs` until `stop()`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.scan();
    this.#timer = setInterval(() => this.scan(), this.#rescanMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
