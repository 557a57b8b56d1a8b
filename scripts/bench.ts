/**
 * Benchmark dispatcher: `bun scripts/bench.ts NAME` / `deno task bench NAME`
 * (`npm run bench -- NAME`). Benchmarks print figures; they never assert.
 * `e2e` runs scripts/bench-e2e.sh (solec next to the anchor servers, with the
 * shared Go load generator); arguments after the name are passed on.
 */
import process from "node:process";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const benches: Record<string, { file: string; about: string; shell?: true }> = {
  codec: { file: "./bench-codec.ts", about: "frame encode/decode throughput" },
  kv: { file: "./bench-kv.ts", about: "store operations, memory and SQLite" },
  net: { file: "./bench-net.ts", about: "runtime adapter loopback throughput" },
  connfloor: {
    file: "./bench-conn-floor.ts",
    about: "the runtime's own RSS per idle TCP connection (floor for e2e conns)",
  },
  floor: {
    file: "./bench-relay-floor.sh",
    about: "null relays on Bun and Deno, bare and storing in SQLite, next to the Go one",
    shell: true,
  },
  e2e: {
    file: "./bench-e2e.sh",
    about: "end to end vs ngIRCd/Mosquitto/relay (loadgen; ~15 min per rep; --help)",
    shell: true,
  },
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
if (bench.shell) {
  const script = fileURLToPath(new URL(bench.file, import.meta.url));
  const child = spawn("bash", [script, ...process.argv.slice(3)], { stdio: "inherit" });
  // Ctrl-C reaches the script too (same process group); wait for its clean-up.
  const ignore = () => {};
  process.on("SIGINT", ignore);
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  const code = await new Promise<number>((resolve) => {
    child.on("close", (c, signal) => resolve(c ?? (signal === null ? 1 : 130)));
    child.on("error", (e) => {
      console.error(`bench: cannot run ${script}: ${e.message}`);
      resolve(1);
    });
  });
  process.exit(code);
}
const mod = (await import(bench.file)) as { run: (args: string[]) => Promise<void> | void };
await mod.run(process.argv.slice(3));
