/** `Platform.serveHttp` on loopback, port 0, on the running runtime. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { platform } from "../support/platform.ts";
import { HOST } from "./helpers.ts";

describe(`serveHttp (${platform.runtime})`, () => {
  it("serves routes on the port it reports and shuts down", async () => {
    const server = await platform.serveHttp({
      hostname: HOST,
      port: 0,
      fetch: async (request) => {
        const url = new URL(request.url);
        if (url.pathname === "/hello") return new Response("hi there");
        if (url.pathname === "/echo" && request.method === "POST") {
          return Response.json({ got: await request.text() });
        }
        return new Response("not found", { status: 404 });
      },
    });
    const base = `http://${HOST}:${server.addr.port}`;
    try {
      assert.ok(server.addr.port > 0);
      assert.equal(server.addr.hostname, HOST);

      const hello = await fetch(`${base}/hello`);
      assert.equal(hello.status, 200);
      assert.equal(await hello.text(), "hi there");

      const echoed = await fetch(`${base}/echo`, { method: "POST", body: "payload" });
      assert.deepEqual(await echoed.json(), { got: "payload" });

      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await server.shutdown();
    }
    await assert.rejects(fetch(`${base}/hello`).then((r) => r.text()));
  });

  it("turns a throwing handler into a 500 and keeps serving", async () => {
    const server = await platform.serveHttp({
      hostname: HOST,
      port: 0,
      fetch: (request) => {
        if (new URL(request.url).pathname === "/boom") throw new Error("expected test error");
        return new Response("fine");
      },
    });
    const base = `http://${HOST}:${server.addr.port}`;
    try {
      const boom = await fetch(`${base}/boom`);
      assert.equal(boom.status, 500);
      await boom.body?.cancel();
      assert.equal(await (await fetch(`${base}/ok`)).text(), "fine");
    } finally {
      await server.shutdown();
    }
  });

  it("rejects a port already in use", async () => {
    const server = await platform.serveHttp({
      hostname: HOST,
      port: 0,
      fetch: () => new Response("x"),
    });
    try {
      await assert.rejects(
        platform.serveHttp({ hostname: HOST, port: server.addr.port, fetch: () => new Response() }),
      );
    } finally {
      await server.shutdown();
    }
  });
});
