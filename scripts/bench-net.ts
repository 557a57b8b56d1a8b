/**
 * Loopback throughput of the running runtime's `NetAdapter` (plain TCP).
 *
 *   bun scripts/bench-net.ts
 *   deno run -A scripts/bench-net.ts
 *
 * For 64-byte and 16 KiB sends, a client sends to a server that only counts
 * bytes, for SOLEC_BENCH_SECONDS (default 1 s) per case, in two styles:
 * - awaited: every `send` is awaited before the next (the core's normal use);
 * - window 64: up to 64 sends outstanding (exercises the adapter's send queue).
 * Prints MB/s (10^6 bytes) and sends/s, measured until the last byte arrived.
 * Exports `run` so a dispatcher such as scripts/bench.ts can call it.
 */
import process from "node:process";
import { detectRuntime } from "../src/adapters/runtime.ts";
import type { Platform } from "../src/platform.ts";

const seconds = Number(process.env.SOLEC_BENCH_SECONDS ?? "1");
const WINDOW = 64;

/** Picks the adapter like test/support/platform.ts (non-literal so Deno never loads Bun's). */
async function loadPlatform(): Promise<Platform> {
  const specifier = "../src/adapters/" + detectRuntime() + "/mod.ts";
  const mod: { platform: Platform } = await import(specifier);
  return mod.platform;
}

interface Result {
  name: string;
  mbPerSec: number;
  sendsPerSec: number;
}

async function measure(
  platform: Platform,
  size: number,
  window: number,
  ms: number,
): Promise<Result> {
  const listener = await platform.net.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener[Symbol.asyncIterator]().next();
  const client = await platform.net.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const first = await accepted;
  if (first.done) throw new Error("listener ended");
  const server = first.value;
  listener.close();

  let received = 0;
  const counting = (async () => {
    for await (const chunk of server) received += chunk.byteLength;
  })();

  const payload = new Uint8Array(size).fill(0x61);
  let sends = 0;
  const start = performance.now();
  const deadline = start + ms;
  const outstanding: Promise<void>[] = [];
  while (performance.now() < deadline) {
    // Check the clock every 256 sends: performance.now() is not free at 64 B.
    for (let i = 0; i < 256; i++) {
      if (window === 1) {
        await client.send(payload);
      } else {
        outstanding.push(client.send(payload));
        if (outstanding.length >= window) await outstanding.shift();
      }
      sends++;
    }
  }
  await Promise.all(outstanding);
  const total = sends * size;
  // Wait (bounded) for the receiver to see every byte.
  for (let i = 0; i < 10_000 && received < total; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const elapsed = (performance.now() - start) / 1000;
  client.close();
  await counting;
  server.close();
  if (received !== total) throw new Error(`received ${received} of ${total} bytes`);
  const label = size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
  return {
    name: `${label.padStart(6)} sends, ${window === 1 ? "awaited" : `window ${window}`}`,
    mbPerSec: total / elapsed / 1e6,
    sendsPerSec: sends / elapsed,
  };
}

export async function run(_args: string[] = []): Promise<void> {
  const platform = await loadPlatform();
  const version = process.versions[platform.runtime];
  console.log(`net loopback, ${platform.runtime} ${version}, ${seconds} s per case`);
  await measure(platform, 16 * 1024, 1, 200); // warm-up
  for (const size of [64, 16 * 1024]) {
    for (const window of [1, WINDOW]) {
      const r = await measure(platform, size, window, seconds * 1000);
      console.log(
        `${r.name.padEnd(28)} ${r.mbPerSec.toFixed(1).padStart(8)} MB/s ` +
          `${Math.round(r.sendsPerSec).toLocaleString("en-US").padStart(12)} sends/s`,
      );
    }
  }
}

if (import.meta.main) await run(process.argv.slice(2));
