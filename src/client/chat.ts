/**
 * `solec chat ADDRESS [--server host:port]`: a line-oriented interactive client.
 *
 * Everything goes through injected lines in and lines out, so it runs without
 * a TTY (tests drive it with arrays of lines). The CLI in `src/cli` parses the
 * arguments, prompts for the password without echo, and feeds stdin through
 * `readLines`.
 *
 * Commands are handled one at a time: each waits for its reply before the next
 * line is read, so the output of a command follows it and errors print next to
 * the line that caused them. Pushed messages print as they arrive, between
 * command outputs. Message text from the network is printed with control and
 * bidi-override characters replaced, so a peer cannot drive the terminal.
 *
 * Exit codes: 0 after `/quit` or the end of input, 1 when the connection could
 * not be set up or was lost, 2 for an unusable address or server argument.
 */
import type { NetAdapter, TlsClientOptions } from "../platform.ts";
import { type Address, parseAddress, parseUserAddress } from "../protocol/mod.ts";
import { type Message, SolecClient, SolecError } from "./client.ts";

export const DEFAULT_PORT = 9999;
const DEFAULT_HISTORY = 20;

export interface ChatOptions {
  /** Own address, `name@domain`; its domain is the default server. */
  readonly address: string;
  /** `host`, `host:port`, `[v6]:port`; default: the address's domain, port 9999. */
  readonly server?: string;
  readonly net: NetAdapter;
  readonly tls?: TlsClientOptions;
  /** Input lines, without line terminators. */
  readonly input: AsyncIterable<string>;
  /** Receives every line printed, without a terminator. */
  readonly output: (line: string) => void;
  readonly password: string;
}

export const HELP: readonly string[] = [
  "commands:",
  "  /join #chan@domain       join a channel and talk there",
  "  /leave [#chan@domain]    leave a channel (default: the current one)",
  "  /msg TARGET text         send to a user or channel and talk there",
  "  /to TARGET               talk to a user or channel",
  "  /history [TARGET] [N]    show the last N messages (default 20)",
  "  /list                    show contacts and joined channels",
  "  /contact add|del USER    add or remove a contact",
  "  /quit                    leave",
  "  text                     send to the current target (//text sends /text)",
];

// ---------------------------------------------------------------- helpers

/**
 * Splits `host`, `host:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 address.
 * Throws TypeError for an empty host or a port outside 1–65535.
 */
export function splitHostPort(s: string, defaultPort: number): { hostname: string; port: number } {
  const text = s.trim();
  let hostname: string;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new TypeError(`"${s}": missing "]"`);
    hostname = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new TypeError(`"${s}": unexpected text after "]"`);
      port = rest.slice(1);
    }
  } else {
    const colons = text.split(":").length - 1;
    if (colons === 1) {
      const at = text.indexOf(":");
      hostname = text.slice(0, at);
      port = text.slice(at + 1);
    } else {
      // No colon: a host name. Several: an unbracketed IPv6 address, no port.
      hostname = text;
    }
  }
  if (hostname === "") throw new TypeError(`"${s}": no host`);
  if (port === undefined) return { hostname, port: defaultPort };
  const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new TypeError(`"${s}": invalid port "${port}"`);
  return { hostname, port: n };
}

/** Joins `host:port`, bracketing IPv6 addresses. */
export function joinHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Lines of a byte or text stream (stdin): UTF-8 decoded across chunk
 * boundaries, split on LF, a trailing CR removed; a last line without LF counts.
 */
export async function* readLines(
  stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      yield line.endsWith("\r") ? line.slice(0, -1) : line;
    }
  }
  buffered += decoder.decode();
  if (buffered !== "") yield buffered.endsWith("\r") ? buffered.slice(0, -1) : buffered;
}

// C0/C1 controls (tab excepted) and bidi embedding/override/isolate marks.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text from the network made safe to print on a terminal. */
export function sanitize(text: string): string {
  return text.replace(UNSAFE, "\uFFFD");
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `[HH:MM]` in local time. */
export function formatTime(timestamp: number): string {
  const d = new Date(timestamp);
  return `[${pad2(d.getHours())}:${pad2(d.getMinutes())}]`;
}

/**
 * Output lines for one message:
 * - channel: `[HH:MM] #chan@dom <alice@a.test> text`
 * - direct:  `[HH:MM] <alice@a.test> text`
 * - direct sent by this user (another device, or history): `[HH:MM] -> bob@b.test <alice@a.test> text`
 * Multi-line content continues on indented lines.
 */
export function formatMessage(m: Message, self: string | undefined): string[] {
  const source = sanitize(m.source);
  const target = sanitize(m.target);
  let where = "";
  if (m.target.startsWith("#")) where = `${target} `;
  else if (self !== undefined && m.source === self) where = `-> ${target} `;
  const [first, ...rest] = m.content.split(/\r\n|\r|\n/);
  const lines = [`${formatTime(m.timestamp)} ${where}<${source}> ${sanitize(first)}`];
  for (const line of rest) lines.push(`        ${sanitize(line)}`);
  return lines;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------- session

/** A user mistake in a command line: printed as `! message`, no request sent. */
class UsageError extends Error {}

class ChatSession {
  /** Where plain lines go; set by /join, /msg, /to. */
  target: string | undefined;

  constructor(
    readonly client: SolecClient,
    readonly self: string,
    readonly print: (line: string) => void,
  ) {}

  /** Handles one input line; returns "quit" to end the session. */
  async handle(line: string): Promise<"quit" | void> {
    if (line.trim() === "") return;
    if (!line.startsWith("/") || line.startsWith("//")) {
      await this.#say(this.#requireTarget(), line.startsWith("//") ? line.slice(1) : line);
      return;
    }
    const [command, ...args] = line.trim().split(/\s+/);
    switch (command) {
      case "/join": {
        const channel = this.#channel(args[0], "/join #chan@domain");
        await this.client.join(channel);
        this.target = channel;
        this.print(`joined ${channel}`);
        return;
      }
      case "/leave": {
        const channel = args[0] !== undefined
          ? this.#channel(args[0], "/leave [#chan@domain]")
          : this.target?.startsWith("#")
          ? this.target
          : undefined;
        if (channel === undefined) throw new UsageError("usage: /leave [#chan@domain]");
        await this.client.leave(channel);
        if (this.target === channel) this.target = undefined;
        this.print(`left ${channel}`);
        return;
      }
      case "/msg": {
        // The text keeps its own spacing: take it from the raw line.
        const match = /^\s*\/msg\s+(\S+)\s?(.*)$/.exec(line);
        const text = match?.[2] ?? "";
        if (match === null || text === "") throw new UsageError("usage: /msg TARGET text");
        const target = this.#address(match[1]).full;
        this.target = target;
        await this.#say(target, text);
        return;
      }
      case "/to": {
        if (args.length !== 1) throw new UsageError("usage: /to TARGET");
        this.target = this.#address(args[0]).full;
        this.print(`talking to ${this.target}`);
        return;
      }
      case "/history":
        await this.#history(args);
        return;
      case "/list": {
        const items = await this.client.list();
        if (items.length === 0) {
          this.print("no contacts or channels");
        } else {
          this.print(`contacts and channels (${items.length}):`);
          for (const item of items) this.print(`  ${sanitize(item)}`);
        }
        return;
      }
      case "/contact": {
        const usage = "usage: /contact add|del USER";
        if (args.length !== 2 || (args[0] !== "add" && args[0] !== "del")) {
          throw new UsageError(usage);
        }
        const user = parseUserAddress(args[1]);
        if (user === undefined) throw new UsageError(`not a user address: ${args[1]}`);
        if (args[0] === "add") {
          await this.client.addContact(user.full);
          this.print(`added ${user.full} to contacts`);
        } else {
          await this.client.removeContact(user.full);
          this.print(`removed ${user.full} from contacts`);
        }
        return;
      }
      case "/quit":
        return "quit";
      case "/help":
        for (const l of HELP) this.print(l);
        return;
      default:
        throw new UsageError(`unknown command ${command} (try /help)`);
    }
  }

  async #history(args: string[]): Promise<void> {
    const usage = "usage: /history [TARGET] [N]";
    const rest = [...args];
    let target: string | undefined;
    let count = DEFAULT_HISTORY;
    // A first argument that is not a number is the target (addresses never are).
    if (rest.length > 0 && !/^[0-9]+$/.test(rest[0])) target = this.#address(rest.shift()).full;
    if (rest.length > 0) {
      const n = /^[0-9]+$/.test(rest[0]) ? Number(rest.shift()) : NaN;
      if (!(n >= 1 && Number.isSafeInteger(n))) throw new UsageError(usage);
      count = n;
    }
    if (rest.length > 0) throw new UsageError(usage);
    target ??= this.#requireTarget();
    const messages = await this.client.history(target, { count });
    if (messages.length === 0) {
      this.print(`no messages with ${target}`);
      return;
    }
    for (const m of messages) for (const l of formatMessage(m, this.self)) this.print(l);
    this.print(`-- ${messages.length} message${messages.length === 1 ? "" : "s"} with ${target}`);
  }

  #say(target: string, text: string): Promise<void> {
    return this.client.send(target, text);
  }

  #requireTarget(): string {
    if (this.target === undefined) throw new UsageError("no target: /msg or /join first");
    return this.target;
  }

  #address(text: string | undefined): Address {
    const a = text === undefined ? undefined : parseAddress(text);
    if (a === undefined) {
      throw new UsageError(
        text === undefined
          ? "missing address"
          : `not an address: ${text} (user@domain or #channel@domain)`,
      );
    }
    return a;
  }

  #channel(text: string | undefined, usage: string): string {
    if (text === undefined) throw new UsageError(`usage: ${usage}`);
    const a = this.#address(text);
    if (a.kind !== "channel") throw new UsageError(`not a channel address: ${text}`);
    return a.full;
  }
}

const LOST = Symbol("lost");

/** Runs an interactive session; resolves with the exit code. */
export async function runChat(options: ChatOptions): Promise<number> {
  const { output } = options;
  const self = parseUserAddress(options.address);
  if (self === undefined) {
    output(`! not a user address: ${options.address} (expected name@domain)`);
    return 2;
  }
  let server: { hostname: string; port: number };
  try {
    server = splitHostPort(options.server ?? self.domain, DEFAULT_PORT);
  } catch (e) {
    output(`! invalid server ${errorText(e)}`);
    return 2;
  }
  const where = joinHostPort(server.hostname, server.port);

  let client: SolecClient;
  try {
    client = await SolecClient.connect({ net: options.net, ...server, tls: options.tls });
  } catch (e) {
    output(`! cannot connect to ${where}: ${errorText(e)}`);
    return 1;
  }
  try {
    await client.login(self.full, options.password);
  } catch (e) {
    output(
      `! login failed: ${
        e instanceof SolecError ? e.message.replace(/^login failed: /, "") : errorText(e)
      }`,
    );
    client.close();
    await client.closed;
    return 1;
  }
  output(`connected to ${where} as ${self.full} (/help for commands)`);

  // Pushes print while commands run; the pump ends with the session.
  const pump = (async () => {
    for await (const m of client.messages()) for (const l of formatMessage(m, self.full)) output(l);
  })();
  const session = new ChatSession(client, self.full, output);

  const lost = async (): Promise<number> => {
    const reason = await client.closed;
    await pump; // messages received before the loss print first
    output(`! connection lost: ${reason === undefined ? "closed" : reason.message}`);
    return 1;
  };

  const lines = options.input[Symbol.asyncIterator]();
  const closed = client.closed.then((): typeof LOST => LOST);
  try {
    for (;;) {
      // A lost connection must end the session even while no line arrives.
      const next = await Promise.race([lines.next(), closed]);
      if (next === LOST || client.isClosed) {
        // The pending read cannot be cancelled; the caller decides about stdin.
        void lines.return?.();
        return await lost();
      }
      if (next.done) break;
      let action: "quit" | void = undefined;
      try {
        action = await session.handle(next.value);
      } catch (e) {
        if (client.isClosed) return await lost();
        output(`! ${errorText(e)}`);
      }
      if (client.isClosed) return await lost();
      if (action === "quit") break;
    }
  } catch (e) {
    // The input failed (stdin error): leave cleanly, but say so.
    output(`! input: ${errorText(e)}`);
    client.close();
    await client.closed;
    await pump;
    return 1;
  }
  client.close();
  await client.closed;
  await pump;
  return 0;
}
