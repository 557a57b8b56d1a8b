/**
 * Operator commands on the store: users, contacts, channels. They work on the
 * same store as the server, also while it runs (SQLite in WAL mode with a busy
 * timeout lets both processes write).
 */
import { parseAddress, parseUserName } from "../protocol/mod.ts";
import { apply, type Mutation, type Store } from "../store/mod.ts";
import { hashPassword } from "../server/password.ts";
import { type CliIo, UsageError } from "./io.ts";
import { readPassword } from "./password-input.ts";

/** A state conflict (exists already, not found): exit code 1. */
export class CommandFailed extends Error {
  override readonly name = "CommandFailed";
}

export interface AdminContext {
  readonly store: Store;
  readonly domain: string;
  readonly io: CliIo;
  readonly passwordCost: number;
}

/** A local user address from `name` or `name@domain`. */
export function localUser(text: string | undefined, domain: string, what = "user"): string {
  if (text === undefined) throw new UsageError(`missing ${what} (NAME or NAME@${domain})`);
  const a = parseUserName(text, domain);
  if (a === undefined) {
    throw new UsageError(
      `${what} ${JSON.stringify(text)}: not a valid user name (1-64 of a-z 0-9 . _ -)`,
    );
  }
  if (a.domain !== domain) {
    throw new UsageError(`${what} ${a.full} is not on this server's domain ${domain}`);
  }
  return a.full;
}

/** Any user address; a bare name is local. */
function anyUser(text: string | undefined, domain: string, what: string): string {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  const a = parseUserName(text, domain);
  if (a === undefined) {
    throw new UsageError(`${what} ${JSON.stringify(text)}: not a valid user address`);
  }
  return a.full;
}

/** A local channel from `#name`, `name` or `#name@domain`. */
export function localChannel(text: string | undefined, domain: string): string {
  if (text === undefined) throw new UsageError(`missing channel (#NAME or #NAME@${domain})`);
  let full = text.startsWith("#") ? text : `#${text}`;
  if (!full.includes("@")) full = `${full}@${domain}`;
  const a = parseAddress(full);
  if (a === undefined || a.kind !== "channel") {
    throw new UsageError(`channel ${JSON.stringify(text)}: not a valid channel name`);
  }
  if (a.domain !== domain) throw new UsageError(`channel ${a.full} is not homed on ${domain}`);
  return a.full;
}

export async function userCommand(
  ctx: AdminContext,
  sub: string | undefined,
  args: string[],
  passwordStdin: boolean,
): Promise<void> {
  const { store, io } = ctx;
  switch (sub) {
    case "add": {
      const user = localUser(args[0], ctx.domain);
      if (await store.users.exists(user)) throw new CommandFailed(`user ${user} already exists`);
      const password = await readPassword(io, passwordStdin, { confirm: true });
      const phc = await hashPassword(password, { cost: ctx.passwordCost });
      if (!(await store.users.add(user, phc))) {
        throw new CommandFailed(`user ${user} already exists`);
      }
      io.out(`added ${user}`);
      return;
    }
    case "del": {
      const user = localUser(args[0], ctx.domain);
      if (!(await store.users.delete(user))) throw new CommandFailed(`no user ${user}`);
      io.out(`deleted ${user}`);
      return;
    }
    case "passwd": {
      const user = localUser(args[0], ctx.domain);
      if (!(await store.users.exists(user))) throw new CommandFailed(`no user ${user}`);
      const password = await readPassword(io, passwordStdin, { confirm: true });
      const phc = await hashPassword(password, { cost: ctx.passwordCost });
      if (!(await store.users.setPassword(user, phc))) throw new CommandFailed(`no user ${user}`);
      io.out(`password changed for ${user}`);
      return;
    }
    case "list":
      for (const u of await store.users.list()) io.out(u);
      return;
    default:
      throw new UsageError(`usage: solec user add|del|passwd|list [NAME]`);
  }
}

export async function contactCommand(
  ctx: AdminContext,
  sub: string | undefined,
  args: string[],
): Promise<void> {
  if (sub !== "add" && sub !== "del" && sub !== "list") {
    throw new UsageError("usage: solec contact add|del A B, or solec contact list USER");
  }
  const { store, io, domain } = ctx;
  if (sub === "list") {
    const user = localUser(args[0], domain);
    for (const c of await store.contacts.list(user)) io.out(c);
    return;
  }
  const a = anyUser(args[0], domain, "first user");
  const b = anyUser(args[1], domain, "second user");
  if (a === b) throw new UsageError("a contact pair needs two different users");
  const local = [a, b].filter((u) => u.endsWith(`@${domain}`));
  if (local.length === 0) throw new UsageError(`neither ${a} nor ${b} is a user of ${domain}`);
  for (const u of local) {
    if (!(await store.users.exists(u))) throw new CommandFailed(`no user ${u}`);
  }
  // Mutual: each local user of the pair gets the other.
  const mutations: Mutation[] = [];
  for (const [owner, other] of [[a, b], [b, a]]) {
    if (!owner.endsWith(`@${domain}`)) continue;
    mutations.push(
      sub === "add"
        ? store.contacts.addMutation(owner, other)
        : store.contacts.removeMutation(owner, other),
    );
  }
  await apply(store.kv.atomic(), mutations).commit();
  io.out(`${sub === "add" ? "added" : "removed"} contacts ${a} <-> ${b}`);
}

export async function channelCommand(
  ctx: AdminContext,
  sub: string | undefined,
  args: string[],
): Promise<void> {
  const { store, io, domain } = ctx;
  switch (sub) {
    case "add": {
      const channel = localChannel(args[0], domain);
      if (!(await store.channels.create(channel, null))) {
        throw new CommandFailed(`channel ${channel} already exists`);
      }
      io.out(`added ${channel}`);
      return;
    }
    case "del": {
      const channel = localChannel(args[0], domain);
      if (!(await store.channels.delete(channel))) throw new CommandFailed(`no channel ${channel}`);
      io.out(`deleted ${channel}`);
      return;
    }
    case "list":
      for (const c of await store.channels.list()) {
        const members = await store.channels.members(c);
        io.out(`${c}\t${members.length} member${members.length === 1 ? "" : "s"}`);
      }
      return;
    default:
      throw new UsageError("usage: solec channel add|del|list [#NAME]");
  }
}
