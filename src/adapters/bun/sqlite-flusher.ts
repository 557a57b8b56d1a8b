/** Worker entry: the SQLite store's flusher thread (see src/kv/sqlite-flusher.ts). */
import { runFlusher, workerScope } from "../../kv/sqlite-flusher.ts";
import { openSqlite } from "./sqlite.ts";

runFlusher(openSqlite, workerScope());
