/**
 * The null relay of ../shared/bench (`loadgen -serve-relay`) on Bun's own sockets: the
 * line "<me> <partner>\n" gets "OK\n", then every byte is copied to the partner's
 * connection, unparsed. No protocol, no store: what any server on this runtime pays for
 * its sockets and event loop alone (scripts/bench-relay-floor.sh). Direct pairs only.
 * With SQLITE_PATH, every chunk is first stored in SQLite, one transaction per turn
 * (scripts/relay-floor-store.ts): the least a server that stores messages pays.
 *
 *   bun scripts/relay-floor-bun.ts PORT [SQLITE_PATH]
 */
import process from "node:process";
import { openSqlite } from "../src/adapters/bun/sqlite.ts";
import { storeThenDeliver } from "./relay-floor-store.ts";

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
  }): unknown;
};

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: relay-floor-bun.ts PORT [SQLITE_PATH]");
  process.exit(2);
}
const peers = new Map<string, Socket>();
const store = process.argv[3] === undefined
  ? null
  : storeThenDeliver<Socket>(openSqlite, process.argv[3], send);

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

Bun.listen({
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
console.log(`null relay (Bun${store === null ? "" : ", SQLite"}) on 127.0.0.1:${port}`);
