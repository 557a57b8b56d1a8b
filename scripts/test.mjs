#!/usr/bin/env node
// Runs the whole suite under Bun and then under Deno (both from
// node_modules/.bin when installed with `npm ci`), and prints one closing line
// `N passed, N failed` summed over both. Exits non-zero if either runtime
// fails or runs no test. Extra arguments are passed to both runners (e.g. a
// test path: `npm test -- test/protocol`).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const tmp = join(root, ".tmp", "test-reports");
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });

const bin = (name) => {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
};
const args = process.argv.slice(2);
const paths = args.length > 0 ? args : ["test/"];

const runs = [
  {
    runtime: "bun",
    report: join(tmp, "bun.xml"),
    cmd: bin("bun"),
    argv: (
      report,
    ) => [
      "test",
      "--timeout",
      "60000",
      "--reporter=junit",
      `--reporter-outfile=${report}`,
      ...paths,
    ],
  },
  {
    runtime: "deno",
    report: join(tmp, "deno.xml"),
    cmd: bin("deno"),
    // Type-checked once up front (`pre`), not by `deno test`: it would check again every
    // module a test starts as a Worker (the SQLite flusher), ~1.5 s each time.
    pre: ["check", "--quiet", "src/", ...paths],
    argv: (report) => ["test", "-A", "--quiet", "--no-check", `--junit-path=${report}`, ...paths],
  },
];

const unescape = (s) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");

/** Counts leaf test cases in a JUnit report (Deno also lists each describe as a case). */
function count(xml) {
  const cases = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m; (m = re.exec(xml));) {
    const name = unescape(/\bname="([^"]*)"/.exec(m[1])?.[1] ?? "");
    const body = m[3] ?? "";
    cases.push({ name, failed: /<(failure|error)\b/.test(body), skipped: /<skipped\b/.test(body) });
  }
  const names = cases.map((c) => c.name);
  const leaves = cases.filter((c) => !names.some((n) => n.startsWith(`${c.name} > `)));
  return {
    passed: leaves.filter((c) => !c.failed && !c.skipped).length,
    failed: leaves.filter((c) => c.failed).length,
    skipped: leaves.filter((c) => c.skipped).length,
  };
}

let passed = 0, failed = 0, skipped = 0, ok = true;
for (const run of runs) {
  console.log(`\n=== ${run.runtime}: ${run.cmd} ${run.argv(run.report).join(" ")}\n`);
  const started = Date.now();
  const env = { ...process.env, NO_COLOR: "1" };
  let res = { status: 0, signal: null };
  if (run.pre) {
    console.log(`${run.cmd} ${run.pre.join(" ")}`);
    res = spawnSync(run.cmd, run.pre, { cwd: root, stdio: "inherit", env });
    if (res.status !== 0) console.log(`${run.runtime}: type check failed`);
  }
  if (res.status === 0) {
    res = spawnSync(run.cmd, run.argv(run.report), { cwd: root, stdio: "inherit", env });
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  let c = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(run.report)) c = count(readFileSync(run.report, "utf8"));
  const exit = res.status ?? (res.signal ? `signal ${res.signal}` : "spawn error");
  if (res.status !== 0) {
    ok = false;
    if (c.failed === 0) c.failed = 1; // it failed without a report of which test: count the run
  }
  if (c.passed + c.failed === 0) {
    ok = false;
    console.log(`${run.runtime}: no test ran`);
  }
  console.log(
    `\n${run.runtime}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (exit ${exit}, ${secs}s)`,
  );
  passed += c.passed;
  failed += c.failed;
  skipped += c.skipped;
}
console.log(`\nBun + Deno:`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(ok && failed === 0 ? 0 : 1);
