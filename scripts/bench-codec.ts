/**
 * Codec micro-benchmark: encode and decode throughput for a typical 60-byte
 * Message frame and for 4 KiB messages, on the runtime it runs on.
 *
 *   bun scripts/bench.ts codec        (npm run bench -- codec)
 *   deno task bench codec
 *
 * Each case runs for a fixed time (SOLEC_BENCH_SECONDS, default 1 s, after a
 * warm-up) and prints ns/frame, frames/s and MB/s of frame bytes.
 */
import {
  decodePayload,
  encode,
  encodeMessage,
  FrameDecoder,
  type Message,
  setSlabAllocation,
} from "../src/protocol/mod.ts";
import { detectRuntime } from "../src/adapters/runtime.ts";
import process from "node:process";

const seconds = Number(process.env.SOLEC_BENCH_SECONDS ?? "1");

// 3 header + 14 fixed + 12 source + 10 target + 21 content = 60 bytes.
const small: Message = {
  type: 0x05,
  source: "alice@a.test",
  target: "bob@a.test",
  timestamp: 1767225600000,
  content: "see you at 10 at gate",
};
const large: Message = { ...small, content: "x".repeat(4096 - 7) + "zażółć" };
const smallFrame = encode(small);
const largeFrame = encode(large);
if (smallFrame.length !== 60) throw new Error(`small frame is ${smallFrame.length} bytes`);

interface Result {
  name: string;
  nsPerFrame: number;
  framesPerSec: number;
  mbPerSec: number;
}

/** Runs `batch(n)` (which processes n frames) until `seconds` have passed. */
function measure(name: string, frameBytes: number, batch: (n: number) => number): Result {
  let sink = 0;
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) sink += batch(1000);
  let frames = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    sink += batch(1000);
    frames += 1000;
    now = performance.now();
  }
  const elapsed = (now - start) / 1000;
  if (sink === -1) console.log("unreachable"); // keeps the work observable
  const framesPerSec = frames / elapsed;
  return {
    name,
    nsPerFrame: 1e9 / framesPerSec,
    framesPerSec,
    mbPerSec: (framesPerSec * frameBytes) / 1e6,
  };
}

function encodeBatch(m: Message) {
  return (n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      s += encodeMessage(m.source, m.target, m.timestamp, m.content).length;
    }
    return s;
  };
}

/** Decode as the server does: frames arrive in a read chunk of many frames. */
function decodeBatch(frame: Uint8Array, perChunk: number) {
  const chunk = new Uint8Array(frame.length * perChunk);
  for (let i = 0; i < perChunk; i++) chunk.set(frame, i * frame.length);
  const d = new FrameDecoder({ maxPayload: 65535 });
  return (n: number) => {
    let s = 0;
    for (let done = 0; done < n; done += perChunk) {
      d.push(chunk);
      for (let t = d.next(); t !== -1; t = d.next()) {
        const p = decodePayload(t, d.payload) as Message;
        s += p.content.length;
      }
    }
    return s;
  };
}

function roundTripBatch(frame: Uint8Array) {
  const d = new FrameDecoder({ maxPayload: 65535 });
  return (n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      d.push(frame);
      const p = decodePayload(d.next(), d.payload) as Message;
      s += encode(p).length;
    }
    return s;
  };
}

export function run(): void {
  const runtime = detectRuntime();
  // As the Deno adapter does at start-up (see src/protocol/alloc.ts).
  setSlabAllocation(runtime === "deno");
  const results = [
    measure("encode 60 B Message", smallFrame.length, encodeBatch(small)),
    measure("decode 60 B Message", smallFrame.length, decodeBatch(smallFrame, 100)),
    measure("decode+encode 60 B", smallFrame.length, roundTripBatch(smallFrame)),
    measure("encode 4 KiB Message", largeFrame.length, encodeBatch(large)),
    measure("decode 4 KiB Message", largeFrame.length, decodeBatch(largeFrame, 10)),
    measure("decode+encode 4 KiB", largeFrame.length, roundTripBatch(largeFrame)),
  ];
  console.log(`codec benchmark on ${runtime} (${seconds}s per case)`);
  console.log("| case | ns/frame | frames/s | MB/s |");
  console.log("|---|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.nsPerFrame.toFixed(0)} | ${
        Math.round(r.framesPerSec).toLocaleString("en-US")
      } | ${r.mbPerSec.toFixed(1)} |`,
    );
  }
}
