/**
 * `solec user import` and `solec contact import` as real processes on a real
 * SQLite file: imports, logins and messages afterwards, bad lines (exit 2,
 * nothing of the batch written), existing users (exit 1 or skipped), and the
 * 500-line transaction boundary.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSolec, startSolecServe } from "../support/cli.ts";
import { SolecClient } from "../../src/client/client.ts";
import { openKv } from "../../src/kv/open.ts";
import { Store } from "../../src/store/mod.ts";
import { platform } from "../support/platform.ts";

describe("solec user import / contact import", () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "solec-import-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Options for a fresh store (one per test, so tests do not depend on each other). */
  function freshStore(): string[] {
    n++;
    return [
      "--key",
      join(dir, "solec.key"),
      "--store",
      `sqlite:${join(dir, `store-${n}.db`)}`,
      "--domain",
      "a.test",
      "--password-cost",
      "10",
    ];
  }

  /**
   * The store's users, read in this process once the CLI has exited (not via
   * `user list`, whose output a child may cut short when it exits quickly).
   */
  async function users(common: string[]): Promise<string[]> {
    const kv = openKv(common[common.indexOf("--store") + 1], { openSqlite: platform.openSqlite });
    try {
      return await new Store(kv).users.list();
    } finally {
      await kv.close();
    }
  }

  async function login(port: number, user: string, password: string): Promise<SolecClient> {
    const c = await SolecClient.connect({ net: platform.net, hostname: "127.0.0.1", port });
    await c.login(user, password);
    return c;
  }

  it("imports users and contacts that can then log in and talk", async () => {
    const common = freshStore();
    let r = await runSolec(["user", "import", ...common], {
      stdin: [
        "# users for the test",
        "alice pw-alice",
        "",
        "  bob@a.test   pw with spaces",
        "carol\tpw-carol",
        "   # an indented comment",
      ].join("\n") + "\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "imported 3 users");
    assert.deepEqual(await users(common), ["alice@a.test", "bob@a.test", "carol@a.test"]);

    r = await runSolec(["contact", "import", ...common], {
      stdin: "# pairs\nalice bob\n\ncarol@a.test   alice@a.test\nbob zed@b.test\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "imported 3 contact pairs");
    r = await runSolec(["contact", "list", "alice", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["bob@a.test", "carol@a.test"]);
    r = await runSolec(["contact", "list", "bob", ...common]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["alice@a.test", "zed@b.test"]);

    const server = await startSolecServe([...common, "--http-port", "off"]);
    try {
      const alice = await login(server.port, "alice@a.test", "pw-alice");
      const bob = await login(server.port, "bob@a.test", "pw with spaces");
      const carol = await login(server.port, "carol@a.test", "pw-carol");
      await alice.send("bob@a.test", "hello bob");
      assert.equal((await bob.messages().next()).value?.content, "hello bob");
      await carol.send("alice@a.test", "hello alice");
      assert.equal((await alice.messages().next()).value?.content, "hello alice");
      // A wrong password is still refused.
      await assert.rejects(login(server.port, "carol@a.test", "pw-alice"));
      for (const c of [alice, bob, carol]) c.close();
    } finally {
      const code = await server.stop("SIGTERM");
      assert.equal(code, 0, server.stderr());
    }
  });

  it("refuses a bad line with exit 2, naming its line, writing nothing of the batch", async () => {
    const common = freshStore();
    let r = await runSolec(["user", "import", ...common], {
      stdin: "alice pw\n# comment\nbob pw\nBad! s3cret-value\ncarol pw\n",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 4: .*"Bad!".*not a valid user name/);
    assert.match(r.stderr, /nothing was imported/);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret-value/, "passwords are never echoed");
    assert.deepEqual(await users(common), []);

    for (
      const [stdin, pattern] of [
        ["alice pw\nbob\n", /line 2: user bob@a\.test has no password/],
        ["alice pw\nbob@b.test pw\n", /line 2: .*not on this server's domain a\.test/],
      ] as const
    ) {
      r = await runSolec(["user", "import", ...common], { stdin });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
    }
    assert.deepEqual(await users(common), []);

    r = await runSolec(["user", "import", ...common], { stdin: "alice pw\nbob pw\n" });
    assert.equal(r.code, 0, r.stderr);
    for (
      const [stdin, pattern] of [
        ["alice bob\nalice bob carol\n", /line 2: expected two user addresses/],
        ["alice bob\nalice alice\n", /line 2: a contact pair needs two different users/],
        ["alice bob\nx@b.test y@c.test\n", /line 2: neither x@b\.test nor y@c\.test/],
        ["alice bob\nalice Bad!\n", /line 2: second user "Bad!"/],
      ] as const
    ) {
      r = await runSolec(["contact", "import", ...common], { stdin });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
    }
    r = await runSolec(["contact", "list", "alice", ...common]);
    assert.equal(r.stdout.trim(), "", "no contact of a refused batch was written");
  });

  it("fails on existing users with exit 1 unless --skip-existing", async () => {
    const common = freshStore();
    let r = await runSolec(["user", "import", ...common], { stdin: "alice pw-1\n" });
    assert.equal(r.code, 0, r.stderr);

    r = await runSolec(["user", "import", ...common], { stdin: "bob pw\nalice pw-2\ncarol pw\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 2: user alice@a\.test already exists/);
    assert.deepEqual(await users(common), ["alice@a.test"]);

    r = await runSolec(["user", "import", ...common], { stdin: "bob pw\ndave pw\nbob pw-2\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 3: user bob@a\.test already appears on line 1/);
    assert.deepEqual(await users(common), ["alice@a.test"]);

    r = await runSolec(["user", "import", "--skip-existing", ...common], {
      stdin: "bob pw-bob\nalice pw-2\ncarol pw-carol\nbob pw-3\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "imported 2 users (2 existing skipped)");
    assert.deepEqual(await users(common), ["alice@a.test", "bob@a.test", "carol@a.test"]);

    r = await runSolec(["contact", "import", ...common], { stdin: "alice bob\ncarol ghost\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 2: no user ghost@a\.test/);
    r = await runSolec(["contact", "list", "alice", ...common]);
    assert.equal(r.stdout.trim(), "");

    // The existing password was kept, the skipped line's not applied; the new ones work.
    const server = await startSolecServe([...common, "--http-port", "off"]);
    try {
      (await login(server.port, "alice@a.test", "pw-1")).close();
      await assert.rejects(login(server.port, "alice@a.test", "pw-2"));
      (await login(server.port, "bob@a.test", "pw-bob")).close();
      (await login(server.port, "carol@a.test", "pw-carol")).close();
    } finally {
      const code = await server.stop("SIGTERM");
      assert.equal(code, 0, server.stderr());
    }
  });

  it("commits 500 lines per transaction: a bad line keeps earlier batches only", async () => {
    const common = freshStore();
    const lines = ["# 600 users, line 552 is bad"];
    for (let i = 0; i < 600; i++) lines.push(i === 550 ? "no_password_here" : `u${i} pw${i}`);
    let r = await runSolec(["user", "import", ...common], {
      stdin: lines.join("\n") + "\n",
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 552: user no_password_here@a\.test has no password/);
    assert.match(r.stderr, /imported 500 users from the lines before 502, nothing from there on/);
    assert.equal((await users(common)).length, 500);

    r = await runSolec(["user", "import", "--skip-existing", ...common], {
      stdin: lines.filter((l) => l !== "no_password_here").join("\n") + "\n",
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "imported 99 users (500 existing skipped)");
    assert.equal((await users(common)).length, 599);
  });
});
