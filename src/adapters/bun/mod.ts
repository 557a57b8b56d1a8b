/** The Bun platform: entry points import this statically. */
import type { Platform } from "../../platform.ts";
import { collectGarbage } from "./gc.ts";
import { serveHttp } from "./http.ts";
import { net } from "./net.ts";
import { openSqlite, startSqliteFlusher } from "./sqlite.ts";

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
};
