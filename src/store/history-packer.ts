import type { AtomicOperation } from "../kv/kv.ts";
import type { PackedKey } from "../kv/key-codec.ts";
import { packedHistoryKey } from "./keys.ts";

/**
 * A row grows up to this many bytes (about 60 messages of 100 bytes). Past
 * ~1 KB SQLite keeps the row in overflow pages; measured anyway (Bun + SQLite,
 * 50 pairs at full speed, alternating runs), rows capped at 900 bytes were
 * slower than this cap. A History reply that needs one message of a row reads
 * the whole row.
 */
export const MAX_ROW_BYTES = 8 * 1024;

/** A row being filled: consecutive messages of one conversation with one timestamp. */
interface OpenRow {
  readonly conv: PackedKey;
  readonly ts: number;
  /** Arrival number of the first message: the row's key is (ts, seq). */
  readonly seq: number;
  readonly frames: Uint8Array[];
  bytes: number;
}

/** A conversation's place in the packer: its open row in the current transaction. */
interface Slot {
  row: OpenRow | null;
}

/** Conversations remembered before the slot map starts over (between transactions). */
export const MAX_SLOTS = 65_536;

/**
 * Packs one transaction's direct messages into history rows: consecutive
 * messages of a conversation with the same timestamp share one row, keyed by
 * the first one's (timestamp, arrival number), their frames back to back in
 * arrival order (the value format `History` reads; a row of one message is
 * the frame itself). At full speed this writes one store row per many messages
 * (about 60 in the 50-pair benchmark) instead of one per message: a b-tree
 * insert was most of what a message cost in SQLite.
 *
 * Why the order survives: arrival numbers are taken in the order messages are
 * queued, and transactions take queued messages in that order, so every
 * message of a later transaction has a higher number. A row only ever takes
 * the next message of its own conversation and timestamp, so the rows of one
 * (conversation, timestamp) cover disjoint, increasing ranges of arrival
 * numbers, and reading rows by key and messages within a row in order gives
 * arrival order.
 *
 * Conversations are told apart by an id string (`conversationId`) rather than
 * by the prefix object, which two directions of a conversation hold separately.
 */
export class HistoryPacker {
  /**
   * Conversation id → its slot, kept across transactions. Nothing here is cleared per
   * transaction: V8 gives a cleared Map a new table in the old generation when the Map
   * is old, and one per commit made old-generation collections pause the event loop
   * every 1-2 s (Deno + memory store at 5,000 msg/s: p99 0.9 → 2-5 ms).
   */
  readonly #slots = new Map<string, Slot>();
  /** Slots with an open row in this transaction: [0, #touchedCount). */
  readonly #touched: (Slot | null)[] = [];
  #touchedCount = 0;
  #rows = 0;

  /** Adds one message of the transaction being written into `atomic`. */
  add(
    atomic: AtomicOperation,
    id: string,
    conv: PackedKey,
    ts: number,
    seq: number,
    frame: Uint8Array,
  ): void {
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      // Only between transactions: a slot forgotten while its row is open would give its
      // conversation a second open row.
      if (this.#slots.size >= MAX_SLOTS && this.#touchedCount === 0) this.#slots.clear();
      this.#slots.set(id, slot = { row: null });
    }
    const row = slot.row;
    if (row !== null) {
      if (row.ts === ts && row.bytes + frame.length <= MAX_ROW_BYTES) {
        row.frames.push(frame);
        row.bytes += frame.length;
        return;
      }
      this.#write(atomic, row);
    } else {
      this.#touched[this.#touchedCount++] = slot;
    }
    slot.row = { conv, ts, seq, frames: [frame], bytes: frame.length };
  }

  /** Writes the rows still open into `atomic`; returns how many rows this transaction got. */
  finish(atomic: AtomicOperation): number {
    const touched = this.#touched;
    for (let i = 0; i < this.#touchedCount; i++) {
      const slot = touched[i] as Slot;
      this.#write(atomic, slot.row as OpenRow);
      slot.row = null;
      touched[i] = null;
    }
    this.#touchedCount = 0;
    const rows = this.#rows;
    this.#rows = 0;
    return rows;
  }

  /** Forgets a transaction that failed while it was being written. */
  discard(): void {
    const touched = this.#touched;
    for (let i = 0; i < this.#touchedCount; i++) {
      (touched[i] as Slot).row = null;
      touched[i] = null;
    }
    this.#touchedCount = 0;
    this.#rows = 0;
  }

  #write(atomic: AtomicOperation, row: OpenRow): void {
    this.#rows++;
    const frames = row.frames;
    let value: Uint8Array;
    if (frames.length === 1) {
      value = frames[0];
    } else {
      value = new Uint8Array(row.bytes);
      let at = 0;
      for (let i = 0; i < frames.length; i++) {
        value.set(frames[i], at);
        at += frames[i].length;
      }
    }
    atomic.set(packedHistoryKey(row.conv, row.ts, row.seq), value);
  }
}
