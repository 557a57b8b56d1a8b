/**
 * The null relay of the runtimes' floor (scripts/relay-floor-{bun,deno}.ts), on the runtime
 * running the tests, as a child process on loopback: it copies each chunk to the partner,
 * and with --ack also answers the sender with a SOLEC Success frame (the floor of a server
 * that acknowledges each message, scripts/bench-relay-floor.sh).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import process from "node:process";
import { ROOT } from "../support/cli.ts";
import { platform } from "../support/platform.ts";

const SUCCESS = [0x01, 0, 0];

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

/** A client of the relay: everything it received, and a wait for a condition on it. */
class Client {
  received: number[] = [];
  #wake: (() => void) | null = null;
  private constructor(readonly socket: Socket) {
    socket.on("data", (b: Uint8Array) => {
      this.received.push(...b);
      this.#wake?.();
    });
  }

  /** Connects as `me` paired with `partner`, and waits for the relay's "OK". */
  static async login(port: number, me: string, partner: string): Promise<Client> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new Client(socket);
    socket.write(`${me} ${partner}\n`);
    await client.until((r) => r.length >= 3, "OK");
    assert.deepEqual(client.take(3), [...new TextEncoder().encode("OK\n")]);
    return client;
  }

  /** Removes and returns the first `n` bytes received. */
  take(n: number): number[] {
    return this.received.splice(0, n);
  }

  async until(done: (received: number[]) => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}: ${this.received}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }
}

describe(`relay floor (${platform.runtime})`, () => {
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    for (const c of children) c.kill();
  });

  async function pair(extra: string[]): Promise<[Client, Client]> {
    const { child, port } = await startRelay(extra);
    children.push(child);
    const a = await Client.login(port, "a", "b");
    const b = await Client.login(port, "b", "a");
    sockets.push(a.socket, b.socket);
    return [a, b];
  }

  it("with --ack copies each chunk to the partner and answers the sender with Success", async () => {
    const [a, b] = await pair(["--ack"]);
    a.socket.write("hello");
    await b.until((r) => r.length >= 5, "the chunk at b");
    assert.equal(new TextDecoder().decode(new Uint8Array(b.take(5))), "hello");
    await a.until((r) => r.length >= 3, "the answer at a");
    assert.deepEqual(a.take(3), SUCCESS);

    b.socket.write("back");
    await a.until((r) => r.length >= 4, "the chunk at a");
    assert.equal(new TextDecoder().decode(new Uint8Array(a.take(4))), "back");
    await b.until((r) => r.length >= 3, "the answer at b");
    assert.deepEqual(b.take(3), SUCCESS);
  });

  it("without --ack only copies: the sender hears nothing", async () => {
    const [a, b] = await pair([]);
    a.socket.write("hello");
    await b.until((r) => r.length >= 5, "the chunk at b");
    assert.equal(new TextDecoder().decode(new Uint8Array(b.take(5))), "hello");
    // The partner's copy has arrived; an answer written with it would have too.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(a.received, []);
  });
});
