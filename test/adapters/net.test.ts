/**
 * Contract tests for `Platform.net` over real loopback TCP (and TLS), run
 * unchanged on Bun and Deno against the adapter of the running runtime.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nodeNet from "node:net";
import type { Connection } from "../../src/platform.ts";
import { platform } from "../support/platform.ts";
import {
  accept,
  concat,
  connectedPair,
  echo,
  HOST,
  pattern,
  readBytes,
  readChunks,
  readToEnd,
  sleep,
  within,
} from "./helpers.ts";

const { net } = platform;
const MiB = 1024 * 1024;
const text = (s: string) => new TextEncoder().encode(s);

/** The runtime's own TCP socket class, reached through a throwaway connection. */
async function rawSocketPrototype(): Promise<{ setNoDelay(on?: boolean): unknown }> {
  const g = globalThis as unknown as {
    Deno?: {
      listen(o: { hostname: string; port: number }): {
        addr: { port: number };
        accept(): Promise<{ close(): void }>;
        close(): void;
      };
      connect(o: { hostname: string; port: number }): Promise<{ close(): void }>;
    };
    Bun?: {
      listen(o: object): { port: number; stop(force: boolean): void };
      connect(o: object): Promise<{ end(): void }>;
    };
  };
  if (g.Deno) {
    const l = g.Deno.listen({ hostname: HOST, port: 0 });
    const accepted = l.accept();
    const c = await g.Deno.connect({ hostname: HOST, port: l.addr.port });
    (await accepted).close();
    c.close();
    l.close();
    return Object.getPrototypeOf(c);
  }
  const noop = { data() {}, open() {}, close() {} };
  const server = g.Bun!.listen({ hostname: HOST, port: 0, socket: noop });
  const c = await g.Bun!.connect({ hostname: HOST, port: server.port, socket: noop });
  c.end();
  server.stop(true);
  return Object.getPrototypeOf(c);
}

/**
 * Sends `parts` through `sendWith`, one call each, and resolves with what each write
 * reported ("sent i" / "failed i"), in the order reported, once all have.
 */
async function sendAllWith(conn: Connection, parts: Uint8Array[]): Promise<string[]> {
  const events: string[] = [];
  const reported = new Promise<void>((resolve) => {
    parts.forEach((part, i) =>
      conn.sendWith(part, {
        sent: () => {
          events.push(`sent ${i}`);
          if (events.length === parts.length) resolve();
        },
        sendFailed: () => events.push(`failed ${i}`),
      })
    );
  });
  await within(reported, 5_000, "every write reported");
  return events;
}

describe(`net adapter (${platform.runtime})`, () => {
  it("listens on the port it reports and echoes a round trip", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    try {
      assert.ok(listener.addr.port > 0, "port 0 is resolved to the real port");
      assert.equal(listener.addr.hostname, HOST);
      const served = (async () => echo(await accept(listener)))();
      const client = await net.connect({ hostname: HOST, port: listener.addr.port });
      try {
        await client.send(text("hello, solec"));
        assert.deepEqual(await readBytes(client, 12), text("hello, solec"));
      } finally {
        client.close();
      }
      await within(served, 5_000, "echo server ends after the client closed");
    } finally {
      listener.close();
    }
  });

  it("turns Nagle's algorithm off on accepted and connected sockets", async () => {
    // Neither runtime does it by default (Deno: checked with strace); with Nagle on,
    // the tail of a large batched write waits ~40 ms for the peer's delayed ACK.
    const proto = await rawSocketPrototype();
    const original = proto.setNoDelay;
    const calls: unknown[] = [];
    proto.setNoDelay = function (this: unknown, on?: boolean) {
      calls.push(on);
      return original.call(this, on);
    };
    try {
      const { close } = await connectedPair();
      await close();
    } finally {
      proto.setNoDelay = original;
    }
    assert.deepEqual(calls, [true, true], "one call per end, both turning it off");
  });

  it("reports local and remote addresses of both ends", async () => {
    const { listener, client, server, close } = await connectedPair();
    try {
      assert.deepEqual(client.remoteAddr, { hostname: HOST, port: listener.addr.port });
      assert.deepEqual(server.localAddr, { hostname: HOST, port: listener.addr.port });
      assert.equal(client.localAddr.hostname, HOST);
      assert.ok(client.localAddr.port > 0);
      assert.deepEqual(server.remoteAddr, client.localAddr);
    } finally {
      await close();
    }
  });

  it("delivers many small sends in order and settles every one", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const count = 5_000;
      const frame = (i: number) => {
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setUint32(0, i);
        new DataView(bytes.buffer).setUint32(4, ~i);
        return bytes;
      };
      // Not awaited one by one: the adapter must queue them in call order.
      const sends: Promise<void>[] = [];
      for (let i = 0; i < count; i++) sends.push(client.send(frame(i)));
      const received = await readBytes(server, count * 8);
      await within(Promise.all(sends), 5_000, "all sends settle");
      const view = new DataView(received.buffer, received.byteOffset, received.byteLength);
      for (let i = 0; i < count; i++) {
        assert.equal(view.getUint32(i * 8), i, `frame ${i} in order`);
        assert.equal(view.getUint32(i * 8 + 4), ~i >>> 0);
      }
    } finally {
      await close();
    }
  });

  it("sends a subarray view exactly (respects byteOffset)", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const backing = pattern(4096, 3);
      await client.send(backing.subarray(1000, 3000));
      assert.deepEqual(await readBytes(server, 2000), backing.slice(1000, 3000));
      await client.send(new Uint8Array(0)); // empty send settles and sends nothing
      await client.send(backing.subarray(0, 1));
      assert.deepEqual(await readBytes(server, 1), backing.slice(0, 1));
    } finally {
      await close();
    }
  });

  it("carries an 8 MiB payload intact; chunks are never reused", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const first = pattern(8 * MiB, 1);
      const sent = client.send(first);
      const chunks = await readChunks(server, first.byteLength);
      await within(sent, 5_000, "send resolves once everything was taken");
      // More traffic after the first payload: a reused buffer would now hold
      // these bytes instead of the ones kept from the first payload.
      const second = pattern(2 * MiB, 2);
      await Promise.all([client.send(second), readBytes(server, second.byteLength)]);
      assert.ok(chunks.length > 1, "a payload this size arrives in several chunks");
      const buffers = new Set(chunks.map((c) => c.buffer));
      assert.equal(buffers.size, chunks.length, "every chunk has its own memory");
      assert.ok(concat(chunks).every((byte, i) => byte === first[i]), "first payload intact");
    } finally {
      await close();
    }
  });

  it("applies back-pressure: send stalls while the reader does not pull", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const chunkSize = 64 * 1024;
      const total = 48 * MiB; // far beyond what loopback kernel buffers absorb
      let sentBytes = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      const sender = (async () => {
        for (let i = 0; sentBytes < total; i++) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await client.send(pattern(chunkSize, i));
          inFlight--;
          sentBytes += chunkSize;
        }
      })();
      // The server does not read: progress must stop well short of `total`.
      let last = -1;
      for (let i = 0; i < 50 && sentBytes !== last; i++) {
        last = sentBytes;
        await sleep(100);
      }
      assert.equal(sentBytes, last, "the sender stalled");
      assert.ok(sentBytes < 24 * MiB, `stalled after ${sentBytes} bytes, not buffered unboundedly`);
      assert.equal(inFlight, 1, "the stalled send is pending");

      // Now drain: everything arrives, in order, and the sender finishes.
      let offset = 0;
      let index = 0;
      let carry: Uint8Array = new Uint8Array(0);
      const reader = (async () => {
        for await (const chunk of server) {
          let data = carry.byteLength ? concat([carry, chunk]) : chunk;
          while (data.byteLength >= chunkSize) {
            assert.deepEqual(data.subarray(0, chunkSize), pattern(chunkSize, index++));
            data = data.subarray(chunkSize);
          }
          carry = data;
          offset += chunk.byteLength;
          if (offset >= total) break;
        }
      })();
      await within(Promise.all([sender, reader]), 60_000, "draining the back-pressured stream");
      assert.equal(offset, total);
      assert.equal(maxInFlight, 1);
    } finally {
      await close();
    }
  });

  it("ends iteration and resolves closed when the peer closes, after delivering its data", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const last = pattern(256 * 1024, 9);
      await server.send(last);
      server.close(); // right after the send settled: the bytes must still arrive
      assert.deepEqual(await readToEnd(client), last);
      await within(client.closed, 5_000, "client.closed");
      await within(server.closed, 5_000, "server.closed");
    } finally {
      await close();
    }
  });

  it("a reset by the peer ends iteration without throwing; later sends reject", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    // node:net (in both runtimes) can send an RST, which neither adapter exposes.
    const peer = nodeNet.connect(listener.addr.port, HOST);
    peer.on("error", () => {}); // errors on the node:net side are not under test
    try {
      const server = await accept(listener);
      await new Promise<void>((resolve) => peer.write("bye", () => resolve()));
      const reading = readToEnd(server);
      await sleep(20);
      peer.resetAndDestroy();
      // Whatever arrived before the RST may or may not be delivered; no throw.
      const got = await reading;
      assert.ok(got.byteLength <= 3);
      await within(server.closed, 5_000, "closed after reset");
      await assert.rejects(server.send(text("anyone?")), /closed/);
    } finally {
      peer.destroy();
      listener.close();
    }
  });

  it("close() from our side ends a pending iteration and the peer's", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const pending = readToEnd(client);
      const peer = readToEnd(server);
      await sleep(20); // let the reader block
      client.close();
      client.close(); // idempotent
      assert.equal((await pending).byteLength, 0);
      assert.equal((await peer).byteLength, 0);
      await within(client.closed, 5_000, "client.closed");
      await within(server.closed, 5_000, "server.closed");
      // A fresh iterator after close ends at once.
      assert.equal((await client[Symbol.asyncIterator]().next()).done, true);
    } finally {
      await close();
    }
  });

  it("sendWith reports each write once, in order; after close it reports failure", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const parts = [text("one "), text("two "), text("three")];
      const events = await sendAllWith(server, parts);
      assert.deepEqual(events, ["sent 0", "sent 1", "sent 2"]);
      assert.deepEqual(await readBytes(client, 13), text("one two three"));
      server.close();
      let failed = 0;
      server.sendWith(text("late"), {
        sent: () => assert.fail("sent after close"),
        sendFailed: () => failed++,
      });
      await sleep(10);
      assert.equal(failed, 1);
    } finally {
      await close();
    }
  });

  it("empty writes among others are reported in order and carry nothing", async () => {
    const { client, server, close } = await connectedPair();
    try {
      const parts = [text(""), text("ab"), text(""), text(""), text("cd"), text("")];
      const events = await sendAllWith(server, parts);
      assert.deepEqual(events, parts.map((_, i) => `sent ${i}`));
      assert.deepEqual(await readBytes(client, 4), text("abcd"));
    } finally {
      await close();
    }
  });

  it("closing with 20,000 writes queued behind a stalled one fails each once, in order", async () => {
    const { server, close } = await connectedPair();
    try {
      // The peer never reads: the first write stalls once the socket buffers are full,
      // and everything after it waits in the adapter's queue.
      const failed: number[] = [];
      let sent = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++) {
        server.sendWith(i === 0 ? pattern(32 * MiB, 1) : text("x"), {
          sent: () => sent++,
          sendFailed: () => failed.push(i),
        });
      }
      await sleep(50);
      server.close();
      await within(
        new Promise<void>((resolve) => {
          const check = () => (sent + failed.length === n ? resolve() : setTimeout(check, 5));
          check();
        }),
        5_000,
        "every write reported",
      );
      // However much of the first one the kernel took, nothing after it went out.
      assert.equal(sent, 0);
      assert.equal(failed.length, n);
      assert.ok(failed.every((v, i) => v === i), "reported in call order");
    } finally {
      await close();
    }
  });

  it("send after close rejects; a send stalled by back-pressure rejects on close", async () => {
    const { client, server, close } = await connectedPair();
    try {
      // Fill the pipe until a send stalls (the server never reads).
      let stalled: Promise<void> | undefined;
      for (let i = 0; i < 400 && !stalled; i++) {
        const send = client.send(pattern(256 * 1024, i));
        const settled = await Promise.race([send.then(() => true), sleep(200).then(() => false)]);
        if (!settled) stalled = send;
      }
      assert.ok(stalled, "a send stalled");
      client.close();
      await assert.rejects(within(stalled, 5_000, "stalled send"), /closed/);
      await assert.rejects(client.send(text("late")), /closed/);
      // The peer notices the close when it reads (Deno reads only on demand),
      // after the data that was already on its way.
      assert.ok((await readToEnd(server)).byteLength > 0);
      await within(server.closed, 5_000, "server sees the close");
      server.close();
      await assert.rejects(server.send(text("late")), /closed/);
    } finally {
      await close();
    }
  });

  describe("push-mode reading (read(sink))", () => {
    /** A sink that records what it is told, in order. */
    function recorder() {
      const chunks: Uint8Array[] = [];
      const events: string[] = [];
      let bytes = 0;
      const ended = Promise.withResolvers<void>();
      return {
        chunks,
        events,
        get bytes() {
          return bytes;
        },
        /** How many times the sink was told `end()`. */
        get ends() {
          return events.filter((e) => e === "end").length;
        },
        ended: ended.promise,
        data(chunk: Uint8Array) {
          events.push("data");
          chunks.push(chunk);
          bytes += chunk.byteLength;
        },
        end() {
          events.push("end");
          ended.resolve();
        },
      };
    }

    it("delivers what was sent before read() and after, in order, then end once", async () => {
      const { client, server, close } = await connectedPair();
      try {
        const first = pattern(1000, 1);
        const second = pattern(300_000, 2);
        await client.send(first);
        await sleep(50); // arrives before anyone reads
        const sink = recorder();
        server.read(sink);
        await client.send(second);
        client.close();
        await within(sink.ended, 10_000, "end after the peer closed");
        assert.deepEqual(concat(sink.chunks), concat([first, second]));
        assert.equal(sink.ends, 1);
        assert.equal(sink.events.at(-1), "end");
        assert.throws(() => server.read(recorder()), /already being read/);
      } finally {
        await close();
      }
    });

    it("pause() stops data (the sender stalls) until resume()", async () => {
      const { client, server, close } = await connectedPair();
      try {
        const sink = recorder();
        server.read(sink);
        server.pause();
        const total = 48 * MiB;
        let sent = 0;
        const sender = (async () => {
          while (sent < total) {
            await client.send(pattern(64 * 1024, sent / (64 * 1024)));
            sent += 64 * 1024;
          }
        })();
        let last = -1;
        for (let i = 0; i < 50 && sent !== last; i++) {
          last = sent;
          await sleep(100);
        }
        assert.equal(sent, last, "the sender stalled while paused");
        assert.ok(sent < 24 * MiB, `stalled after ${sent} bytes`);
        const whilePaused = sink.bytes;
        assert.ok(whilePaused <= 512 * 1024, `at most a read in flight arrived (${whilePaused})`);
        server.resume();
        await within(sender, 60_000, "the sender finishes once resumed");
        for (let i = 0; i < 600 && sink.bytes < total; i++) await sleep(50);
        assert.equal(sink.bytes, total);
        const all = concat(sink.chunks);
        for (let i = 0; i < total / (64 * 1024); i += 97) {
          assert.deepEqual(all.subarray(i * 64 * 1024, (i + 1) * 64 * 1024), pattern(64 * 1024, i));
        }
      } finally {
        await close();
      }
    });

    it("pause() and resume() from inside data() keep order and never nest data()", async () => {
      const { client, server, close } = await connectedPair();
      try {
        const sink = recorder();
        let depth = 0;
        let nested = false;
        let calls = 0;
        server.read({
          data(chunk) {
            if (depth > 0) nested = true;
            depth++;
            sink.data(chunk);
            calls++;
            // Every other chunk: pause, then resume before returning (a session
            // whose parked request finished at once); else pause and resume later.
            server.pause();
            if (calls % 2 === 0) server.resume();
            else setTimeout(() => server.resume(), 1);
            depth--;
          },
          end: () => sink.end(),
        });
        const parts: Uint8Array[] = [];
        for (let i = 0; i < 40; i++) {
          parts.push(pattern(5000 + i, i));
          await client.send(parts[i]!);
          if (i % 8 === 0) await sleep(2);
        }
        client.close();
        await within(sink.ended, 10_000, "end after the peer closed");
        assert.equal(nested, false, "data() was not called from inside data()");
        assert.deepEqual(concat(sink.chunks), concat(parts));
        assert.equal(sink.ends, 1);
      } finally {
        await close();
      }
    });

    it("close() while paused, with data arrived, ends the sink once", async () => {
      const { client, server, close } = await connectedPair();
      try {
        const sink = recorder();
        server.read(sink);
        await client.send(pattern(100, 1));
        for (let i = 0; i < 100 && sink.bytes === 0; i++) await sleep(10);
        server.pause();
        await client.send(pattern(100, 2)); // may be read and held, or left in the socket
        await sleep(50);
        server.close();
        assert.equal(sink.events.includes("end"), false, "end() did not run inside close()");
        await within(sink.ended, 5_000, "end after our own close");
        await sleep(20);
        assert.deepEqual(sink.events, ["data", "end"]);
      } finally {
        await close();
      }
    });

    it("close() ends reading, telling the sink later, not from inside close()", async () => {
      const { server, close } = await connectedPair();
      try {
        const sink = recorder();
        server.read(sink);
        server.close();
        assert.deepEqual(sink.events, [], "end() did not run inside close()");
        await within(sink.ended, 5_000, "end after our own close");
        await within(server.closed, 5_000, "closed resolves");
        assert.deepEqual(sink.events, ["end"]);
      } finally {
        await close();
      }
    });
  });

  it("keeps reading across iterators: leaving a loop does not close", async () => {
    const { client, server, close } = await connectedPair();
    try {
      await client.send(text("greeting"));
      assert.deepEqual(await readBytes(server, 8), text("greeting"));
      await client.send(text("body"));
      assert.deepEqual(await readBytes(server, 4), text("body"));
      await server.send(text("ok"));
      assert.deepEqual(await readBytes(client, 2), text("ok"));
    } finally {
      await close();
    }
  });

  it("rejects connecting to a port nobody listens on", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    const port = listener.addr.port;
    listener.close();
    await assert.rejects(within(net.connect({ hostname: HOST, port }), 5_000, "connect"));
  });

  it("rejects listening on a port already in use", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    try {
      await assert.rejects(net.listen({ hostname: HOST, port: listener.addr.port }));
    } finally {
      listener.close();
    }
  });

  it("listener close() ends accepting but keeps established connections", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    const { client, server, close } = await connectedPair(listener);
    try {
      const accepting = (async () => {
        const more: Connection[] = [];
        for await (const conn of listener) more.push(conn);
        return more;
      })();
      await sleep(20);
      listener.close();
      listener.close(); // idempotent
      assert.deepEqual(await within(accepting, 5_000, "accept loop ends"), []);
      await assert.rejects(
        within(net.connect({ hostname: HOST, port: listener.addr.port }), 5_000, "connect"),
      );
      await client.send(text("still here"));
      assert.deepEqual(await readBytes(server, 10), text("still here"));
    } finally {
      await close();
    }
  });

  it("accepts several clients concurrently", async () => {
    const listener = await net.listen({ hostname: HOST, port: 0 });
    const servers: Promise<void>[] = [];
    const serving = (async () => {
      for await (const conn of listener) servers.push(echo(conn));
    })();
    try {
      const clients = await Promise.all(
        Array.from({ length: 8 }, () => net.connect({ hostname: HOST, port: listener.addr.port })),
      );
      await Promise.all(clients.map(async (client, i) => {
        const message = pattern(10_000, i);
        await client.send(message);
        assert.deepEqual(await readBytes(client, message.byteLength), message);
        client.close();
      }));
      listener.close();
      await within(Promise.all([serving, ...servers]), 5_000, "servers end");
    } finally {
      listener.close();
    }
  });
});
