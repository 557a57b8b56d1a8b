/**
 * Client side of scripts/bench-conn-floor.ts: `RUNTIME bench-conn-floor-clients.ts PORT N`
 * opens N idle TCP connections to 127.0.0.1:PORT, prints "ready" once all are open, and
 * holds them until its stdin closes.
 */
import net from "node:net";
import process from "node:process";

const [port, n] = process.argv.slice(2).map(Number);
let open = 0;
const sockets: net.Socket[] = [];
for (let i = 0; i < n; i++) {
  const socket = net.connect(port, "127.0.0.1", () => {
    if (++open === n) console.log("ready");
  });
  socket.on("error", (e) => {
    console.error(`client ${i}: ${e.message}`);
    process.exit(1);
  });
  sockets.push(socket);
  // Paced, so the listen backlog never overflows.
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
