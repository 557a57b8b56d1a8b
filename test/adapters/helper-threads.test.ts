/**
 * Helper threads run below the event loop (src/adapters/helper-threads.ts): the logic on a
 * scripted thread list, then the real thing, `solec serve` as a child process on Linux,
 * read back from /proc.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { HelperThreads } from "../../src/adapters/helper-threads.ts";
import { provisionStore, startSolecServe } from "../support/cli.ts";
import { platform } from "../support/platform.ts";

/** A fake /proc/self/task: thread id → name, and the priorities the calls see. */
function fakeTasks(dir: string, threads: Record<number, string>): void {
  for (const [tid, name] of Object.entries(threads)) {
    mkdirSync(join(dir, tid), { recursive: true });
    writeFileSync(join(dir, tid, "comm"), name + "\n");
  }
}

describe("HelperThreads on a scripted thread list", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "helper-threads-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("lowers matching threads once, never the main thread, never raises a priority", () => {
    const tasks = join(dir, "a");
    fakeTasks(tasks, {
      100: "bun",
      101: "JITWorker",
      102: "JITWorker",
      103: "Bun Pool 0",
      104: "bun",
      105: "mi-scavenger",
      106: "JSCWarmUp",
    });
    const nice = new Map<number, number>([[105, 15]]);
    const calls: [number, number][] = [];
    const helpers = new HelperThreads({
      names: /^(JITWorker|JSCWarmUp|mi-scavenger|Bun Pool)/,
      nice: 10,
      taskDir: tasks,
      mainThreadId: 100,
      getPriority: (tid) => nice.get(tid) ?? 0,
      setPriority: (tid, n) => {
        if (tid === 106) throw new Error("EPERM");
        calls.push([tid, n]);
        nice.set(tid, n);
      },
    });
    assert.equal(helpers.scan(), 3);
    // 105 already runs lower (15) and keeps it; 106 refused; 100 and 104 do not match.
    // (The directory lists threads in no particular order.)
    assert.deepEqual(calls.toSorted((a, b) => a[0] - b[0]), [[101, 10], [102, 10], [103, 10]]);
    assert.equal(helpers.scan(), 0, "threads seen once are not asked again");
    assert.equal(calls.length, 3);

    // A thread started later (a second pool thread) is found by the next scan.
    fakeTasks(tasks, { 107: "Bun Pool 1" });
    assert.equal(helpers.scan(), 1);
    assert.deepEqual(calls.at(-1), [107, 10]);
    assert.equal(helpers.lowered, 4);
  });

  it("the main thread is never touched even when its name matches", () => {
    const tasks = join(dir, "b");
    fakeTasks(tasks, { 200: "JITWorker", 201: "JITWorker" });
    const calls: number[] = [];
    const helpers = new HelperThreads({
      names: /^JITWorker/,
      nice: 5,
      taskDir: tasks,
      mainThreadId: 200,
      getPriority: () => 0,
      setPriority: (tid) => void calls.push(tid),
    });
    helpers.scan();
    assert.deepEqual(calls, [201]);
  });

  /**
   * HelperThreads over the scripted threads in `tasks` (main thread `main`) that puts
   * JITWorker at nice 10 and mi-scavenger in SCHED_IDLE through `setIdle`; `nice` records
   * the nice values it sets.
   */
  function withIdle(tasks: string, main: number, setIdle: (tid: number) => boolean) {
    const nice: [number, number][] = [];
    const helpers = new HelperThreads({
      names: /^(JITWorker|mi-scavenger)/,
      nice: 10,
      idleNames: /^mi-scavenger/,
      taskDir: tasks,
      mainThreadId: main,
      getPriority: () => 0,
      setPriority: (tid, n) => void nice.push([tid, n]),
      setIdle,
    });
    return { helpers, nice };
  }

  it("puts the idle-named threads in SCHED_IDLE, the rest at the nice value", () => {
    const tasks = join(dir, "c");
    fakeTasks(tasks, { 300: "bun", 301: "mi-scavenger", 302: "JITWorker", 303: "mi-scavenger" });
    const idle: number[] = [];
    const { helpers, nice } = withIdle(tasks, 300, (tid) => {
      idle.push(tid);
      return true;
    });
    assert.equal(helpers.scan(), 3);
    assert.deepEqual(idle.toSorted(), [301, 303]);
    assert.deepEqual(nice, [[302, 10]], "an idle thread is not also reniced");
    assert.equal(helpers.idled, 2);
    assert.equal(helpers.lowered, 3);
    assert.equal(helpers.scan(), 0, "threads seen once are not asked again");
    assert.equal(idle.length, 2);
  });

  it("a thread the kernel will not put in SCHED_IDLE gets the nice value", () => {
    const tasks = join(dir, "d");
    fakeTasks(tasks, { 400: "bun", 401: "mi-scavenger", 402: "mi-scavenger" });
    // Refused one way or the other: EPERM as a false, a missing libc as a throw.
    const { helpers, nice } = withIdle(tasks, 400, (tid) => {
      if (tid === 401) return false;
      throw new Error("no libc");
    });
    assert.equal(helpers.scan(), 2);
    assert.deepEqual(nice.toSorted((a, b) => a[0] - b[0]), [[401, 10], [402, 10]]);
    assert.equal(helpers.idled, 0);
    assert.equal(helpers.lowered, 2);
  });

  it("a missing thread list changes nothing", () => {
    const helpers = new HelperThreads({
      names: /./,
      nice: 10,
      taskDir: join(dir, "none"),
      setPriority: () => assert.fail("no thread to lower"),
    });
    assert.equal(helpers.scan(), 0);
  });

  it("rejects a nice value outside 1-19", () => {
    for (const nice of [0, 20, 1.5, -1]) {
      assert.throws(() => new HelperThreads({ names: /./, nice }), /invalid nice value/);
    }
  });
});

/** Linux scheduling policies, as /proc shows them. */
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Each thread of `pid`: name, nice value and scheduling policy (5: SCHED_IDLE), from /proc. */
function threadsOf(pid: number): { tid: number; name: string; nice: number; policy: number }[] {
  const out = [];
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${entry}/comm`, "utf8").trimEnd();
      // Fields after the ")" that closes the name: state is the 1st, nice the 17th, policy
      // the 39th (proc(5) numbers them from the pid: 3rd, 19th, 41st).
      const stat = readFileSync(`/proc/${pid}/task/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({
        tid: Number(entry),
        name,
        nice: Number(fields[16]),
        policy: Number(fields[38]),
      });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * What each runtime's `serve` lowers: Bun its adapter's `helperThreads`; Deno nothing, so
 * its V8 platform workers are watched to stay at the process's priority.
 */
const WATCHED = platform.helperThreads ?? /^V8 DefaultWorke/;

describe("solec serve and its runtime's helper threads", {
  skip: process.platform !== "linux" ? "per-thread priorities are Linux only" : undefined,
}, () => {
  let dir: string;
  let common: string[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "solec-helpers-"));
    common = await provisionStore(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The main thread and the watched helpers of a fresh `serve`, once `done` holds (or 10 s). */
  async function threadsOfServer(
    args: string[],
    done: (helpers: { nice: number; policy: number }[]) => boolean,
  ) {
    const server = await startSolecServe([...common, ...args]);
    try {
      const pid = server.child.pid as number;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const threads = threadsOf(pid);
        const main = threads.find((t) => t.tid === pid);
        const helpers = threads.filter((t) => WATCHED.test(t.name));
        if (done(helpers) || Date.now() > deadline) return { main, helpers };
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await server.stop();
    }
  }

  if (platform.helperThreads !== undefined) {
    it("by default: the scavenger in SCHED_IDLE, the others at nice 10, the main thread as it was", async () => {
      const idle = platform.idleHelperThreads;
      assert.ok(idle !== undefined, "Bun names the threads it runs in SCHED_IDLE");
      // Helpers the runtime starts before serving (JavaScriptCore's warm-up thread,
      // mimalloc's scavenger) are lowered at start-up.
      const { main, helpers } = await threadsOfServer(
        [],
        (h) => h.some((t) => t.nice === 10) && h.some((t) => t.policy === SCHED_IDLE),
      );
      assert.equal(main?.nice, 0);
      assert.equal(main?.policy, SCHED_OTHER);
      const shown = JSON.stringify(helpers);
      assert.ok(helpers.some((t) => t.nice === 10), shown);
      const idled = helpers.filter((t) => idle.test(t.name));
      assert.ok(idled.length > 0, `mimalloc's scavenger runs from the start: ${shown}`);
      assert.ok(idled.every((t) => t.policy === SCHED_IDLE), shown);
      assert.ok(
        helpers.filter((t) => !idle.test(t.name)).every((t) => t.policy === SCHED_OTHER),
        shown,
      );
    });

    it("leaves them alone with --helper-thread-nice 0", async () => {
      const { main, helpers } = await threadsOfServer(["--helper-thread-nice", "0"], () => true);
      assert.equal(main?.nice, 0);
      assert.ok(helpers.length > 0);
      const shown = JSON.stringify(helpers);
      assert.ok(helpers.every((t) => t.nice === 0 && t.policy === SCHED_OTHER), shown);
    });
  } else {
    it("on Deno leaves V8's workers at the process's priority (see its adapter)", async () => {
      // `serve` scans right after it starts listening; 1.5 s is well past that scan.
      const since = Date.now();
      const { main, helpers } = await threadsOfServer([], () => Date.now() - since > 1500);
      assert.equal(main?.nice, 0);
      assert.ok(helpers.length > 0, "Deno has V8 workers");
      assert.ok(
        helpers.every((t) => t.nice === 0 && t.policy === SCHED_OTHER),
        JSON.stringify(helpers),
      );
    });
  }
});
