/**
 * Addresses (spec §5): `name@domain` for users, `#name@domain` for channels.
 *
 * - name: 1–64 bytes of lower-case `a-z 0-9 . _ -`; channel names may also use
 *   `/` (upstream's channel hierarchy). Upper case in the name is invalid.
 * - domain: a DNS-style host name (labels of `a-z 0-9 -`, 1–63 bytes each, no
 *   leading/trailing `-`, at most 253 bytes), compared case-insensitively and
 *   stored lower-case.
 * Anything else is "not found" (0x02) at the session level: this module only
 * answers "valid or not", callers choose the reply.
 */

export type AddressKind = "user" | "channel";

export interface Address {
  readonly kind: AddressKind;
  /** Name without the channel `#`. */
  readonly name: string;
  /** Lower-cased domain. */
  readonly domain: string;
  /** Canonical form: `name@domain` or `#name@domain`. */
  readonly full: string;
}

const USER_NAME = /^[a-z0-9._-]{1,64}$/;
const CHANNEL_NAME = /^[a-z0-9._/-]{1,64}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `domain` (any case) is a valid host name. */
export function isValidDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > 253) return false;
  const lower = domain.toLowerCase();
  for (const label of lower.split(".")) if (!LABEL.test(label)) return false;
  return true;
}

/** Lower-cases and validates a domain; undefined when invalid. */
export function normaliseDomain(domain: string): string | undefined {
  return isValidDomain(domain) ? domain.toLowerCase() : undefined;
}

/**
 * Parses a full address. Returns undefined for anything that is not a valid
 * user or channel address.
 */
export function parseAddress(text: string): Address | undefined {
  const at = text.lastIndexOf("@");
  if (at <= 0) return undefined;
  const domain = normaliseDomain(text.slice(at + 1));
  if (domain === undefined) return undefined;
  if (text.charCodeAt(0) === 0x23 /* # */) {
    const name = text.slice(1, at);
    if (!CHANNEL_NAME.test(name)) return undefined;
    return { kind: "channel", name, domain, full: `#${name}@${domain}` };
  }
  const name = text.slice(0, at);
  if (!USER_NAME.test(name)) return undefined;
  return { kind: "user", name, domain, full: `${name}@${domain}` };
}

/**
 * The user address a UserAuth `username` names: a bare name means
 * `name@defaultDomain` (spec §5). Channels are never users.
 */
export function parseUserName(text: string, defaultDomain: string): Address | undefined {
  if (text.includes("@")) {
    const a = parseAddress(text);
    return a?.kind === "user" ? a : undefined;
  }
  const domain = normaliseDomain(defaultDomain);
  if (domain === undefined || !USER_NAME.test(text)) return undefined;
  return { kind: "user", name: text, domain, full: `${text}@${domain}` };
}

/** Parses and requires a user address. */
export function parseUserAddress(text: string): Address | undefined {
  const a = parseAddress(text);
  return a?.kind === "user" ? a : undefined;
}

/** Parses and requires a channel address. */
export function parseChannelAddress(text: string): Address | undefined {
  const a = parseAddress(text);
  return a?.kind === "channel" ? a : undefined;
}

/**
 * `parseAddress` with a bounded memo: servers parse the same few thousand
 * addresses over and over (every message names two), and parsing allocates
 * (split, slices, template strings). Results are shared: treat them as
 * read-only. Invalid inputs are remembered too, so garbage does not cost
 * more than valid input; the memo is cleared when it reaches its bound.
 */
const memo = new Map<string, Address | null>();
const MEMO_MAX = 50_000;

export function parseAddressCached(text: string): Address | undefined {
  let a = memo.get(text);
  if (a === undefined) {
    if (memo.size >= MEMO_MAX || text.length > 400) {
      if (text.length > 400) return parseAddress(text);
      memo.clear();
    }
    a = parseAddress(text) ?? null;
    memo.set(text, a);
  }
  return a ?? undefined;
}
