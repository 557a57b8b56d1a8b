import type { Kv, KvKey } from "../kv/kv.ts";
import { HEADER_SIZE } from "../protocol/constants.ts";
import { historyKey } from "./keys.ts";
import { type Mutation, set } from "./mutation.ts";

/**
 * The Message frames of one history row, in arrival order. A row holds one or
 * more frames back to back, all with the row's timestamp (see `HistoryPacker`);
 * each frame's header gives its length.
 */
export function historyFrames(row: Uint8Array): Uint8Array[] {
  const end = row.length;
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < end) {
    const next = at + HEADER_SIZE + ((row[at + 1] << 8) | row[at + 2]);
    if (at + HEADER_SIZE > end || next > end) {
      throw new Error(`corrupt history row: a frame at byte ${at} runs past its end (${end})`);
    }
    if (at === 0 && next === end) return [row]; // one message: the row itself, no view
    out.push(row.subarray(at, next));
    at = next;
  }
  return out;
}

/**
 * Conversation history: rows of encoded Message frames keyed by (timestamp,
 * arrival number of the row's first message).
 */
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
      for (const v of historyFrames(e.value)) {
        if (v.length === frame.length && v.every((b, i) => b === frame[i])) return true;
      }
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
    // A row holds at least one message, so offset + count rows are always enough.
    const iter = this.kv.list<Uint8Array>(
      { prefix: conv, start: [...conv, since + 1] },
      { reverse: true, limit: offset + count, batchSize: Math.min(1000, offset + count) },
    );
    for await (const e of iter) {
      const frames = historyFrames(e.value);
      for (let i = frames.length - 1; i >= 0; i--) {
        if (skipped < offset) {
          skipped++;
          continue;
        }
        out.push(frames[i]);
        if (out.length === count) return out.reverse();
      }
    }
    return out.reverse();
  }
}
