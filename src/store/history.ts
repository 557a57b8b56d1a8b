import type { Kv, KvKey } from "../kv/kv.ts";
import { historyKey } from "./keys.ts";
import { type Mutation, set } from "./mutation.ts";

/** Conversation history: encoded Message frames keyed by (timestamp, arrival). */
export class History {
  constructor(private readonly kv: Kv) {}

  appendMutation(conv: KvKey, timestamp: number, seq: number, frame: Uint8Array): Mutation {
    return set(historyKey(conv, timestamp, seq), frame);
  }

  /**
   * Whether exactly this frame is already stored at this timestamp: a peer
   * that lost our reply re-sends, and the copy must not be stored twice.
   */
  async contains(conv: KvKey, timestamp: number, frame: Uint8Array): Promise<boolean> {
    for await (const e of this.kv.list<Uint8Array>({ prefix: [...conv, timestamp] })) {
      const v = e.value;
      if (v.length === frame.length && v.every((b, i) => b === frame[i])) return true;
    }
    return false;
  }

  /**
   * Spec §6 selection: messages with timestamp > `since`, newest first (ties:
   * later arrival first), skip `offset`, take `count`; returned oldest first.
   */
  async select(conv: KvKey, since: number, count: number, offset: number): Promise<Uint8Array[]> {
    if (count <= 0) return [];
    const out: Uint8Array[] = [];
    let skipped = 0;
    // Keys are [...conv, ts, seq]; starting at ts = since + 1 selects ts > since.
    const iter = this.kv.list<Uint8Array>(
      { prefix: conv, start: [...conv, since + 1] },
      { reverse: true, limit: offset + count, batchSize: Math.min(1000, offset + count) },
    );
    for await (const e of iter) {
      if (skipped < offset) {
        skipped++;
        continue;
      }
      out.push(e.value);
    }
    return out.reverse();
  }
}
