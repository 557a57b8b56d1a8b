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
      throw new UsageError(`usage: solec user add|del|passwd|list [NAME], or solec user import`);
  }
}

export async function contactCommand(
  ctx: AdminContext,
  sub: string | undefined,
  args: string[],
): Promise<void> {
  if (sub !== "add" && sub !== "del" && sub !== "list") {
    throw new UsageError(
      "usage: solec contact add|del A B, solec contact list USER, or solec contact import",
    );
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

// ---------------------------------------------------------------------------
// Bulk imports: `solec user import` and `solec contact import`

/** Lines committed per store transaction by the import commands. */
export const IMPORT_BATCH_LINES = 500;

/** One non-blank, non-comment line of an import, with its 1-based line number. */
interface ImportLine {
  readonly line: number;
  readonly text: string;
}

/** "1 user", "2 users". */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** Runs `f`, prefixing a UsageError it throws with the line number. */
const prefixLine = <T>(line: number, f: () => T): T => {
  try {
    return f();
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`line ${line}: ${e.message}`);
    throw e;
  }
};

/**
 * Reads `io.lines()` in batches of {@link IMPORT_BATCH_LINES} data lines
 * (blank lines and `#` comments are skipped), calling `parse` on each line as
 * it arrives and `commit` once per batch. A parse error (UsageError, exit 2)
 * or a conflict (CommandFailed, exit 1) stops the import before anything of
 * the current batch is written; the message then also says what earlier
 * batches committed.
 */
async function importBatches<T>(
  io: CliIo,
  what: string,
  parse: (l: ImportLine) => T | null,
  commit: (batch: T[]) => Promise<number>,
): Promise<number> {
  let done = 0;
  let lineNo = 0;
  let batchStart = 1;
  let batch: T[] = [];
  try {
    for await (const raw of io.lines()) {
      lineNo++;
      const text = raw.trim();
      if (text === "" || text.startsWith("#")) continue;
      if (batch.length === 0) batchStart = lineNo;
      const item = parse({ line: lineNo, text: raw.replace(/^\s+/, "") });
      if (item === null) continue;
      batch.push(item);
      if (batch.length >= IMPORT_BATCH_LINES) {
        done += await commit(batch);
        batch = [];
      }
    }
    if (batch.length > 0) done += await commit(batch);
  } catch (e) {
    if (e instanceof UsageError || e instanceof CommandFailed) {
      const Ctor = e instanceof UsageError ? UsageError : CommandFailed;
      const before = `imported ${count(done, what)} from the lines before ${batchStart}`;
      const tail = done === 0 ? "nothing was imported" : `${before}, nothing from there on`;
      throw new Ctor(`${e.message}; ${tail}`);
    }
    throw e;
  }
  return done;
}

/**
 * `solec user import`: stdin lines `ADDRESS PASSWORD` (ADDRESS a bare name on
 * the domain or a full address; the password is the rest of the line after
 * the spaces following the address, so it may contain spaces). Per batch:
 * existing users are looked up in one read, passwords are hashed concurrently
 * (at `--password-cost`, as many at once as the hashing pool allows), and the
 * accounts are created in one transaction that fails if any exists.
 */
export async function userImport(
  ctx: AdminContext,
  options: { readonly skipExisting: boolean },
): Promise<void> {
  const { store, io, domain } = ctx;
  const firstLine = new Map<string, number>();
  let skipped = 0;
  interface Account {
    readonly line: number;
    readonly user: string;
    readonly password: string;
  }
  const parse = ({ line, text }: ImportLine): Account | null => {
    const m = /^(\S+)[ \t]+(.*)$/.exec(text);
    const name = m?.[1] ?? text.split(/\s/)[0];
    const user = prefixLine(line, () => localUser(name, domain));
    const password = m?.[2] ?? "";
    if (password.trim() === "") {
      throw new UsageError(`line ${line}: user ${user} has no password (ADDRESS PASSWORD)`);
    }
    const earlier = firstLine.get(user);
    if (earlier !== undefined) {
      if (options.skipExisting) {
        skipped++;
        return null;
      }
      throw new CommandFailed(`line ${line}: user ${user} already appears on line ${earlier}`);
    }
    firstLine.set(user, line);
    return { line, user, password };
  };
  const commit = async (batch: Account[]): Promise<number> => {
    const hashes = new Map<string, Promise<string>>();
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await store.users.existing(batch.map((a) => a.user));
      if (existing.size > 0) {
        if (!options.skipExisting) {
          const first = batch.find((a) => existing.has(a.user))!;
          throw new CommandFailed(
            `line ${first.line}: user ${first.user} already exists (--skip-existing skips such lines)`,
          );
        }
        skipped += existing.size;
        batch = batch.filter((a) => !existing.has(a.user));
      }
      for (const a of batch) {
        if (!hashes.has(a.user)) {
          hashes.set(a.user, hashPassword(a.password, { cost: ctx.passwordCost }));
        }
      }
      const accounts = await Promise.all(
        batch.map(async (a) => ({ user: a.user, phc: await hashes.get(a.user)! })),
      );
      // The check in addMany catches users created meanwhile (e.g. by `user add`): look again.
      if (await store.users.addMany(accounts)) return accounts.length;
    }
    throw new CommandFailed("the store kept changing during the import; try again");
  };
  const imported = await importBatches(io, "user", parse, commit);
  io.out(
    `imported ${count(imported, "user")}${skipped > 0 ? ` (${skipped} existing skipped)` : ""}`,
  );
}

/**
 * `solec contact import`: stdin lines `A B`, each pair made mutual contacts
 * like `contact add A B` (each local user of the pair gets the other; local
 * users must exist). One store transaction per batch.
 */
export async function contactImport(ctx: AdminContext): Promise<void> {
  const { store, io, domain } = ctx;
  interface Pair {
    readonly line: number;
    readonly a: string;
    readonly b: string;
  }
  const isLocal = (u: string) => u.endsWith(`@${domain}`);
  const parse = ({ line, text }: ImportLine): Pair => {
    const fields = text.trim().split(/\s+/);
    if (fields.length !== 2) {
      throw new UsageError(
        `line ${line}: expected two user addresses "A B", found ${fields.length} fields`,
      );
    }
    const a = prefixLine(line, () => anyUser(fields[0], domain, "first user"));
    const b = prefixLine(line, () => anyUser(fields[1], domain, "second user"));
    if (a === b) throw new UsageError(`line ${line}: a contact pair needs two different users`);
    if (!isLocal(a) && !isLocal(b)) {
      throw new UsageError(`line ${line}: neither ${a} nor ${b} is a user of ${domain}`);
    }
    return { line, a, b };
  };
  const commit = async (batch: Pair[]): Promise<number> => {
    const locals = [...new Set(batch.flatMap((p) => [p.a, p.b].filter(isLocal)))];
    const existing = await store.users.existing(locals);
    for (const p of batch) {
      for (const u of [p.a, p.b]) {
        if (isLocal(u) && !existing.has(u)) throw new CommandFailed(`line ${p.line}: no user ${u}`);
      }
    }
    const mutations = store.contacts.mutualMutations(batch.map((p) => [p.a, p.b]), isLocal);
    await apply(store.kv.atomic(), mutations).commit();
    return batch.length;
  };
  const imported = await importBatches(io, "contact pair", parse, commit);
  io.out(`imported ${count(imported, "contact pair")}`);
}
