import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  type Message,
  SolecClient,
  SolecError,
} from "../../src/client/client.ts";
import { encodeMessage, ErrorCode, PayloadType, ProtocolError } from "../../src/protocol/mod.ts";
import type { NetAdapter } from "../../src/platform.ts";
import { acceptLogin, err, type FakeConn, FakeServer, msg, OK, serve, T0 } from "./fake-server.ts";
import { net } from "./net.ts";

const ALICE = "alice@a.test";
const BOB = "bob@a.test";
const DEV = "#dev@a.test";

/**
 * Runs `body` against a fake server running `handler`, then closes the client
 * and stops the server (rethrowing a handler's assertion failure).
 */
async function scenario(
  handler: (c: FakeConn) => Promise<void>,
  body: (client: SolecClient, server: FakeServer) => Promise<void>,
  options: { domain?: string; onMessage?: (m: Message) => void } = {},
): Promise<void> {
  const server = await FakeServer.start(net, handler);
  const client = await SolecClient.connect({
    net,
    hostname: "127.0.0.1",
    port: server.port,
    ...options,
  });
  try {
    await body(client, server);
  } finally {
    client.close();
    await client.closed;
    await server.stop();
  }
}

/** A handler that logs in and then lets `reply` answer every request. */
function loggedIn(reply: Parameters<typeof serve>[1]): (c: FakeConn) => Promise<void> {
  return async (c) => {
    if ((await acceptLogin(c)) !== undefined) await serve(c, reply);
  };
}

async function collect(it: AsyncIterable<Message>): Promise<Message[]> {
  const out: Message[] = [];
  for await (const m of it) out.push(m);
  return out;
}

describe("SolecClient: session start", () => {
  it("sends Handshake{0,2,1} and UserAuth, resolves login on Success", async () => {
    await scenario(loggedIn(() => []), async (client, server) => {
      assert.equal(client.address, undefined);
      await client.login(ALICE, "pw");
      assert.equal(client.address, ALICE);
      assert.deepEqual(client.serverVersion, { major: 0, minor: 2 });
      assert.deepEqual(server.connections[0].received.slice(0, 2), [
        { type: PayloadType.Handshake, major: 0, minor: 2, connType: 1 },
        { type: PayloadType.UserAuth, username: ALICE, password: "pw" },
      ]);
    });
  });

  it("rejects login with SolecError 0x01 on a wrong password, then the session ends", async () => {
    await scenario(loggedIn(() => []), async (client) => {
      await assert.rejects(client.login(ALICE, "wrong"), (e: unknown) => {
        assert.ok(e instanceof SolecError);
        assert.equal(e.code, ErrorCode.AuthFailed);
        assert.match(e.message, /authentication failed/);
        return true;
      });
      const reason = await client.closed;
      assert.ok(reason instanceof ConnectionClosedError);
      await assert.rejects(client.send(BOB, "hi"), ConnectionClosedError);
    });
  });

  it("accepts a greeting that arrives late, in the same write as the login reply", async () => {
    await scenario(async (c) => {
      await c.expect(PayloadType.Handshake);
      await c.expect(PayloadType.UserAuth);
      await c.send({ type: PayloadType.Handshake, major: 0, minor: 2, connType: 0 }, OK);
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      assert.deepEqual(client.serverVersion, { major: 0, minor: 2 });
    });
  });

  it("works with a server that does not greet", async () => {
    await scenario(async (c) => {
      await acceptLogin(c, { greet: false });
      await serve(c, () => [OK]);
    }, async (client) => {
      await client.login(ALICE, "pw");
      await client.join(DEV);
      assert.equal(client.serverVersion, undefined);
    });
  });

  it("ends the session with 0x81 when the greeting has another major version", async () => {
    await scenario(async (c) => {
      await c.send({ type: PayloadType.Handshake, major: 1, minor: 0, connType: 0 });
      await c.next();
    }, async (client) => {
      const reason = await client.closed;
      assert.ok(reason instanceof SolecError);
      assert.equal(reason.code, ErrorCode.UnsupportedVersion);
      await assert.rejects(client.login(ALICE, "pw"), ConnectionClosedError);
    });
  });

  it("treats a Handshake after the first reply as a protocol violation", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.Usermode);
      await c.send({ type: PayloadType.Handshake, major: 0, minor: 2, connType: 0 });
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      await assert.rejects(
        client.join(DEV),
        (e: unknown) => e instanceof SolecError && e.code === ErrorCode.ProtocolViolation,
      );
    });
  });

  it("needs a full address or a domain for a bare login name", async () => {
    await scenario(async (c) => void await c.next(), async (client) => {
      await assert.rejects(client.login("alice", "pw"), TypeError);
      await assert.rejects(client.send(BOB, "hi"), /call login\(\) first/);
    });
    await scenario(loggedIn(() => []), async (client, server) => {
      await client.login("alice", "pw");
      assert.equal(client.address, "alice@a.test");
      assert.equal(server.connections[0].received[1].type, PayloadType.UserAuth);
    }, { domain: "A.Test" });
  });

  it("lower-cases the domain of the own address", async () => {
    await scenario(loggedIn(() => [OK]), async (client, server) => {
      await client.login("alice@A.TEST", "pw");
      assert.equal(client.address, ALICE);
      await client.send(BOB, "hi", T0 + 5);
      assert.deepEqual(server.connections[0].received[2], msg(ALICE, BOB, "hi", 5));
    });
  });
});

describe("SolecClient: requests", () => {
  it("matches 200 pipelined sends to their in-order replies", async () => {
    const N = 200;
    await scenario(async (c) => {
      await acceptLogin(c);
      // Read every request before answering, proving the client did not wait.
      const got: Message[] = [];
      for (let i = 0; i < N; i++) got.push(await c.expect(PayloadType.Message));
      for (const [i, m] of got.entries()) {
        assert.deepEqual(m, msg(ALICE, BOB, `m${i}`, 1000 + i));
      }
      // Every 7th is refused; answer in a few coalesced writes.
      const replies = got.map((_, i) => (i % 7 === 3 ? err(ErrorCode.NotFound) : OK));
      for (let i = 0; i < N; i += 64) await c.send(...replies.slice(i, i + 64));
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      const order: string[] = [];
      const all = Array.from({ length: N }, (_, i) =>
        client.send(BOB, `m${i}`, T0 + 1000 + i).then(
          () => order.push(`ok${i}`),
          (e: unknown) => {
            assert.ok(e instanceof SolecError);
            assert.equal(e.code, ErrorCode.NotFound);
            order.push(`err${i}`);
          },
        ));
      assert.equal(client.pendingRequests, N);
      await Promise.all(all);
      assert.deepEqual(
        order,
        Array.from({ length: N }, (_, i) => (i % 7 === 3 ? "err" : "ok") + i),
      );
      assert.equal(client.pendingRequests, 0);
    });
  });

  it("coalesces requests issued in one tick into one write, one write in flight", async () => {
    const writes: number[] = [];
    let inFlight = 0;
    // Wraps the real adapter to watch the client's calls to Connection.send().
    const watched: NetAdapter = {
      listen: (o) => net.listen(o),
      connect: async (o) => {
        const conn = await net.connect(o);
        return {
          remoteAddr: conn.remoteAddr,
          localAddr: conn.localAddr,
          closed: conn.closed,
          close: () => conn.close(),
          read: (sink) => conn.read(sink),
          sendWith: (data, done) => conn.sendWith(data, done),
          pause: () => conn.pause(),
          resume: () => conn.resume(),
          [Symbol.asyncIterator]: () => conn[Symbol.asyncIterator](),
          send: async (data) => {
            assert.equal(inFlight, 0, "a second write started before the first settled");
            inFlight++;
            writes.push(data.length);
            try {
              await conn.send(data);
            } finally {
              inFlight--;
            }
          },
        };
      },
    };
    const server = await FakeServer.start(watched, loggedIn(() => [OK]));
    const client = await SolecClient.connect({
      net: watched,
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      await client.login(ALICE, "pw");
      const before = writes.length;
      await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(BOB, `m${i}`, T0 + i)));
      const frame = encodeMessage(ALICE, BOB, T0, "m00").length;
      // 100 frames of about 30 bytes: one write (the batch limit is 64 KiB).
      assert.equal(writes.length - before, 1);
      assert.ok(writes[before] >= 100 * (frame - 1));
    } finally {
      client.close();
      await client.closed;
      await server.stop();
    }
  });

  it("send defaults the timestamp to now", async () => {
    await scenario(loggedIn(() => [OK]), async (client, server) => {
      await client.login(ALICE, "pw");
      const before = Date.now();
      await client.send(DEV, "zażółć 👋");
      const m = server.connections[0].received[2];
      assert.equal(m.type, PayloadType.Message);
      if (m.type !== PayloadType.Message) return;
      assert.ok(m.timestamp >= before && m.timestamp <= Date.now());
      assert.equal(m.content, "zażółć 👋");
    });
  });

  it("sends Usermode for join, leave, addContact, removeContact", async () => {
    await scenario(loggedIn(() => [OK]), async (client, server) => {
      await client.login(ALICE, "pw");
      await Promise.all([
        client.join(DEV),
        client.leave(DEV),
        client.addContact("bob@b.test"),
        client.removeContact("bob@b.test"),
      ]);
      const um = (channel: string, mode: number) => ({
        type: PayloadType.Usermode,
        user: ALICE,
        channel,
        mode,
      });
      assert.deepEqual(server.connections[0].received.slice(2), [
        um(DEV, 1),
        um(DEV, 0),
        um("bob@b.test", 1),
        um("bob@b.test", 0),
      ]);
    });
  });

  it("gives readable messages for the error codes", async () => {
    const codes = [0x02, 0x82, 0x83, 0x99];
    let i = 0;
    await scenario(loggedIn(() => [err(codes[i++])]), async (client) => {
      await client.login(ALICE, "pw");
      const texts: string[] = [];
      for (const _ of codes) {
        await client.join(DEV).then(
          () => assert.fail("should reject"),
          (e: unknown) => {
            assert.ok(e instanceof SolecError);
            texts.push(`${e.code} ${e.message}`);
          },
        );
      }
      assert.deepEqual(texts, [
        "2 join #dev@a.test failed: not found or not permitted (0x02)",
        "130 join #dev@a.test failed: rate limited (0x82)",
        "131 join #dev@a.test failed: temporarily unavailable (0x83)",
        "153 join #dev@a.test failed: error 0x99 (0x99)",
      ]);
      assert.equal(client.isClosed, false);
    });
  });

  it("list collects ListItems until Success", async () => {
    await scenario(
      loggedIn((r) => {
        assert.deepEqual(r, { type: PayloadType.List, count: 500, offset: 0 });
        return [
          { type: PayloadType.ListItem, address: DEV },
          { type: PayloadType.ListItem, address: BOB },
          OK,
        ];
      }),
      async (client) => {
        await client.login(ALICE, "pw");
        assert.deepEqual(await client.list(), [DEV, BOB]);
      },
    );
  });

  it("ping resolves with the echoed Test data", async () => {
    await scenario(loggedIn((r) => [r]), async (client) => {
      await client.login(ALICE, "pw");
      const [a, b] = await Promise.all([
        client.ping(new Uint8Array([1, 2, 3])),
        client.ping(),
      ]);
      assert.deepEqual(a, new Uint8Array([1, 2, 3]));
      assert.deepEqual(b, new Uint8Array(0));
    });
  });

  it("rejects an oversized field without disturbing the reply order", async () => {
    await scenario(loggedIn(() => [OK]), async (client) => {
      await client.login(ALICE, "pw");
      await assert.rejects(client.send(BOB, "x".repeat(70_000)), RangeError);
      await client.send(BOB, "fine");
      assert.equal(client.pendingRequests, 0);
    });
  });

  it("decodes replies delivered one byte at a time", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.History);
      const frames = [
        msg(BOB, ALICE, "one", 1),
        msg(ALICE, BOB, "two", 2),
        OK,
      ];
      const { encode } = await import("../../src/protocol/mod.ts");
      for (const f of frames) {
        for (const byte of encode(f)) await c.send(new Uint8Array([byte]));
      }
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      assert.deepEqual(await client.history(BOB), [
        msg(BOB, ALICE, "one", 1),
        msg(ALICE, BOB, "two", 2),
      ]);
    });
  });
});

describe("SolecClient: pushes and history", () => {
  it("delivers the offline inbox pushed right after the login Success", async () => {
    const inbox = [msg(BOB, ALICE, "1"), msg("carol@b.test", ALICE, "2"), msg(BOB, ALICE, "3")];
    await scenario(async (c) => {
      await c.send({ type: PayloadType.Handshake, major: 0, minor: 2, connType: 0 });
      await c.expect(PayloadType.Handshake);
      await c.expect(PayloadType.UserAuth);
      await c.send(OK, ...inbox);
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      // Give the inbox time to be read: it was in the same write as Success.
      while (client.pendingMessages < 3) await new Promise((r) => setTimeout(r, 5));
      const it = client.messages();
      assert.deepEqual((await it.next()).value, inbox[0]);
      assert.equal(client.pendingMessages, 2);
      assert.deepEqual((await it.next()).value, inbox[1]);
      assert.deepEqual((await it.next()).value, inbox[2]);
      assert.equal(client.pendingMessages, 0);
    });
  });

  it("hands pushes to onMessage instead of buffering them", async () => {
    const seen: Message[] = [];
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.Test);
      await c.send(msg(BOB, ALICE, "pushed"), { type: PayloadType.Test, data: new Uint8Array() });
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      await client.ping();
      assert.deepEqual(seen, [msg(BOB, ALICE, "pushed")]);
      assert.equal(client.pendingMessages, 0);
    }, { onMessage: (m) => seen.push(m) });
  });

  it("takes a push of another conversation just before a channel History as a push", async () => {
    const push1 = msg(BOB, ALICE, "direct, not #dev", 50);
    const push2 = msg(BOB, "#ops@a.test", "other channel", 51);
    const items = [msg(BOB, DEV, "old", 10), msg(ALICE, DEV, "new", 20)];
    await scenario(async (c) => {
      await acceptLogin(c);
      const h = await c.expect(PayloadType.History);
      assert.deepEqual(h, {
        type: PayloadType.History,
        target: DEV,
        since: T0 + 5,
        count: 10,
        offset: 2,
      });
      await c.send(push1, push2, ...items, OK, msg(BOB, DEV, "after", 60));
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      assert.deepEqual(await client.history(DEV, { since: T0 + 5, count: 10, offset: 2 }), items);
      const it = client.messages();
      assert.deepEqual((await it.next()).value, push1);
      assert.deepEqual((await it.next()).value, push2);
      assert.deepEqual((await it.next()).value, msg(BOB, DEV, "after", 60));
    });
  });

  it("classifies direct History items in both directions, other users' messages as pushes", async () => {
    const items = [msg(BOB, ALICE, "a", 1), msg(ALICE, BOB, "b", 2), msg(BOB, ALICE, "c", 3)];
    const push = msg("carol@a.test", ALICE, "hello", 4);
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.History);
      await c.send(push, ...items, OK);
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      // The target's domain case does not matter for matching.
      assert.deepEqual(await client.history("bob@A.test"), items);
      assert.deepEqual((await client.messages().next()).value, push);
    });
  });

  it("returns a surplus leading item to the push stream when the sequence exceeds count", async () => {
    const push = msg(BOB, DEV, "pushed just before", 99);
    const items = [msg(BOB, DEV, "x", 1), msg(BOB, DEV, "y", 2)];
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.History);
      await c.send(push, ...items, OK);
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      assert.deepEqual(await client.history(DEV, { count: 2 }), items);
      assert.deepEqual((await client.messages().next()).value, push);
    });
  });

  it("returns collected items to the push stream when History is answered by Error", async () => {
    const push = msg(BOB, DEV, "pushed", 99);
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.History);
      await c.send(push, err(ErrorCode.NotFound));
      await serve(c, () => []);
    }, async (client) => {
      await client.login(ALICE, "pw");
      await assert.rejects(
        client.history(DEV),
        (e: unknown) => e instanceof SolecError && e.code === 2,
      );
      assert.deepEqual((await client.messages().next()).value, push);
    });
  });

  it("pipelines History and List with other requests", async () => {
    await scenario(
      loggedIn((r) => {
        if (r.type === PayloadType.History) return [msg(BOB, DEV, "h", 1), OK];
        if (r.type === PayloadType.List) return [{ type: PayloadType.ListItem, address: DEV }, OK];
        return [OK];
      }),
      async (client) => {
        await client.login(ALICE, "pw");
        const [a, h, l, b] = await Promise.all([
          client.join(DEV),
          client.history(DEV),
          client.list(),
          client.send(DEV, "x"),
        ]);
        assert.equal(a, undefined);
        assert.deepEqual(h, [msg(BOB, DEV, "h", 1)]);
        assert.deepEqual(l, [DEV]);
        assert.equal(b, undefined);
      },
    );
  });
});

describe("SolecClient: failures", () => {
  it("rejects every pending request and ends the iterator when the server drops the connection", async () => {
    let requests = 0;
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.send(msg(BOB, ALICE, "before drop"));
      for (let i = 0; i < 5; i++) await c.next();
      requests = c.received.length - 2;
      c.close();
    }, async (client) => {
      await client.login(ALICE, "pw");
      const iterated = collect(client.messages());
      const results = await Promise.allSettled([
        client.send(BOB, "1"),
        client.join(DEV),
        client.history(DEV),
        client.list(),
        client.ping(),
      ]);
      assert.equal(requests, 5);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        if (r.status === "rejected") {
          assert.ok(r.reason instanceof ConnectionClosedError, String(r.reason));
        }
      }
      assert.deepEqual(await iterated, [msg(BOB, ALICE, "before drop")]);
      const reason = await client.closed;
      assert.ok(reason instanceof ConnectionClosedError);
      assert.match(reason.message, /closed by server/);
      assert.equal(client.isClosed, true);
      await assert.rejects(client.ping(), ConnectionClosedError);
      assert.deepEqual(await client.messages().next(), { done: true, value: undefined });
    });
  });

  it("rejects with a ProtocolError-based SolecError on a malformed frame", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.Message);
      await c.expect(PayloadType.Message);
      // A Message whose payload ends inside the target field.
      await c.send(new Uint8Array([0x05, 0x00, 0x04, 0x00, 0x01, 0x61, 0x00]));
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      const results = await Promise.allSettled([client.send(BOB, "1"), client.send(BOB, "2")]);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        if (r.status !== "rejected") continue;
        assert.ok(r.reason instanceof SolecError);
        assert.equal(r.reason.code, ErrorCode.ProtocolViolation);
        assert.ok(r.reason.cause instanceof ProtocolError);
        assert.match(r.reason.message, /malformed frame/);
      }
      assert.ok((await client.closed) instanceof SolecError);
    });
  });

  it("ends the session on an unknown frame type", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.List);
      await c.send(new Uint8Array([0x42, 0x00, 0x00]));
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      await assert.rejects(client.list(), (e: unknown) => {
        assert.ok(e instanceof SolecError && e.cause instanceof ProtocolError);
        assert.match(e.message, /unknown payload type 0x42/);
        return true;
      });
    });
  });

  it("ends the session on frames a server never sends a client", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.expect(PayloadType.Usermode);
      await c.send({ type: PayloadType.ListItem, address: DEV });
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      await assert.rejects(client.join(DEV), /ListItem outside a List reply/);
    });
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.send({ type: PayloadType.UserAuth, username: "x", password: "y" });
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      const reason = await client.closed;
      assert.match(String(reason), /UserAuth is never sent to a client/);
    });
  });

  it("ends the session on an Error with no request pending", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.send(err(ErrorCode.ProtocolViolation));
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      const iterated = collect(client.messages());
      const reason = await client.closed;
      assert.ok(reason instanceof SolecError);
      assert.equal(reason.code, ErrorCode.ProtocolViolation);
      assert.deepEqual(await iterated, []);
      await assert.rejects(client.join(DEV), (e: unknown) => {
        assert.ok(e instanceof ConnectionClosedError);
        assert.equal(e.cause, reason);
        return true;
      });
    });
  });

  it("close() rejects pending requests and resolves closed with undefined", async () => {
    await scenario(async (c) => {
      await acceptLogin(c);
      await c.next();
    }, async (client) => {
      await client.login(ALICE, "pw");
      const pending = client.history(DEV);
      const iterated = collect(client.messages());
      client.close();
      await assert.rejects(pending, ConnectionClosedError);
      assert.deepEqual(await iterated, []);
      assert.equal(await client.closed, undefined);
    });
  });

  it("rejects connect when nothing listens", async () => {
    const server = await FakeServer.start(net, () => Promise.resolve());
    const port = server.port;
    await server.stop();
    await assert.rejects(SolecClient.connect({ net, hostname: "127.0.0.1", port }));
  });
});
