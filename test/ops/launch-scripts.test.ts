/**
 * The operators' launch commands (`bun run serve|solec`, `deno task serve|solec`, and
 * `npm run …`) set the runtime's allocator environment (README, "Commands") unless the
 * operator already did, and hand every argument through. Each script is run by `sh`, as
 * the package managers run it, with a stand-in `bun` / `deno` first on PATH that prints
 * what it was given: the script's contract is the environment and the arguments it
 * passes, not the runtime behind them.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const root = new URL("../../", import.meta.url);
const scripts = (JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
  scripts: Record<string, string>;
}).scripts;
const tasks = (JSON.parse(readFileSync(new URL("deno.json", root), "utf8")) as {
  tasks: Record<string, string>;
}).tasks;

/** A `bun` / `deno` that prints the variable `name` (or "unset") and its arguments. */
function standIn(dir: string, runtime: string, name: string): void {
  const path = join(dir, runtime);
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "\${${name}-unset}" "$@"\n`);
  chmodSync(path, 0o755);
}

describe("launch scripts", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "solec-launch-"));
    standIn(dir, "bun", "MIMALLOC_PURGE_HOLES_MIN_INTERVAL");
    standIn(dir, "deno", "MALLOC_ARENA_MAX");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs a script as `npm run NAME -- …` does: its text, then the arguments, under sh. */
  function run(script: string, args: string, env: Record<string, string> = {}): string[] {
    const base = { ...process.env };
    delete base.MIMALLOC_PURGE_HOLES_MIN_INTERVAL;
    delete base.MALLOC_ARENA_MAX;
    const out = spawnSync("sh", ["-c", `${script} ${args}`], {
      env: { ...base, ...env, PATH: `${dir}:${process.env.PATH ?? ""}` },
      encoding: "utf8",
    });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trimEnd().split("\n");
  }

  for (const name of ["serve", "solec"]) {
    const cli = name === "serve" ? ["serve"] : [];

    it(`bun run ${name}: purges mimalloc's page holes at most every second, arguments intact`, () => {
      assert.deepEqual(run(scripts[name], "--port 1 'two words'"), [
        "1000",
        "src/main/bun.ts",
        ...cli,
        "--port",
        "1",
        "two words",
      ]);
    });

    it(`bun run ${name}: the operator's own MIMALLOC_PURGE_HOLES_MIN_INTERVAL wins`, () => {
      assert.equal(run(scripts[name], "", { MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "100" })[0], "100");
    });

    it(`deno task ${name}: one malloc arena unless set, arguments intact`, () => {
      const out = run(tasks[name], "--port 1");
      assert.equal(out[0], "1");
      assert.deepEqual(out.slice(-3 - cli.length), ["src/main/deno.ts", ...cli, "--port", "1"]);
      assert.equal(run(tasks[name], "", { MALLOC_ARENA_MAX: "4" })[0], "4");
    });
  }
});
