/**
 * The operator CLI as a real process on this runtime, on a real SQLite file:
 * users, contacts, channels, configuration errors (exit 2), and `serve`
 * working together with the CLI on one store.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSolec, startSolecServe } from "../support/cli.ts";
import { SolecClient } from "../../src/client/client.ts";
import { platform } from "../support/platform.ts";

describe("solec CLI", () => {
  let dir: string;
  let common: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "solec-cli-"));
    common = [
      "--key",
      join(dir, "solec.key"),
      "--store",
      `sqlite:${join(dir, "solec.db")}`,
      "--domain",
      "a.test",
      "--password-cost",
      "10",
    ];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("adds, lists, re-passwords and deletes users", async () => {
    let r = await runSolec(["user", "add", "alice", "--password-stdin", ...common], {
      stdin: "s3cret\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added alice@a\.test/);
    r = await runSolec(["user", "add", "bob@a.test", "--password-stdin", ...common], {
      stdin: "pw-bob\n",
    });
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["user", "add", "alice", "--password-stdin", ...common], { stdin: "x\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    r = await runSolec(["user", "list", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["alice@a.test", "bob@a.test"]);
    r = await runSolec(["user", "passwd", "alice", "--password-stdin", ...common], {
      stdin: "n3w\n",
    });
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["user", "add", "carol", "--password-stdin", ...common], { stdin: "c\n" });
    r = await runSolec(["user", "del", "carol", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["user", "del", "carol", ...common]);
    assert.equal(r.code, 1);
  });

  it("refuses bad user names and missing passwords with exit code 2", async () => {
    let r = await runSolec(["user", "add", "Bad Name", "--password-stdin", ...common], {
      stdin: "x\n",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a valid user name/);
    r = await runSolec(["user", "add", "dave@b.test", "--password-stdin", ...common], {
      stdin: "x\n",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not on this server's domain a\.test/);
    r = await runSolec(["user", "add", "dave", "--password-stdin", ...common], { stdin: "" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /standard input is empty/);
    r = await runSolec(["user", "add", "dave", ...common]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--password-stdin/);
  });

  it("makes contacts mutual and lists them", async () => {
    let r = await runSolec(["contact", "add", "alice", "bob", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["contact", "add", "alice", "zed@b.test", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["contact", "list", "alice", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["bob@a.test", "zed@b.test"]);
    r = await runSolec(["contact", "list", "bob", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["alice@a.test"]);
    r = await runSolec(["contact", "add", "alice", "ghost", ...common]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no user ghost@a\.test/);
  });

  it("adds, lists and deletes channels", async () => {
    let r = await runSolec(["channel", "add", "#ops", ...common]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added #ops@a\.test/);
    r = await runSolec(["channel", "list", ...common]);
    assert.match(r.stdout, /#ops@a\.test\t0 members/);
    r = await runSolec(["channel", "del", "#ops@a.test", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["channel", "del", "#ops", ...common]);
    assert.equal(r.code, 1);
  });

  it("names every bad setting at once and exits 2", async () => {
    const r = await runSolec(["user", "list", "--max-payload", "0", "--store", "redis://x"], {
      env: { SOLEC_PORT: "abc" },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SOLEC_PORT/);
    assert.match(r.stderr, /--max-payload/);
    assert.match(r.stderr, /--store/);
  });

  it("generates the server key once (mode 0600) and prints the public key last", async () => {
    let r = await runSolec(["key", "show", ...common]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /solec key generate/);
    r = await runSolec(["key", "generate", ...common]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const pub = lines[lines.length - 1];
    assert.match(pub, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(statSync(join(dir, "solec.key")).mode & 0o777, 0o600);
    r = await runSolec(["key", "generate", ...common]);
    assert.match(r.stdout, /exists; not overwritten/);
    assert.equal(r.stdout.trim().split("\n").pop(), pub);
    r = await runSolec(["key", "show", ...common]);
    assert.equal(r.stdout.trim(), pub);
  });

  it("adds, lists and deletes peers, and validates their fields", async () => {
    const key = "A".repeat(43) + "=";
    let r = await runSolec([
      "peer",
      "add",
      "b.test",
      key,
      "--address",
      "127.0.0.1:7000",
      ...common,
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["peer", "add", "c.test", key, "--tls", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["peer", "list", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      `b.test\t127.0.0.1:7000\tplain\t${key}`,
      `c.test\tc.test:9999\ttls\t${key}`,
    ]);
    r = await runSolec(["peer", "add", "d.test", "bm90IGEga2V5", ...common]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /32-byte Ed25519 key/);
    r = await runSolec(["peer", "add", "a.test", key, ...common]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /own domain/);
    r = await runSolec(["peer", "add", "e.test", key, "--address", "nohost", ...common]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--address/);
    r = await runSolec(["peer", "del", "c.test", ...common]);
    assert.equal(r.code, 0, r.stderr);
    r = await runSolec(["peer", "del", "c.test", ...common]);
    assert.equal(r.code, 1);
  });

  it("exits 2 for an unknown command or flag", async () => {
    assert.equal((await runSolec(["frobnicate"])).code, 2);
    assert.equal((await runSolec(["user", "list", "--no-such-flag"])).code, 2);
  });

  it("serves clients from the store the CLI writes, also while running, and stops on SIGTERM", async () => {
    const server = await startSolecServe([...common, "--http-port", "off"]);
    try {
      // A user created while the server runs can log in right away.
      const r = await runSolec(["user", "add", "erin", "--password-stdin", ...common], {
        stdin: "pw-erin\n",
      });
      assert.equal(r.code, 0, r.stderr);
      await runSolec(["contact", "add", "erin", "alice", ...common]);
      const erin = await SolecClient.connect({
        net: platform.net,
        hostname: "127.0.0.1",
        port: server.port,
      });
      await erin.login("erin@a.test", "pw-erin");
      const alice = await SolecClient.connect({
        net: platform.net,
        hostname: "127.0.0.1",
        port: server.port,
      });
      await alice.login("alice@a.test", "n3w");
      await erin.send("alice@a.test", "hello from erin");
      const got = await alice.messages().next();
      assert.equal(got.value?.content, "hello from erin");
      erin.close();
      alice.close();
    } finally {
      const code = await server.stop("SIGTERM");
      assert.equal(code, 0, server.stderr());
    }
  });
});
