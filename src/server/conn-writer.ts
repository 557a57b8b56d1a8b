import { atTurnEnd } from "./turn-end.ts";
import type { Connection, SendCallback } from "../platform.ts";

/** Where a writer counts what it sent (shared by all connections). */
export interface WriterMetrics {
  bytesSent: number;
  readonly framesSent: Float64Array;
}

/**
 * A connection's output: ordered, batched, bounded.
 *
 * - Frames written in one turn of the event loop leave in one socket write
 *   (copied into one buffer, flushed at the end of the turn), and at most one
 *   write is in flight.
 * - `push()` is for frames the server sends on its own (deliveries). While a
 *   sequence is open (a History or List reply, or the inbox at login) pushes
 *   are held back and follow the sequence, which spec §6 requires never to be
 *   interleaved. `write()` is for replies, which are never held.
 * - Unsent bytes are bounded: past `maxBuffered` the reader is too slow, and
 *   the connection is closed (what it missed is in history / inbox).
 */
/**
 * The frame lists of a writer with nothing queued or held: shared and never
 * written to, so that thousands of idle connections carry no arrays.
 */
const NONE: Uint8Array[] = [];

/** Writers with frames to flush at the end of this turn (see `#enqueue`). */
let dirty: ConnWriter[] = [];

function flushDirty(): void {
  const writers = dirty;
  dirty = [];
  for (const w of writers) w.flushNow();
}

export class ConnWriter implements SendCallback {
  /** The first queued frame, and the rest: a writer that sends one frame per turn needs no array. */
  #first: Uint8Array | null = null;
  #rest: Uint8Array[] = NONE;
  #queuedBytes = 0;
  /** Of `#queuedBytes`, those from `push()`. */
  #queuedPushBytes = 0;
  #held: Uint8Array[] = NONE;
  #heldBytes = 0;
  #sequence = 0;
  #inFlight = 0;
  /** Of `#inFlight`, those from `push()`. */
  #inFlightPush = 0;
  #scheduled = false;
  #closed = false;
  #drainWaiters: (() => void)[] | null = null;
  constructor(
    private readonly conn: Connection,
    private readonly maxBuffered: number,
    /** Told once when unsent pushes pass `maxBuffered` (the writer has closed). */
    private readonly owner: { overflowed(): void },
    private readonly metrics: WriterMetrics | null = null,
  ) {}

  /** Bytes accepted but not yet handed to the socket. */
  get buffered(): number {
    return this.#queuedBytes + this.#heldBytes + this.#inFlight;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A reply. Not counted against the bound: a reply answers the client's own
   * request, and the session paces requests by its output (it reads no
   * further request while more than half the bound is unsent), so one reply
   * larger than the bound (a History of 500 messages of 4 KiB) is fine.
   */
  write(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#enqueue(frame);
  }

  /** A frame the server sends on its own; the bound applies to these. */
  push(frame: Uint8Array): void {
    if (this.#closed) return;
    if (this.#sequence > 0) {
      if (this.#held === NONE) this.#held = [];
      this.#held.push(frame);
      this.#heldBytes += frame.length;
      this.#checkBound();
      return;
    }
    this.#queuedPushBytes += frame.length;
    this.#enqueue(frame);
    this.#checkBound();
  }

  beginSequence(): void {
    this.#sequence++;
  }

  endSequence(): void {
    if (--this.#sequence > 0 || this.#held.length === 0) return;
    const held = this.#held;
    this.#held = NONE;
    this.#queuedPushBytes += this.#heldBytes;
    this.#heldBytes = 0;
    for (const f of held) this.#enqueue(f);
  }

  /** Resolves once everything written so far has been handed to the socket. */
  flushed(): Promise<void> {
    if (this.#closed || (this.#first === null && this.#inFlight === 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#first = null;
    this.#rest = NONE;
    this.#held = NONE;
    this.#queuedBytes = this.#heldBytes = this.#queuedPushBytes = 0;
    this.#wakeDrainWaiters();
  }

  #enqueue(frame: Uint8Array): void {
    if (this.#first === null) {
      this.#first = frame;
    } else {
      if (this.#rest === NONE) this.#rest = [];
      this.#rest.push(frame);
    }
    this.#queuedBytes += frame.length;
    if (!this.#scheduled && this.#inFlight === 0) {
      this.#scheduled = true;
      // After this turn's I/O callbacks and promise continuations: every
      // frame produced in the turn (a whole commit's replies and deliveries)
      // leaves in one write, not one write per frame. One task serves every
      // writer with something to send; queued during a group commit, it runs
      // right after it.
      if (dirty.length === 0) atTurnEnd(flushDirty);
      dirty.push(this);
    }
  }

  /** Unsent pushes over the bound: the reader is too slow; close. */
  #checkBound(): boolean {
    if (this.#queuedPushBytes + this.#heldBytes + this.#inFlightPush <= this.maxBuffered) {
      return false;
    }
    this.close();
    this.owner.overflowed();
    return true;
  }

  /** Sends what is queued, as one write (called at the end of the turn). */
  flushNow(): void {
    this.#scheduled = false;
    if (this.#closed || this.#inFlight > 0 || this.#first === null) return;
    const first = this.#first;
    const rest = this.#rest;
    const size = this.#queuedBytes;
    this.#inFlightPush = this.#queuedPushBytes;
    this.#first = null;
    this.#rest = NONE;
    this.#queuedBytes = this.#queuedPushBytes = 0;
    let data = first;
    if (rest.length > 0) {
      data = new Uint8Array(size);
      data.set(first);
      let at = first.length;
      for (const f of rest) {
        data.set(f, at);
        at += f.length;
      }
    }
    this.#inFlight = size;
    const m = this.metrics;
    if (m !== null) {
      m.framesSent[first[0]]++;
      for (const f of rest) m.framesSent[f[0]]++;
    }
    this.conn.sendWith(data, this);
  }

  /** The write in flight reached the OS (`SendCallback`; may run inside `flushNow`). */
  sent(): void {
    if (this.metrics !== null) this.metrics.bytesSent += this.#inFlight;
    this.#inFlight = this.#inFlightPush = 0;
    if (this.#first !== null) this.flushNow();
    else this.#wakeDrainWaiters();
  }

  /** The connection is gone (`SendCallback`). */
  sendFailed(): void {
    this.#inFlight = this.#inFlightPush = 0;
    this.close();
  }

  #wakeDrainWaiters(): void {
    const w = this.#drainWaiters;
    if (w === null) return;
    this.#drainWaiters = null;
    for (const f of w) f();
  }
}
