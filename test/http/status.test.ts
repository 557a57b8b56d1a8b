/** serverStatus: the HTTP view of a server, with and without the federation plug-in. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type FederationStatus, serverStatus, type StatusSource } from "../../src/http/status.ts";
import { ServerMetrics } from "../../src/server/metrics.ts";

function source(extra: Partial<StatusSource> = {}): StatusSource {
  return {
    listening: true,
    connections: 5,
    awaitingLogin: 1,
    metrics: new ServerMetrics(),
    commits: { commits: 0, mutations: 0 },
    router: { counters: { local: 1, channel: 2, remote: 3 } },
    ...extra,
  };
}

describe("serverStatus", () => {
  it("without federation: no server connections, empty outbox, no peers, inbound 0", async () => {
    let stopping = false;
    let pinged = 0;
    const ping = () => {
      pinged++;
      return Promise.resolve();
    };
    const s = serverStatus(source({ federation: null }), ping, () => stopping);
    assert.equal(s.listening(), true);
    assert.equal(s.shuttingDown(), false);
    stopping = true;
    assert.equal(s.shuttingDown(), true);
    await s.pingStore();
    assert.equal(pinged, 1);
    assert.deepEqual(s.connections(), { client: 5, server: 0, awaitingLogin: 1 });
    assert.deepEqual(s.messages(), { local: 1, channel: 2, remote: 3, inbound: 0 });
    assert.deepEqual(s.outbox(), { pending: 0, sent: 0, rejected: 0, expired: 0 });
    assert.deepEqual(s.peers(), []);
    // A server object without the property at all reads the same.
    const bare = serverStatus(source(), () => Promise.resolve(), () => false);
    assert.deepEqual(bare.connections(), { client: 5, server: 0, awaitingLogin: 1 });
  });

  it("reads federation status at call time; inbound links are not client connections", () => {
    let fed: FederationStatus = {
      connections: 3,
      inboundLinks: 2,
      outboxPending: 7,
      peers: [{ domain: "b.test", up: true }],
      outboxSent: 10,
      outboxRejected: 1,
      outboxExpired: 0,
    };
    const server = {
      ...source({ router: { counters: { local: 1, channel: 2, remote: 3, inbound: 4 } } }),
      federation: { status: () => fed },
    };
    const s = serverStatus(server, () => Promise.resolve(), () => false);
    assert.deepEqual(s.connections(), { client: 3, server: 3, awaitingLogin: 1 });
    assert.deepEqual(s.messages(), { local: 1, channel: 2, remote: 3, inbound: 4 });
    assert.deepEqual(s.outbox(), { pending: 7, sent: 10, rejected: 1, expired: 0 });
    assert.deepEqual(s.peers(), [{ domain: "b.test", up: true }]);
    // Optional counters absent: 0.
    fed = { connections: 0, outboxPending: 0, peers: [{ domain: "b.test", up: false }] };
    assert.deepEqual(s.connections(), { client: 5, server: 0, awaitingLogin: 1 });
    assert.deepEqual(s.outbox(), { pending: 0, sent: 0, rejected: 0, expired: 0 });
    assert.deepEqual(s.peers(), [{ domain: "b.test", up: false }]);
  });

  it("reports group commits, and the store's disk figures when it has any", () => {
    const server = source({ commits: { commits: 4, mutations: 30 } });
    const plain = serverStatus(server, () => Promise.resolve(), () => false);
    assert.deepEqual(plain.store(), { commits: 4, writes: 30 });
    const disk = {
      flusherUp: true,
      checkpoints: 3,
      walRestarts: 1,
      walFrames: 120,
      commitHoldSeconds: 0.002,
      commitHoldsRanOut: 1,
      fsyncs: 9,
    };
    const withDisk = serverStatus(server, () => Promise.resolve(), () => false, () => disk);
    assert.deepEqual(withDisk.store(), { commits: 4, writes: 30, disk });
  });
});
