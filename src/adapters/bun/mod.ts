/** The Bun platform: entry points import this statically. */
import type { Platform } from "../../platform.ts";
import { setRangeCopies } from "../../alloc.ts";
import { collectGarbage } from "./gc.ts";
import { serveHttp } from "./http.ts";
import { net } from "./net.ts";
import { setIdleScheduling } from "./sched.ts";
import { openSqlite, startSqliteFlusher } from "./sqlite.ts";

// A view into a socket read costs an ArrayBuffer that the next young collection frees in
// its pause; a copy of a small frame's payload is cheaper (see src/alloc.ts).
setRangeCopies(true);

export const platform: Platform = {
  runtime: "bun",
  net,
  openSqlite,
  startSqliteFlusher,
  serveHttp,
  collectGarbage,
  // JavaScriptCore's JIT compilers and warm-up thread, mimalloc's scavenger, and Bun's
  // thread pool (scrypt for logins, async file work): background work. At nice 10 and 19
  // neither the event loop's CPU nor full-speed throughput nor memory per connection moved.
  helperThreads: /^(JITWorker|JSCWarmUp|mi-scavenger|Bun Pool)/,
  // mimalloc's scavenger gives free pages back to the system: nothing waits for it. At
  // nice 10 each pass (0.3-0.4 ms) held a message arriving meanwhile off the core; in
  // SCHED_IDLE the p99 at 5,000 msg/s was lower in 4 of 5 alternating pairs (BENCHMARKS.md).
  // Not the JIT threads (full speed 5 % lower: hot code compiled later) nor the pool (a
  // login under full load would wait for the core to go idle).
  idleHelperThreads: /^mi-scavenger/,
  setIdleScheduling,
};
