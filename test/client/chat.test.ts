import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatMessage,
  formatTime,
  HELP,
  joinHostPort,
  readLines,
  runChat,
  sanitize,
  splitHostPort,
} from "../../src/client/chat.ts";
import type { Message } from "../../src/client/client.ts";
import type { ConnectOptions, NetAdapter } from "../../src/platform.ts";
import { ErrorCode, type Payload, PayloadType } from "../../src/protocol/mod.ts";
import { acceptLogin, err, type FakeConn, FakeServer, msg, OK, serve, T0 } from "./fake-server.ts";
import { net } from "./net.ts";

const ALICE = "alice@a.test";
const BOB = "bob@a.test";
const DEV = "#dev@a.test";

/** Input lines the test can feed while the chat runs. */
class Lines implements AsyncIterable<string> {
  readonly #queue: (string | null)[] = [];
  readonly #waiters: ((r: IteratorResult<string>) => void)[] = [];

  push(...lines: string[]): void {
    for (const l of lines) this.#put(l);
  }

  end(): void {
    this.#put(null);
  }

  #put(l: string | null): void {
    const w = this.#waiters.shift();
    if (w === undefined) this.#queue.push(l);
    else w(l === null ? { done: true, value: undefined } : { done: false, value: l });
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => {
        if (this.#queue.length > 0) {
          const l = this.#queue[0];
          if (l === null) return Promise.resolve({ done: true, value: undefined });
          this.#queue.shift();
          return Promise.resolve({ done: false, value: l });
        }
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }
}

/** Collects output lines; `waitFor` resolves once a matching line was printed. */
class Output {
  readonly lines: string[] = [];
  readonly #watch: { re: RegExp; resolve: () => void }[] = [];

  readonly write = (line: string): void => {
    assert.ok(!line.includes("\n"), `output line contains a newline: ${JSON.stringify(line)}`);
    this.lines.push(line);
    for (const w of [...this.#watch]) {
      if (w.re.test(line)) {
        this.#watch.splice(this.#watch.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  waitFor(re: RegExp): Promise<void> {
    if (this.lines.some((l) => re.test(l))) return Promise.resolve();
    return new Promise((resolve) => this.#watch.push({ re, resolve }));
  }
}

/**
 * A small stateful server: Usermode/Message succeed unless the target is one
 * of the refusing names; History answers from `history`; List from `list`.
 */
function chatServer(
  options: {
    history?: Record<string, Payload[]>;
    list?: string[];
    afterLogin?: Payload[];
    /** Extra frames after the reply to a request. */
    pushAfter?: (request: Payload) => Payload[];
  } = {},
): (c: FakeConn) => Promise<void> {
  return async (c) => {
    const user = await acceptLogin(c);
    if (user === undefined) return;
    if (options.afterLogin) await c.send(...options.afterLogin);
    await serve(c, (r) => {
      const extra = options.pushAfter?.(r) ?? [];
      switch (r.type) {
        case PayloadType.Message:
          if (r.content === "drop") {
            c.close();
            return [];
          }
          if (r.target === "nobody@a.test") return [err(ErrorCode.NotFound), ...extra];
          if (r.target === "busy@a.test") return [err(ErrorCode.RateLimited), ...extra];
          return [OK, ...extra];
        case PayloadType.Usermode:
          if (r.channel === "#nope@a.test") return [err(ErrorCode.NotFound), ...extra];
          return [OK, ...extra];
        case PayloadType.History:
          return [...(options.history?.[r.target] ?? []).slice(-r.count), OK, ...extra];
        case PayloadType.List:
          return [
            ...(options.list ?? []).map((address): Payload => ({
              type: PayloadType.ListItem,
              address,
            })),
            OK,
            ...extra,
          ];
        default:
          return [err(ErrorCode.ProtocolViolation)];
      }
    });
  };
}

interface Run {
  code: number;
  out: string[];
  received: Payload[];
}

/** Runs a chat session over `lines` (then end of input) against `handler`. */
async function chat(
  handler: (c: FakeConn) => Promise<void>,
  lines: string[],
  options: { password?: string; end?: boolean } = {},
): Promise<Run> {
  const server = await FakeServer.start(net, handler);
  const input = new Lines();
  input.push(...lines);
  if (options.end ?? true) input.end();
  const out = new Output();
  try {
    const code = await runChat({
      address: ALICE,
      server: `127.0.0.1:${server.port}`,
      net,
      input,
      output: out.write,
      password: options.password ?? "pw",
    });
    return { code, out: out.lines, received: server.connections[0]?.received.slice(2) ?? [] };
  } finally {
    input.end();
    await server.stop();
  }
}

const CONNECTED = /^connected to 127\.0\.0\.1:\d+ as alice@a\.test \(\/help for commands\)$/;

function withoutBanner(out: string[]): string[] {
  assert.match(out[0], CONNECTED);
  return out.slice(1);
}

function m(target: string, content: string, ts: number): Message {
  return { type: PayloadType.Message, source: ALICE, target, timestamp: ts, content };
}

function sent(received: Payload[]): string[] {
  return received.flatMap((
    p,
  ) => (p.type === PayloadType.Message ? [`${p.target} ${p.content}`] : []));
}

describe("runChat: commands", () => {
  it("runs a whole session", async () => {
    const history = {
      [DEV]: [
        msg(BOB, DEV, "first", 0),
        msg(ALICE, DEV, "second", 60_000),
        msg(BOB, DEV, "third", 120_000),
      ],
      [BOB]: [msg(BOB, ALICE, "hey", 0), msg(ALICE, BOB, "ho", 1)],
    };
    const run = await chat(chatServer({ history, list: [DEV, BOB] }), [
      "/join #dev@a.test",
      "hello there",
      "/msg bob@a.test hi  bob",
      "again",
      "/to #dev@A.Test",
      "//slash",
      "/list",
      "/contact add carol@b.test",
      "/contact del carol@b.test",
      "/history 2",
      "/history bob@a.test",
      "/leave",
      "/quit",
      "never read",
    ]);
    assert.equal(run.code, 0);
    assert.deepEqual(withoutBanner(run.out), [
      "joined #dev@a.test",
      "talking to #dev@a.test",
      "contacts and channels (2):",
      "  #dev@a.test",
      "  bob@a.test",
      "added carol@b.test to contacts",
      "removed carol@b.test from contacts",
      `${formatTime(T0 + 60_000)} #dev@a.test <alice@a.test> second`,
      `${formatTime(T0 + 120_000)} #dev@a.test <bob@a.test> third`,
      "-- 2 messages with #dev@a.test",
      `${formatTime(T0)} <bob@a.test> hey`,
      `${formatTime(T0 + 1)} -> bob@a.test <alice@a.test> ho`,
      "-- 2 messages with bob@a.test",
      "left #dev@a.test",
    ]);
    assert.deepEqual(sent(run.received), [
      "#dev@a.test hello there",
      "bob@a.test hi  bob",
      "bob@a.test again",
      "#dev@a.test /slash",
    ]);
    const modes = run.received.flatMap((p) =>
      p.type === PayloadType.Usermode ? [`${p.user} ${p.channel} ${p.mode}`] : []
    );
    assert.deepEqual(modes, [
      "alice@a.test #dev@a.test 1",
      "alice@a.test carol@b.test 1",
      "alice@a.test carol@b.test 0",
      "alice@a.test #dev@a.test 0",
    ]);
    const hist = run.received.filter((p) => p.type === PayloadType.History);
    assert.deepEqual(hist, [
      { type: PayloadType.History, target: DEV, since: 0, count: 2, offset: 0 },
      { type: PayloadType.History, target: BOB, since: 0, count: 20, offset: 0 },
    ]);
    for (const p of run.received) {
      if (p.type === PayloadType.Message) assert.equal(p.source, ALICE);
    }
  });

  it("prints help, and the end of input ends the session with 0", async () => {
    const run = await chat(chatServer(), ["/help"]);
    assert.equal(run.code, 0);
    assert.deepEqual(withoutBanner(run.out), [...HELP]);
  });

  it("needs a target for plain lines", async () => {
    const run = await chat(chatServer(), ["hello", "", "   ", "/history", "/leave"]);
    assert.equal(run.code, 0);
    assert.deepEqual(withoutBanner(run.out), [
      "! no target: /msg or /join first",
      "! no target: /msg or /join first",
      "! usage: /leave [#chan@domain]",
    ]);
    assert.deepEqual(run.received, []);
  });

  it("prints errors with ! and keeps going", async () => {
    const run = await chat(chatServer({ history: {} }), [
      "/msg nobody@a.test hi",
      "/msg busy@a.test hi",
      "/join #nope@a.test",
      "/join bob@a.test",
      "/join",
      "/msg not-an-address hi",
      "/msg bob@a.test",
      "/to",
      "/contact add #dev@a.test",
      "/contact frob bob@a.test",
      "/history bob@a.test 0",
      "/history bob@a.test 3 4",
      "/frobnicate",
      "/history bob@a.test",
      "/msg bob@a.test still works",
    ]);
    assert.equal(run.code, 0);
    assert.deepEqual(withoutBanner(run.out), [
      "! send to nobody@a.test failed: not found or not permitted (0x02)",
      "! send to busy@a.test failed: rate limited (0x82)",
      "! join #nope@a.test failed: not found or not permitted (0x02)",
      "! not a channel address: bob@a.test",
      "! usage: /join #chan@domain",
      "! not an address: not-an-address (user@domain or #channel@domain)",
      "! usage: /msg TARGET text",
      "! usage: /to TARGET",
      "! not a user address: #dev@a.test",
      "! usage: /contact add|del USER",
      "! usage: /history [TARGET] [N]",
      "! usage: /history [TARGET] [N]",
      "! unknown command /frobnicate (try /help)",
      "no messages with bob@a.test",
    ]);
    assert.deepEqual(sent(run.received), [
      "nobody@a.test hi",
      "busy@a.test hi",
      "bob@a.test still works",
    ]);
  });

  it("prints an empty list", async () => {
    const run = await chat(chatServer(), ["/list"]);
    assert.deepEqual(withoutBanner(run.out), ["no contacts or channels"]);
  });
});

describe("runChat: incoming messages", () => {
  it("prints the inbox and pushes in the documented formats", async () => {
    const inbox = [
      msg(BOB, ALICE, "while you were away", 0),
      msg(BOB, DEV, "in the channel", 60_000),
    ];
    const server = await FakeServer.start(
      net,
      chatServer({
        afterLogin: inbox,
        pushAfter: (r) =>
          r.type === PayloadType.Usermode
            ? [
              msg("carol@b.test", DEV, "line one\nline two\u001b[2J", 120_000),
              msg(ALICE, BOB, "from my phone", 180_000),
            ]
            : [],
      }),
    );
    const input = new Lines();
    const out = new Output();
    const done = runChat({
      address: ALICE,
      server: `127.0.0.1:${server.port}`,
      net,
      input,
      output: out.write,
      password: "pw",
    });
    await out.waitFor(/in the channel/);
    input.push("/join #dev@a.test");
    await out.waitFor(/from my phone/);
    input.end();
    assert.equal(await done, 0);
    await server.stop();
    const pushes = out.lines.filter((l) => l.startsWith("[") || l.startsWith(" "));
    assert.deepEqual(pushes, [
      `${formatTime(T0)} <bob@a.test> while you were away`,
      `${formatTime(T0 + 60_000)} #dev@a.test <bob@a.test> in the channel`,
      `${formatTime(T0 + 120_000)} #dev@a.test <carol@b.test> line one`,
      `        line two\uFFFD[2J`,
      `${formatTime(T0 + 180_000)} -> bob@a.test <alice@a.test> from my phone`,
    ]);
    assert.ok(out.lines.includes("joined #dev@a.test"));
  });
});

describe("runChat: connection problems", () => {
  it("exits 1 when the connection is lost during a command", async () => {
    const run = await chat(chatServer({ afterLogin: [msg(BOB, ALICE, "last words", 0)] }), [
      "/msg bob@a.test drop",
      "/msg bob@a.test never sent",
    ]);
    assert.equal(run.code, 1);
    assert.deepEqual(withoutBanner(run.out), [
      `${formatTime(T0)} <bob@a.test> last words`,
      "! connection lost: connection closed by server",
    ]);
    assert.deepEqual(sent(run.received), ["bob@a.test drop"]);
  });

  it("exits 1 when the connection is lost while waiting for input", async () => {
    const run = await chat(
      async (c) => {
        await acceptLogin(c);
        await c.send(msg(BOB, ALICE, "bye", 0));
        c.close();
      },
      [],
      { end: false },
    );
    assert.equal(run.code, 1);
    assert.deepEqual(withoutBanner(run.out), [
      `${formatTime(T0)} <bob@a.test> bye`,
      "! connection lost: connection closed by server",
    ]);
  });

  it("exits 1 when the login fails", async () => {
    const run = await chat(chatServer(), ["/join #dev@a.test"], { password: "wrong" });
    assert.equal(run.code, 1);
    assert.deepEqual(run.out, ["! login failed: authentication failed (0x01)"]);
  });

  it("exits 1 when it cannot connect, defaulting to the address's domain and port 9999", async () => {
    const tried: ConnectOptions[] = [];
    const refusing: NetAdapter = {
      listen: (o) => net.listen(o),
      connect: (o) => {
        tried.push(o);
        return Promise.reject(new Error("connection refused"));
      },
    };
    const out = new Output();
    const code = await runChat({
      address: "alice@Chat.Example",
      net: refusing,
      input: new Lines(),
      output: out.write,
      password: "pw",
    });
    assert.equal(code, 1);
    assert.deepEqual(out.lines, ["! cannot connect to chat.example:9999: connection refused"]);
    assert.deepEqual(tried.map((o) => [o.hostname, o.port]), [["chat.example", 9999]]);
  });

  it("exits 2 for a bad address or server", async () => {
    for (
      const [address, server, expected] of [
        ["#dev@a.test", undefined, "! not a user address: #dev@a.test (expected name@domain)"],
        ["alice", undefined, "! not a user address: alice (expected name@domain)"],
        [ALICE, "host:99999", '! invalid server "host:99999": invalid port "99999"'],
      ] as const
    ) {
      const out = new Output();
      const code = await runChat({
        address,
        server,
        net,
        input: new Lines(),
        output: out.write,
        password: "pw",
      });
      assert.equal(code, 2);
      assert.deepEqual(out.lines, [expected]);
    }
  });
});

describe("chat helpers", () => {
  it("splitHostPort handles names, ports and IPv6", () => {
    assert.deepEqual(splitHostPort("a.test", 9999), { hostname: "a.test", port: 9999 });
    assert.deepEqual(splitHostPort("a.test:1234", 9999), { hostname: "a.test", port: 1234 });
    assert.deepEqual(splitHostPort("127.0.0.1:1", 9999), { hostname: "127.0.0.1", port: 1 });
    assert.deepEqual(splitHostPort("[::1]:9999", 1), { hostname: "::1", port: 9999 });
    assert.deepEqual(splitHostPort("[::1]", 9999), { hostname: "::1", port: 9999 });
    assert.deepEqual(splitHostPort("fe80::1", 9999), { hostname: "fe80::1", port: 9999 });
    assert.deepEqual(splitHostPort(" host:65535 ", 9999), { hostname: "host", port: 65535 });
    for (
      const bad of [
        "",
        ":9999",
        "host:",
        "host:0",
        "host:65536",
        "host:x",
        "[::1",
        "[::1]x",
        "[]:1",
      ]
    ) {
      assert.throws(() => splitHostPort(bad, 9999), TypeError, bad);
    }
    assert.equal(joinHostPort("::1", 9999), "[::1]:9999");
    assert.equal(joinHostPort("a.test", 1), "a.test:1");
  });

  it("readLines splits bytes and text on LF, keeps UTF-8 across chunks, drops CR", async () => {
    const bytes = new TextEncoder().encode("zażółć\r\nb\n\nlast");
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (const b of bytes) yield new Uint8Array([b]);
    }
    const out: string[] = [];
    for await (const l of readLines(chunks())) out.push(l);
    assert.deepEqual(out, ["zażółć", "b", "", "last"]);
    const text: string[] = [];
    for await (const l of readLines(["a\nb", "c\n"])) text.push(l);
    assert.deepEqual(text, ["a", "bc"]);
  });

  it("formats messages and sanitises network text", () => {
    const ts = new Date(2026, 0, 2, 9, 5).getTime();
    assert.equal(formatTime(ts), "[09:05]");
    assert.deepEqual(formatMessage(m(DEV, "hi", ts), "x@a.test"), [
      "[09:05] #dev@a.test <alice@a.test> hi",
    ]);
    assert.deepEqual(formatMessage(msg(BOB, ALICE, "a\r\nb"), ALICE).length, 2);
    assert.equal(sanitize("a\u001bb\u202ec\td\u0085"), "a\uFFFDb\uFFFDc\td\uFFFD");
  });
});
