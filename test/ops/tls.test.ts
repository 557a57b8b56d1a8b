/**
 * `solec serve --tls-cert --tls-key`: the SOLEC listener speaks TLS; a client
 * trusting the test CA logs in and messages. Certificates are made by the
 * openssl CLI in a temp dir (skipped when openssl is missing).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { provisionStore, runSolec, startSolecServe } from "../support/cli.ts";
import { SolecClient } from "../../src/client/client.ts";
import { platform } from "../support/platform.ts";
import { hasOpenssl, makeCerts, type TestCerts } from "../adapters/helpers.ts";

const opensslMissing = !hasOpenssl();

describe("solec serve over TLS", { skip: opensslMissing }, () => {
  let dir: string;
  let common: string[];
  let certs: TestCerts;
  let tlsArgs: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "solec-ops-tls-"));
    certs = makeCerts();
    writeFileSync(join(dir, "cert.pem"), certs.cert);
    writeFileSync(join(dir, "key.pem"), certs.key);
    tlsArgs = ["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")];
    common = await provisionStore(dir);
    assert.equal((await runSolec(["contact", "add", "alice", "bob", ...common])).code, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("accepts TLS clients that trust the CA: login and a message", async () => {
    const server = await startSolecServe([...common, ...tlsArgs, "--http-port", "off"]);
    const clients: SolecClient[] = [];
    try {
      const listening = server.stderr().split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((r) => r.msg === "listening");
      assert.equal(listening?.tls, true, server.stderr());
      const connect = async (serverName?: string) => {
        const c = await SolecClient.connect({
          net: platform.net,
          hostname: "127.0.0.1",
          port: server.port,
          tls: { caCerts: [certs.ca], ...(serverName ? { serverName } : {}) },
        });
        clients.push(c);
        return c;
      };
      const alice = await connect();
      const bob = await connect("localhost");
      await alice.login("alice@a.test", "pw-alice");
      await bob.login("bob@a.test", "pw-bob");
      await alice.send("bob@a.test", "over TLS");
      const got = await bob.messages().next();
      assert.equal(got.value?.content, "over TLS");
      assert.equal(got.value?.source, "alice@a.test");
    } finally {
      for (const c of clients) c.close();
      assert.equal(await server.stop("SIGTERM"), 0, server.stderr());
    }
  });

  it("refuses to start without readable TLS files (exit 2)", async () => {
    const r = await runSolec([
      "serve",
      ...common,
      "--port",
      "0",
      "--http-port",
      "off",
      "--tls-cert",
      join(dir, "missing.pem"),
      "--tls-key",
      join(dir, "key.pem"),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /TLS files:.*missing\.pem/);
  });
});
