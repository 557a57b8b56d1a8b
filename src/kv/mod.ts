/** The KV store layer: the `Kv` contract, its backends, and the URL opener. */
export type {
  AtomicCheck,
  AtomicCommitOptions,
  AtomicOperation,
  Kv,
  KvCapabilities,
  KvCommitError,
  KvCommitResult,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvListIterator,
  KvListOptions,
  KvListSelector,
  KvStoreStats,
  KvValue,
} from "./kv.ts";
export { openKv } from "./open.ts";
export type { OpenKvDeps } from "./open.ts";
export { MemoryKv } from "./memory.ts";
export { SqliteKv } from "./sqlite.ts";
export type { SqliteKvOptions, SqliteSynchronous } from "./sqlite.ts";
export { EngineKv, formatVersionstamp } from "./engine.ts";
export type { KvEngine, RawCheck, RawEntry, RawMutation } from "./engine.ts";
export {
  compareBytes,
  decodeKey,
  encodeKey,
  PackedKey,
  packKey,
  packKeyWithNumbers,
} from "./key-codec.ts";
export { decodeValue, encodeValue } from "./value-codec.ts";
