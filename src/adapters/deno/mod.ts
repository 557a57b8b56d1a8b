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
  // No helper threads are lowered on Deno. V8's platform workers ("V8 DefaultWorker") at
  // nice 10 halved the p99 at 5,000 msg/s, but in the 5,000-connection login burst their
  // concurrent marking and sweeping fell behind and the heap grew: 9.4-10.3 KB per
  // connection against 8.3-8.7 KB at nice 0 (alternating runs), over the 8 KB budget; and at
  // nice 19 one run saw the event loop take a whole core, doing their marking itself.
};
