/**
 * The null relay of ../shared/bench (`loadgen -serve-relay`) on Bun's own sockets: the
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
 *   bun scripts/relay-floor-bun.ts PORT [SQLITE_PATH] [--ack]
 */
import process from "node:process";
import { openSqlite } from "../src/adapters/bun/sqlite.ts";
import { storeThenDeliver } from "./relay-floor-store.ts";
import { listeningLine, relayArgs, SUCCESS } from "./relay-floor-args.ts";

// Just the Bun API used here (see src/adapters/bun/net.ts).
interface State {
  me: string;
  partner: string;
  line: string;
  /** Bytes the kernel has not taken yet, in order. */
  pending: Uint8Array[];
}
interface Socket {
  data: State;
  write(data: Uint8Array): number;
}
declare const Bun: {
  listen(options: {
    hostname: string;
    port: number;
    socket: {
      binaryType: "uint8array";
      open(s: Socket): void;
      data(s: Socket, chunk: Uint8Array): void;
      drain(s: Socket): void;
      close(s: Socket): void;
    };
  }): { port: number };
};

const args = relayArgs(process.argv.slice(2));
if (args === null) {
  console.error("usage: relay-floor-bun.ts PORT [SQLITE_PATH] [--ack]");
  process.exit(2);
}
const { port, sqlitePath, ack } = args;
const peers = new Map<string, Socket>();
const store = sqlitePath === undefined
  ? null
  : storeThenDeliver<Socket>(openSqlite, sqlitePath, send);

/** Writes in order; what the kernel does not take waits for `drain`. */
function send(s: Socket, bytes: Uint8Array): void {
  const pending = s.data.pending;
  if (pending.length > 0) {
    pending.push(bytes);
    return;
  }
  const n = s.write(bytes);
  if (n >= 0 && n < bytes.length) pending.push(bytes.subarray(n));
}

const server = Bun.listen({
  hostname: "127.0.0.1",
  port,
  socket: {
    binaryType: "uint8array",
    open(s) {
      s.data = { me: "", partner: "", line: "", pending: [] };
    },
    data(s, chunk) {
      const d = s.data;
      if (d.partner === "") {
        d.line += new TextDecoder().decode(chunk);
        const nl = d.line.indexOf("\n");
        if (nl < 0) return;
        [d.me, d.partner] = d.line.slice(0, nl).trim().split(/\s+/);
        peers.set(d.me, s);
        send(s, new TextEncoder().encode("OK\n"));
        return;
      }
      // Bun hands each read its own buffer: it can wait in `pending` as it is.
      const to = peers.get(d.partner);
      if (to === undefined) return;
      if (store === null) send(to, chunk);
      else store(to, d.partner, chunk);
      if (ack) send(s, SUCCESS);
    },
    drain(s) {
      const pending = s.data.pending;
      while (pending.length > 0) {
        const n = s.write(pending[0]);
        if (n < 0) return;
        if (n < pending[0].length) {
          pending[0] = pending[0].subarray(n);
          return;
        }
        pending.shift();
      }
    },
    close(s) {
      if (peers.get(s.data.me) === s) peers.delete(s.data.me);
    },
  },
});
console.log(listeningLine("Bun", args, server.port));
