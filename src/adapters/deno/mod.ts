/** The Deno platform: entry points import this statically. */
import type { Platform } from "../../platform.ts";
import { setSlabAllocation } from "../../alloc.ts";
import { collectGarbage } from "./gc.ts";
import { serveHttp } from "./http.ts";
import { net } from "./net.ts";
import { openSqlite, startSqliteFlusher } from "./sqlite.ts";

// A fresh small ArrayBuffer costs ~0.5 µs on Deno (~20 ns on Bun): carve
// encoded frames, keys and values out of shared slabs instead (see src/alloc.ts).
setSlabAllocation(true);

export const platform: Platform = {
  runtime: "deno",
  net,
  openSqlite,
  startSqliteFlusher,
  serveHttp,
  collectGarbage,
  // V8's platform workers ("V8 DefaultWorker", cut to 15 characters by the kernel):
  // concurrent marking, sweeping and compiling. Deno's own threads (named "deno") are not
  // touched. At nice 19 a run saw the event loop take a whole core, apparently doing the
  // starved workers' marking itself; nice 10 (the default) has not shown that.
  helperThreads: /^V8 DefaultWorke/,
};
