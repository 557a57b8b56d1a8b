/**
 * KV micro-benchmark: set / get / list / atomic throughput for each backend, plus the value
 * codec against JSON for reference. Each measurement runs for a fixed time budget, so the
 * whole run takes a few seconds; the SQLite file lives in a temp directory removed at the end.
 *
 *   bun scripts/bench-kv.ts
 *   deno run -A scripts/bench-kv.ts
 */
import { detectRuntime } from "../src/adapters/runtime.ts";
import type { Kv, KvValue } from "../src/kv/kv.ts";
import { MemoryKv } from "../src/kv/memory.ts";
import { SqliteKv } from "../src/kv/sqlite.ts";
import { decodeValue, encodeValue } from "../src/kv/value-codec.ts";
import { openSqliteForRuntime, tempSqliteFile } from "../test/support/kv-backends.ts";

const BUDGET_MS = 250;

function message(i: number): KvValue {
  return {
    id: `01J9ZK3${i.toString(36).padStart(6, "0")}`,
    from: "ada",
    to: "#general",
    text: `hello there, this is message number ${i} in the channel`,
    ts: 1_764_000_000_000 + i,
  };
}

/** Run `op` repeatedly for BUDGET_MS; returns operations (or units it reports) per second. */
async function rate(op: (i: number) => Promise<number | void> | number | void): Promise<number> {
  let units = 0;
  let i = 0;
  const start = performance.now();
  let now = start;
  while (now - start < BUDGET_MS) {
    for (let j = 0; j < 32; j++) {
      const n = await op(i++);
      units += typeof n === "number" ? n : 1;
    }
    now = performance.now();
  }
  return units / ((now - start) / 1000);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US").padStart(11);
}

async function benchStore(label: string, kv: Kv): Promise<void> {
  let written = 0;
  const set = await rate(async (i) => {
    await kv.set(["msg", "general", i], message(i));
    written = i + 1;
  });
  const get = await rate(async (i) => {
    await kv.get(["msg", "general", (i * 7919) % written]);
  });
  const list = await rate(async () => {
    let n = 0;
    for await (const _ of kv.list({ prefix: ["msg", "general"] }, { limit: 100, reverse: true })) {
      n++;
    }
    return n;
  });
  await kv.set(["counter"], 0);
  const atomic = await rate(async () => {
    const cur = await kv.get<number>(["counter"]);
    const res = await kv.atomic().check(cur).set(["counter"], (cur.value ?? 0) + 1).sum(
      ["total"],
      1n,
    )
      .commit();
    if (!res.ok) throw new Error("unexpected conflict");
  });
  console.log(
    `${label.padEnd(22)}${fmt(set)}${fmt(get)}${fmt(list)}${fmt(atomic)}   (${written} msgs)`,
  );
}

async function benchCodec(): Promise<void> {
  const msg = message(42);
  const encoded = encodeValue(msg);
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const json = enc.encode(JSON.stringify(msg));
  const results = [
    await rate(() => void encodeValue(msg)),
    await rate(() => void decodeValue(encoded)),
    await rate(() => void enc.encode(JSON.stringify(msg))),
    await rate(() => void JSON.parse(dec.decode(json))),
  ];
  console.log(
    `\nvalue codec (chat message: ${encoded.length} B, JSON ${json.length} B), ops/s:`,
  );
  console.log(`${"".padEnd(22)}     encode     decode  JSON enc.  JSON dec.`);
  console.log(`${"".padEnd(22)}${results.map(fmt).join("")}`);
}

export async function run(): Promise<void> {
  const openSqlite = await openSqliteForRuntime();
  const file = tempSqliteFile("solec-bench");
  console.log(`runtime: ${detectRuntime()}   (${BUDGET_MS} ms per figure)`);
  console.log(
    `${"store".padEnd(22)}      set/s      get/s   listed/s   atomic/s`,
  );
  try {
    const memory = new MemoryKv();
    await benchStore("memory", memory);
    await memory.close();
    for (const synchronous of ["full", "normal"] as const) {
      const kv = new SqliteKv({ openSqlite, path: `${file.path}-${synchronous}`, synchronous });
      await benchStore(`sqlite (sync=${synchronous})`, kv);
      await kv.close();
    }
    await benchCodec();
  } finally {
    file.remove();
  }
}

if (import.meta.main) await run();
