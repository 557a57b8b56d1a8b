/**
 * ConnWriter keeps received frames it forwards as views of their input chunk
 * only while they leave right away: once the reader has a backlog, or a
 * sequence holds pushes back, a view waits as a copy of its own, so a slow
 * reader never keeps whole input chunks alive. (Batching, ordering and the
 * bound are covered end to end by the session and slow-reader tests.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { ConnWriter } from "../../src/server/conn-writer.ts";
import type { Connection, SendCallback } from "../../src/platform.ts";

/** A connection whose writes complete only when the test says so. */
class HeldConnection {
  readonly sends: Uint8Array[] = [];
  #done: SendCallback | null = null;

  sendWith(data: Uint8Array, done: SendCallback): void {
    this.sends.push(data.slice());
    this.#done = done;
  }

  complete(): void {
    const done = this.#done;
    this.#done = null;
    done?.sent();
  }

  close(): void {}
}

const FRAME = 100;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A 64 KiB input chunk of 100-byte frames, each filled with its index. */
function inputChunk(): { chunk: Uint8Array; frames: Uint8Array[]; copies: Uint8Array[] } {
  const chunk = new Uint8Array(64 * 1024);
  const frames: Uint8Array[] = [];
  for (let i = 0; (i + 1) * FRAME <= chunk.length; i++) {
    const frame = chunk.subarray(i * FRAME, (i + 1) * FRAME);
    frame.fill(i & 0xff);
    frames.push(frame);
  }
  return { chunk, frames, copies: frames.map((f) => f.slice()) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function writer(conn: HeldConnection): ConnWriter {
  return new ConnWriter(conn as unknown as Connection, 1 << 20, { overflowed() {} });
}

describe("ConnWriter and forwarded views", () => {
  it("sends views as they are while the reader keeps up", async () => {
    const conn = new HeldConnection();
    const w = writer(conn);
    const { frames, copies } = inputChunk();
    w.push(frames[0]);
    w.push(frames[1]);
    await turn();
    assert.deepEqual(conn.sends, [concat(copies.slice(0, 2))]);
  });

  it("copies a view that has to wait behind a backlog, not the ones before it", async () => {
    const conn = new HeldConnection();
    const w = writer(conn);
    const { chunk, frames, copies } = inputChunk();
    w.push(frames[0]);
    await turn(); // frame 0 is written; the write does not complete
    const queued = 400; // 40,000 bytes: the backlog passes 16 KiB on the way
    for (let i = 1; i <= queued; i++) w.push(frames[i]);
    chunk.fill(0xee); // what a view still refers to changes; a copy does not
    conn.complete();
    assert.equal(conn.sends.length, 2);
    const sent = conn.sends[1];
    assert.equal(sent.length, queued * FRAME);
    const frameAt = (k: number) => sent.subarray(k * FRAME, (k + 1) * FRAME);
    // The first pushes (under the backlog) stayed views of the chunk...
    assert.deepEqual(frameAt(0), new Uint8Array(FRAME).fill(0xee));
    // ...the last ones waited as copies of their own.
    for (let i = queued - 200; i <= queued; i++) assert.deepEqual(frameAt(i - 1), copies[i]);
  });

  it("copies a view held back by a sequence", async () => {
    const conn = new HeldConnection();
    const w = writer(conn);
    const { chunk, frames, copies } = inputChunk();
    w.beginSequence();
    w.write(copies[7]); // the sequence's own reply
    w.push(frames[3]);
    chunk.fill(0xee);
    w.endSequence();
    await turn();
    assert.deepEqual(conn.sends, [concat([copies[7], copies[3]])]);
  });
});
