/**
 * A SQLite store's flusher thread played by the test (see ScriptedThread), for tests of
 * WAL restarts and the holds before them without a real disk's timing.
 */
import assert from "node:assert/strict";
import {
  type FlusherOpen,
  type FlusherReport,
  flusherSlots,
  type FlusherThread,
} from "../../src/kv/sqlite-flusher.ts";

/**
 * The flusher's threads, played by one object the test drives by hand (the store starts
 * two and both are this one; with synchronous "normal", commits need no fsync from it): it
 * records checkpoint requests and answers when told to.
 */
export class ScriptedThread implements FlusherThread {
  control: Int32Array | null = null;
  onMessage: (report: FlusherReport) => void = () => {};
  onError: (error: Error) => void = () => {};
  terminated = false;
  post(message: FlusherOpen): void {
    const control = new Int32Array(message.control);
    this.control = control;
    // Answer a stop request the way each worker does.
    const timer = setInterval(() => {
      if (Atomics.load(control, flusherSlots.STOP) === 0) return;
      clearInterval(timer);
      this.onMessage({ type: "closed" });
    }, 2);
  }
  listen(onMessage: (r: FlusherReport) => void, onError: (e: Error) => void): void {
    this.onMessage = onMessage;
    this.onError = onError;
  }
  terminate(): void {
    this.terminated = true;
  }
  /** The checkpoint number the store asked for last. */
  get requested(): number {
    return this.control === null ? 0 : Atomics.load(this.control, flusherSlots.CKPT_REQ);
  }
  /** The checkpoint to be followed by an fsync of the database file. */
  get syncsDatabaseAfter(): number {
    return this.control === null ? 0 : Atomics.load(this.control, flusherSlots.SYNC_DB);
  }
  checkpointed(seq: number, walFrames: number, backfilled = walFrames): void {
    this.onMessage({ type: "checkpointed", seq, walFrames, backfilled });
  }
}

/**
 * Answers the catch-up checkpoints the store asks for after a long WAL (each followed by an
 * fsync of the database file), until it asks for the restart checkpoint that commits wait
 * for; returns that one's number.
 */
export function catchUp(thread: ScriptedThread, walFrames: number): number {
  for (let i = 0; i < 10 && thread.syncsDatabaseAfter === thread.requested; i++) {
    thread.checkpointed(thread.requested, walFrames, walFrames - 5);
  }
  assert.notEqual(thread.syncsDatabaseAfter, thread.requested, "a restart checkpoint");
  return thread.requested;
}
