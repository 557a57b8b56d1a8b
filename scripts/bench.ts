/**
 * Benchmark dispatcher: `bun scripts/bench.ts NAME` / `deno task bench NAME`
 * (`npm run bench -- NAME`). Benchmarks print figures; they never assert.
 */
import process from "node:process";

const benches: Record<string, { file: string; about: string }> = {
  codec: { file: "./bench-codec.ts", about: "frame encode/decode throughput" },
  kv: { file: "./bench-kv.ts", about: "store operations, memory and SQLite" },
  net: { file: "./bench-net.ts", about: "runtime adapter loopback throughput" },
};

const name = process.argv[2];
const bench = name === undefined ? undefined : benches[name];
if (bench === undefined) {
  console.error(
    `usage: bench NAME\n` +
      Object.entries(benches).map(([n, b]) => `  ${n.padEnd(8)} ${b.about}`).join("\n"),
  );
  process.exit(2);
}
const mod = (await import(bench.file)) as { run: (args: string[]) => Promise<void> | void };
await mod.run(process.argv.slice(3));
