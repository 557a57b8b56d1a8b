/**
 * Starts a real SolecServer on 127.0.0.1 (port 0) over a real SQLite file in
 * a temp directory (or `memory:`), for tests on either runtime.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKv } from "../../src/kv/open.ts";
import type { Kv } from "../../src/kv/kv.ts";
import { type ServerOptions, SolecServer } from "../../src/server/server.ts";
import { hashPassword } from "../../src/server/password.ts";
import { SolecClient } from "../../src/client/client.ts";
import { platform } from "./platform.ts";
import type { ServerIdentity } from "../../src/federation/identity.ts";

export const TEST_DOMAIN = "a.test";
/** Cheapest accepted scrypt cost: tests log in a lot. */
export const TEST_PASSWORD_COST = 10;

export interface TestServer {
  readonly server: SolecServer;
  readonly kv: Kv;
  readonly port: number;
  readonly dir: string;
  readonly storeUrl: string;
  addUser(name: string, password?: string): Promise<string>;
  /** Mutual contacts. */
  contacts(a: string, b: string): Promise<void>;
  connect(): Promise<SolecClient>;
  login(user: string, password?: string): Promise<SolecClient>;
  /** Stops the server (keeps the store unless `cleanup`). */
  stop(): Promise<void>;
  /** Stops and closes the store; removes the temp directory. */
  cleanup(): Promise<void>;
}

export async function startServer(
  options: Partial<ServerOptions> & {
    store?: "sqlite" | "memory";
    dir?: string;
    /** Wraps the store the server uses (e.g. with a FaultyKv). */
    wrapKv?: (kv: Kv) => Kv;
    /** Makes the server federate. */
    identity?: ServerIdentity;
    /** The runtime's garbage collection (see BurstCollector). */
    collectGarbage?: () => void;
  } = {},
): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "solec-test-"));
  const storeUrl = options.store === "memory" ? "memory:" : `sqlite:${join(dir, "solec.db")}`;
  const kv = openKv(storeUrl, { openSqlite: platform.openSqlite });
  const serverKv = options.wrapKv?.(kv) ?? kv;
  const server = new SolecServer(
    {
      domain: TEST_DOMAIN,
      host: "127.0.0.1",
      port: 0,
      passwordCost: TEST_PASSWORD_COST,
      ...options,
    },
    {
      net: platform.net,
      kv: serverKv,
      identity: options.identity,
      collectGarbage: options.collectGarbage,
    },
  );
  await server.start();
  const port = server.addr.port;
  const clients: SolecClient[] = [];
  let stopped = false;
  const t: TestServer = {
    server,
    kv,
    port,
    dir,
    storeUrl,
    async addUser(name, password = "pw-" + name) {
      const address = `${name}@${TEST_DOMAIN}`;
      await server.store.users.add(
        address,
        await hashPassword(password, { cost: TEST_PASSWORD_COST }),
      );
      return address;
    },
    async contacts(a, b) {
      await kv.atomic().set(["contacts", a, b], 1).set(["contacts", b, a], 1).commit();
    },
    async connect() {
      const c = await SolecClient.connect({ net: platform.net, hostname: "127.0.0.1", port });
      clients.push(c);
      return c;
    },
    async login(user, password) {
      const c = await t.connect();
      await c.login(user, password ?? "pw-" + user.split("@")[0]);
      return c;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.close();
      await server.stop();
    },
    async cleanup() {
      await t.stop();
      await kv.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
