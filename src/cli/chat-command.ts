import type { NetAdapter } from "../platform.ts";
import { parseUserAddress } from "../protocol/mod.ts";
import { runChat } from "../client/chat.ts";
import { type CliIo, UsageError } from "./io.ts";
import { readPassword } from "./password-input.ts";

/** `solec chat ADDRESS [--server host:port] [--password-stdin]`. */
export async function chatCommand(options: {
  address: string | undefined;
  server: string | undefined;
  passwordStdin: boolean;
  net: NetAdapter;
  io: CliIo;
}): Promise<number> {
  const { io } = options;
  if (options.address === undefined) {
    throw new UsageError("usage: solec chat NAME@DOMAIN [--server HOST:PORT] [--password-stdin]");
  }
  const address = parseUserAddress(options.address);
  if (address === undefined) {
    throw new UsageError(`${JSON.stringify(options.address)} is not a user address (name@domain)`);
  }
  const password = await readPassword(io, options.passwordStdin, {
    confirm: false,
    prompt: `Password for ${address.full}: `,
  });
  return await runChat({
    address: address.full,
    server: options.server,
    net: options.net,
    input: io.lines(),
    output: io.out,
    password,
  });
}
