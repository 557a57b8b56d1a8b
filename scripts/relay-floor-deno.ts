/**
 * The null relay of ../shared/bench (`loadgen -serve-relay`) on Deno's own sockets: the
 * line "<me> <partner>\n" gets "OK\n", then every byte is copied to the partner's
 * connection, unparsed. No protocol, no store: what any server on this runtime pays for
 * its sockets and event loop alone (scripts/bench-relay-floor.sh). Direct pairs only.
 * With SQLITE_PATH, every chunk is first stored in SQLite, one transaction per turn
 * (scripts/relay-floor-store.ts): the least a server that stores messages pays. With
 * --ack, every chunk is also answered at once with a SOLEC Success frame to its sender
 * (also with SQLITE_PATH: before the commit): one read and two writes a message, as a
 * server that acknowledges each message does.
 * PORT 0 picks a free port; the line printed on start names the one listened on.
 *
 *   deno run -A scripts/relay-floor-deno.ts PORT [SQLITE_PATH] [--ack]
 */
import { openSqlite } from "../src/adapters/deno/sqlite.ts";
import { storeThenDeliver } from "./relay-floor-store.ts";
import { listeningLine, relayArgs, SUCCESS } from "./relay-floor-args.ts";

const peers = new Map<string, Writer>();
const args = relayArgs(Deno.args);
if (args === null) {
  console.error("usage: relay-floor-deno.ts PORT [SQLITE_PATH] [--ack]");
  Deno.exit(2);
}
const { port, sqlitePath, ack } = args;
const store = sqlitePath === undefined
  ? null
  : storeThenDeliver<Writer>(openSqlite, sqlitePath, (to, bytes) => to.send(bytes));

/** One write in flight per connection, the rest queued in order. */
class Writer {
  #queue: Uint8Array[] = [];
  #writing = false;
  constructor(readonly conn: Deno.Conn) {}

  send(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    if (!this.#writing) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const bytes = this.#queue.shift() as Uint8Array;
        for (let at = 0; at < bytes.length;) at += await this.conn.write(bytes.subarray(at));
      }
    } catch {
      // The partner went away: drop what was queued for it.
      this.#queue = [];
    } finally {
      this.#writing = false;
    }
  }
}

async function serve(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  const self = new Writer(conn);
  let line = "";
  let me = "";
  let partner = "";
  try {
    while (partner === "") {
      const n = await conn.read(buf);
      if (n === null) return;
      line += new TextDecoder().decode(buf.subarray(0, n));
      const nl = line.indexOf("\n");
      if (nl >= 0) [me, partner] = line.slice(0, nl).trim().split(/\s+/);
    }
    peers.set(me, self);
    self.send(new TextEncoder().encode("OK\n"));
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      const to = peers.get(partner);
      if (to === undefined) continue;
      if (store === null) to.send(buf.slice(0, n));
      else store(to, partner, buf.slice(0, n));
      if (ack) self.send(SUCCESS);
    }
  } catch {
    // reset by the peer: this connection is done
  } finally {
    if (peers.get(me) === self) peers.delete(me);
    conn.close();
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(listeningLine("Deno", args, listener.addr.port));
for await (const conn of listener) {
  (conn as Deno.TcpConn).setNoDelay(true);
  void serve(conn);
}
