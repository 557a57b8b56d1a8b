/**
 * What the Bun and Deno null relays (`relay-floor-{bun,deno}.ts`) share besides their
 * store: the command line `PORT [SQLITE_PATH] [--ack]`, the frame `--ack` answers with,
 * and the line printed once listening (scripts/bench-relay-floor.sh and the tests read the
 * port from it).
 */
import { encode, PayloadType } from "../src/protocol/mod.ts";

export interface RelayArgs {
  /** 0 picks a free port. */
  readonly port: number;
  readonly sqlitePath: string | undefined;
  readonly ack: boolean;
}

/** The relay's arguments, or null when PORT is not a port number. */
export function relayArgs(args: readonly string[]): RelayArgs | null {
  const [portArg, sqlitePath] = args.filter((a) => a !== "--ack");
  const port = Number(portArg);
  if (!Number.isInteger(port) || port < 0) return null;
  return { port, sqlitePath, ack: args.includes("--ack") };
}

/** A SOLEC Success frame with an empty payload: what `--ack` answers each chunk with. */
export const SUCCESS: Uint8Array = encode({ type: PayloadType.Success });

/** "null relay (Bun, SQLite, ack) on 127.0.0.1:PORT", naming what this relay does. */
export function listeningLine(runtime: string, args: RelayArgs, port: number): string {
  const kind = [runtime, ...(args.sqlitePath === undefined ? [] : ["SQLite"])];
  if (args.ack) kind.push("ack");
  return `null relay (${kind.join(", ")}) on 127.0.0.1:${port}`;
}
