import type { AtomicOperation, KvKey, KvValue } from "../kv/kv.ts";
import type { PackedKey } from "../kv/key-codec.ts";

/** One write, as repositories describe it and the commit queue applies it. */
export type Mutation =
  | { readonly op: "set"; readonly key: KvKey | PackedKey; readonly value: KvValue }
  | { readonly op: "delete"; readonly key: KvKey | PackedKey };

export const set = (key: KvKey | PackedKey, value: KvValue): Mutation => ({
  op: "set",
  key,
  value,
});
export const del = (key: KvKey | PackedKey): Mutation => ({ op: "delete", key });

export function apply(atomic: AtomicOperation, mutations: readonly Mutation[]): AtomicOperation {
  for (const m of mutations) {
    if (m.op === "set") atomic.set(m.key, m.value);
    else atomic.delete(m.key);
  }
  return atomic;
}
