import { dlopen, FFIType } from "bun:ffi";
import process from "node:process";

/** Linux's `SCHED_IDLE` policy (`<sched.h>`). */
const SCHED_IDLE = 5;

type SchedSetScheduler = (tid: number, policy: number, param: Int32Array) => number;

/** libc's `sched_setscheduler`, opened on first use; null where it cannot be. */
let setScheduler: SchedSetScheduler | null | undefined;

function opened(): SchedSetScheduler | null {
  if (setScheduler !== undefined) return setScheduler;
  setScheduler = null;
  if (process.platform !== "linux") return null;
  try {
    // glibc's soname; elsewhere (musl) the open fails and helpers keep their nice value.
    const libc = dlopen("libc.so.6", {
      sched_setscheduler: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    });
    setScheduler = libc.symbols.sched_setscheduler as SchedSetScheduler;
  } catch {
    // No libc by that name: nothing to call.
  }
  return setScheduler;
}

/**
 * Puts thread `tid` of this process in `SCHED_IDLE`: it runs only while the core has
 * nothing else to run, and a waking event loop takes the core from it at once, where a
 * thread at any nice value keeps the core for the rest of its time slice (see
 * `Platform.idleHelperThreads`). Returns whether the kernel took it.
 */
export function setIdleScheduling(tid: number): boolean {
  const call = opened();
  // `struct sched_param` is one int, the static priority, which is 0 for SCHED_IDLE.
  return call !== null && call(tid, SCHED_IDLE, new Int32Array(1)) === 0;
}
