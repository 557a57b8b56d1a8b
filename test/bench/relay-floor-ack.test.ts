/**
 * The null relay of the runtimes' floor (scripts/relay-floor-{bun,deno}.ts), on the runtime
 * running the tests, as a child process on loopback: it copies each chunk to the partner,
 * and with --ack also answers the sender with a SOLEC Success frame (the floor of a server
 * that acknowledges each message, scripts/bench-relay-floor.sh).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import type { Connection } from "../../src/platform.ts";
import { HOST, readBytes, sleep } from "../adapters/helpers.ts";
import { ROOT } from "../support/cli.ts";
import { platform } from "../support/platform.ts";

const SUCCESS = new Uint8Array([0x01, 0, 0]);
const text = (s: string) => new TextEncoder().encode(s);

/** Starts the relay on a free port; resolves with the process and the port it printed. */
async function startRelay(extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const argv = platform.runtime === "bun"
    ? ["scripts/relay-floor-bun.ts", "0", ...extra]
    : ["run", "-A", "scripts/relay-floor-deno.ts", "0", ...extra];
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${out}`)), 20_000);
    child.stdout?.on("data", (b: Uint8Array) => {
      out += new TextDecoder().decode(b);
      const m = /on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`relay exited (${code}): ${out}`)));
  });
  return { child, port };
}

/** Connects as `me` paired with `partner`, and waits for the relay's "OK". */
async function login(port: number, me: string, partner: string): Promise<Connection> {
  const conn = await platform.net.connect({ hostname: HOST, port });
  await conn.send(text(`${me} ${partner}\n`));
  assert.deepEqual(await readBytes(conn, 3), text("OK\n"));
  return conn;
}

describe(`relay floor (${platform.runtime})`, () => {
  const children: ChildProcess[] = [];
  const conns: Connection[] = [];
  after(() => {
    for (const c of conns) c.close();
    for (const c of children) c.kill();
  });

  async function pair(extra: string[]): Promise<[Connection, Connection]> {
    const { child, port } = await startRelay(extra);
    children.push(child);
    const a = await login(port, "a", "b");
    const b = await login(port, "b", "a");
    conns.push(a, b);
    return [a, b];
  }

  it("with --ack copies each chunk to the partner and answers the sender with Success", async () => {
    const [a, b] = await pair(["--ack"]);
    await a.send(text("hello"));
    assert.deepEqual(await readBytes(b, 5), text("hello"));
    assert.deepEqual(await readBytes(a, 3), SUCCESS);

    await b.send(text("back"));
    assert.deepEqual(await readBytes(a, 4), text("back"));
    assert.deepEqual(await readBytes(b, 3), SUCCESS);
  });

  it("without --ack only copies: the sender hears nothing", async () => {
    const [a, b] = await pair([]);
    await a.send(text("hello"));
    assert.deepEqual(await readBytes(b, 5), text("hello"));
    // The partner's copy has arrived; an answer written with it would have too. Then a
    // chunk from b: the first bytes a reads are that chunk, not an answer.
    await sleep(100);
    await b.send(text("back"));
    assert.deepEqual(await readBytes(a, 4), text("back"));
  });
});
