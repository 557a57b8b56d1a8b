/**
 * A SOLEC server as a child process for federation tests: its own temp
 * directory, SQLite store and key, on a chosen runtime. Setup (users,
 * contacts, peers) writes the store file directly from the test process;
 * the server reads peers from the store when it opens a link, so peers can
 * be added while it runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openKv } from "../../src/kv/open.ts";
import { Store } from "../../src/store/mod.ts";
import { hashPassword } from "../../src/server/password.ts";
import { loadOrCreateIdentity, type ServerIdentity } from "../../src/federation/identity.ts";
import { Peers } from "../../src/federation/peers.ts";
import { SolecClient } from "../../src/client/client.ts";
import { platform } from "./platform.ts";
import { cleanEnv, ROOT } from "./cli.ts";

export type RuntimeName = "bun" | "deno";

const BIN = {
  bun: join(ROOT, "node_modules/.bin/bun"),
  deno: join(ROOT, "node_modules/.bin/deno"),
};

export class ServerNode {
  proc: ChildProcess | null = null;
  port = 0;
  log = "";
  #exited: Promise<number | null> | null = null;
  /** Set by `useTls`: the listener serves TLS and clients trust this CA. */
  #tls: { certPath: string; keyPath: string; ca: string; caPath: string } | null = null;
  readonly #clients: SolecClient[] = [];

  private constructor(
    readonly domain: string,
    readonly runtime: RuntimeName,
    readonly dir: string,
    readonly identity: ServerIdentity,
  ) {}

  static async create(domain: string, runtime: RuntimeName): Promise<ServerNode> {
    const dir = mkdtempSync(join(tmpdir(), `solec-${domain}-`));
    const { identity } = await loadOrCreateIdentity(join(dir, "solec.key"));
    return new ServerNode(domain, runtime, dir, identity);
  }

  get storeUrl(): string {
    return `sqlite:${join(this.dir, "solec.db")}`;
  }

  get keyPath(): string {
    return join(this.dir, "solec.key");
  }

  /** Runs `fn` on the node's store (opened and closed around it). */
  async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const kv = openKv(this.storeUrl, { openSqlite: platform.openSqlite });
    try {
      return await fn(new Store(kv));
    } finally {
      await kv.close();
    }
  }

  async addUser(name: string): Promise<string> {
    const address = `${name}@${this.domain}`;
    const phc = await hashPassword(`pw-${name}`, { cost: 10 });
    await this.withStore((s) => s.users.add(address, phc));
    return address;
  }

  /** `owner` (local) has each of `others` in contacts. */
  async contacts(owner: string, ...others: string[]): Promise<void> {
    await this.withStore(async (s) => {
      for (const o of others) await s.kv.set(["contacts", owner, o], 1);
    });
  }

  /** Serve TLS with this certificate (PEM texts); peers and clients trust `ca`. */
  useTls(certs: { cert: string; key: string; ca: string }): void {
    const certPath = join(this.dir, "tls-cert.pem");
    const keyPath = join(this.dir, "tls-key.pem");
    const caPath = join(this.dir, "tls-ca.pem");
    writeFileSync(certPath, certs.cert);
    writeFileSync(keyPath, certs.key);
    writeFileSync(caPath, certs.ca);
    this.#tls = { certPath, keyPath, ca: certs.ca, caPath };
  }

  async trust(peer: ServerNode): Promise<void> {
    await this.withStore((s) =>
      new Peers(s.kv).set({
        domain: peer.domain,
        publicKey: peer.identity.publicKeyBase64,
        address: `127.0.0.1:${peer.port}`,
        tls: peer.#tls !== null,
        ca: peer.#tls?.caPath,
      })
    );
  }

  /** Starts `solec serve` on this node's runtime; resolves once it listens. */
  start(port = 0): Promise<void> {
    const argv = [
      ...(this.runtime === "bun"
        ? ["src/main/bun.ts"]
        : ["run", "-A", "--quiet", "src/main/deno.ts"]),
      "serve",
      "--domain",
      this.domain,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--http-port",
      "off",
      "--store",
      this.storeUrl,
      "--key",
      this.keyPath,
      "--password-cost",
      "10",
      "--log-level",
      "debug",
      ...(this.#tls === null
        ? []
        : ["--tls-cert", this.#tls.certPath, "--tls-key", this.#tls.keyPath]),
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(BIN[this.runtime], argv, {
        cwd: ROOT,
        env: cleanEnv(),
        stdio: ["ignore", "ignore", "pipe"],
      });
      this.proc = child;
      this.#exited = new Promise((r) => child.on("close", (code) => r(code)));
      let started = false;
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${this.domain} did not start:\n${this.log}`));
      }, 30_000);
      child.stderr?.on("data", (d) => {
        this.log += d;
        if (started) return;
        const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(this.log);
        if (m !== null) {
          started = true;
          clearTimeout(timer);
          this.port = Number(m[1]);
          resolve();
        }
      });
      child.on("close", (code) => {
        if (!started) {
          clearTimeout(timer);
          reject(new Error(`${this.domain} exited with ${code}:\n${this.log}`));
        }
      });
    });
  }

  /** Stops the server with `signal` (SIGKILL for a crash); resolves with its exit code. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<number | null> {
    for (const c of this.#clients.splice(0)) c.close();
    const child = this.proc;
    if (child === null || child.pid === undefined) return null;
    this.proc = null;
    // process.kill rather than child.kill: see test/support/cli.ts.
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
    return await this.#exited;
  }

  async login(user: string): Promise<SolecClient> {
    const c = await SolecClient.connect({
      net: platform.net,
      hostname: "127.0.0.1",
      port: this.port,
      tls: this.#tls === null ? undefined : { caCerts: [this.#tls.ca] },
    });
    this.#clients.push(c);
    await c.login(user, `pw-${user.split("@")[0]}`);
    return c;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
