/**
 * `solec` command line: `serve`, `user`, `contact`, `channel`, `chat`.
 * Exit codes: 0 success, 1 failure (e.g. the user exists already, the server
 * stopped on an error), 2 bad usage or configuration (the message names the
 * field).
 */
import { readFileSync } from "node:fs";
import { CONFIG_REFERENCE } from "../config/schema.ts";
import { ConfigError, parseServerArgs } from "../config/load.ts";
import type { ExtraOptions } from "../config/load.ts";
import type { Kv } from "../kv/kv.ts";
import type { Platform } from "../platform.ts";
import { Store } from "../store/mod.ts";
import {
  channelCommand,
  CommandFailed,
  contactCommand,
  contactImport,
  userCommand,
  userImport,
} from "./admin.ts";
import { type CliIo, processIo, UsageError } from "./io.ts";
import { serve } from "./serve.ts";
import { chatCommand } from "./chat-command.ts";
import { openStore } from "./open-store.ts";
import { keyCommand, peerCommand } from "./peer-commands.ts";

const OPTIONS = {
  "password-stdin": { type: "boolean" },
  "skip-existing": { type: "boolean" },
  server: { type: "string" },
  address: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ExtraOptions;

export const USAGE = `solec: a SOLEC chat server (Bun and Deno)

usage: solec COMMAND [ARGS] [OPTIONS]

commands:
  serve                          run the server
  user add NAME                  create a user (asks for the password; --password-stdin reads one line)
  user passwd NAME               change a password (same password options)
  user del NAME                  delete a user with contacts, memberships and inbox
  user list                      list users
  user import                    create users from stdin lines "ADDRESS PASSWORD" (500 per
                                 transaction; # comments; --skip-existing skips existing users)
  contact add A B                make A and B mutual contacts (each local user gets the other)
  contact del A B                remove both directions
  contact list USER              list a user's contacts
  contact import                 make pairs mutual contacts from stdin lines "A B"
  channel add #NAME              create a channel
  channel del #NAME              delete a channel and its memberships
  channel list                   list channels with member counts
  chat ADDRESS [--server H:P]    interactive chat client (default server: ADDRESS's domain:9999)
  key generate                   create the server key (--key) if missing; prints the public key last
  key show                       print the server's public key (base64)
  peer add DOMAIN PUBLICKEY      trust a peer server [--address HOST:PORT] [--tls] [--ca PEM]
  peer del DOMAIN                forget a peer
  peer list                      list peers (store and config file)

NAME is a bare name (on --domain) or a full address.

options (every setting also comes from a JSON --config file or SOLEC_* variables):
${
  CONFIG_REFERENCE.filter((r) => r.flag !== null).map((r) =>
    `  ${`${r.flag} ${r.arg ?? ""}`.padEnd(28)} ${r.env ?? ""} (default ${r.default})`
  ).join("\n")
}
`;

export async function main(
  argv: string[],
  platform: Platform,
  io: CliIo = processIo,
): Promise<number> {
  let kv: Kv | null = null;
  try {
    const { config, positionals, extra } = parseServerArgs(
      { argv, env: io.env, readFile: (p) => readFileSync(p, "utf8") },
      OPTIONS,
    );
    const [command, sub, ...rest] = positionals;
    if (extra.help || command === "help" || command === undefined) {
      io.out(USAGE);
      return command === undefined && !extra.help ? 2 : 0;
    }
    if (command === "serve") return await serve(config, platform, io);
    if (command === "chat") {
      return await chatCommand({
        address: sub,
        server: extra.server,
        passwordStdin: extra["password-stdin"] === true,
        net: platform.net,
        io,
      });
    }
    if (command === "key") {
      await keyCommand(config, io, sub);
      return 0;
    }
    kv = openStore(config, platform);
    const ctx = {
      store: new Store(kv),
      domain: config.domain,
      io,
      passwordCost: config.passwordCost,
    };
    switch (command) {
      case "user":
        if (sub === "import") {
          await userImport(ctx, { skipExisting: extra["skip-existing"] === true });
          return 0;
        }
        await userCommand(ctx, sub, rest, extra["password-stdin"] === true);
        return 0;
      case "contact":
        if (sub === "import") {
          await contactImport(ctx);
          return 0;
        }
        await contactCommand(ctx, sub, rest);
        return 0;
      case "channel":
        await channelCommand(ctx, sub, rest);
        return 0;
      case "peer":
        await peerCommand(config, kv, io, sub, rest, {
          address: extra.address,
          tls: extra.tls,
          ca: extra.ca,
        });
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; see solec --help`);
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) {
      io.err(`solec: ${e.message}`);
      return 2;
    }
    if (e instanceof CommandFailed) {
      io.err(`solec: ${e.message}`);
      return 1;
    }
    io.err(`solec: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await kv?.close();
  }
}
