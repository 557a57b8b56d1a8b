/**
 * TLS through `Platform.net`, with a throwaway CA made by the openssl CLI.
 * Skipped when openssl is not installed.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { platform } from "../support/platform.ts";
import {
  accept,
  echo,
  hasOpenssl,
  HOST,
  makeCerts,
  pattern,
  readBytes,
  within,
} from "./helpers.ts";

const { net } = platform;
const opensslMissing = !hasOpenssl();
const certs = opensslMissing ? undefined : makeCerts();

describe(`net adapter over TLS (${platform.runtime})`, { skip: opensslMissing }, () => {
  const listenTls = () =>
    net.listen({ hostname: HOST, port: 0, tls: { cert: certs!.cert, key: certs!.key } });

  /** An echo server for the duration of `body`. */
  async function withEchoServer(body: (port: number) => Promise<void>) {
    const listener = await listenTls();
    const served: Promise<void>[] = [];
    const serving = (async () => {
      for await (const conn of listener) served.push(echo(conn));
    })();
    try {
      await body(listener.addr.port);
    } finally {
      listener.close();
      await within(Promise.all([serving, ...served]), 5_000, "TLS echo server ends");
    }
  }

  it("echoes over TLS with the CA in caCerts (IP and server name)", async () => {
    await withEchoServer(async (port) => {
      for (const serverName of [undefined, "localhost"]) {
        const client = await net.connect({
          hostname: HOST,
          port,
          tls: { caCerts: [certs!.ca], ...(serverName ? { serverName } : {}) },
        });
        try {
          assert.equal(client.remoteAddr.port, port);
          const message = pattern(4 * 1024 * 1024 + 17, serverName ? 1 : 2);
          const sent = client.send(message);
          assert.deepEqual(await readBytes(client, message.byteLength), message);
          await sent;
        } finally {
          client.close();
        }
      }
    });
  });

  it("rejects a server its CAs do not vouch for, or with the wrong name", async () => {
    await withEchoServer(async (port) => {
      const attempts = [
        { hostname: HOST, port, tls: {} }, // system store only
        { hostname: HOST, port, tls: { caCerts: [certs!.cert] } }, // not a CA
        { hostname: HOST, port, tls: { caCerts: [certs!.ca], serverName: "example.com" } },
      ];
      for (const options of attempts) {
        await assert.rejects(
          within(net.connect(options), 15_000, "untrusted connect"),
          JSON.stringify(options.tls),
        );
      }
    });
  });

  it("a client speaking plain TCP does not disturb the TLS listener", async () => {
    await withEchoServer(async (port) => {
      const plain = await net.connect({ hostname: HOST, port });
      await plain.send(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
      const good = await net.connect({ hostname: HOST, port, tls: { caCerts: [certs!.ca] } });
      try {
        await good.send(new TextEncoder().encode("ping"));
        assert.deepEqual(await readBytes(good, 4), new TextEncoder().encode("ping"));
      } finally {
        good.close();
        plain.close();
      }
    });
  });

  it("a TLS listener hands out connections only after the handshake", async () => {
    const listener = await listenTls();
    try {
      const accepted = accept(listener);
      const client = await net.connect({
        hostname: HOST,
        port: listener.addr.port,
        tls: { caCerts: [certs!.ca] },
      });
      const server = await accepted;
      try {
        // Either side can speak first right away.
        await server.send(new TextEncoder().encode("welcome"));
        assert.deepEqual(await readBytes(client, 7), new TextEncoder().encode("welcome"));
        await client.send(new TextEncoder().encode("hi"));
        assert.deepEqual(await readBytes(server, 2), new TextEncoder().encode("hi"));
      } finally {
        client.close();
        server.close();
        await within(Promise.all([client.closed, server.closed]), 5_000, "TLS close");
      }
    } finally {
      listener.close();
    }
  });
});
