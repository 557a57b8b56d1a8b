/**
 * Login throttling: growing delays after failed password checks.
 *
 * Policy (defaults in parentheses):
 *
 * - Failed logins are counted per remote IP and per account (the address the
 *   client tried to log in as, whether or not it exists). IPv6 addresses are
 *   counted per /64 network, since one host usually owns a whole /64;
 *   IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) count as the IPv4 address.
 *   Account names are compared case-insensitively.
 * - The first 3 failures of a key cost nothing. From the 4th failure on, the
 *   next attempt is answered only after a delay that doubles with every
 *   further failure: 250 ms after the 4th, 500 ms after the 5th, 1 s, 2 s, 4 s,
 *   8 s, then 10 s (the cap) from the 10th failure on.
 * - An attempt waits for the longer of its IP's and its account's delay. The
 *   server waits *before* checking the password and answering, so a client
 *   learns nothing sooner by hanging up early.
 * - A successful login clears the account's counter (the owner got in; the
 *   next typo is free again). It does not clear the IP's counter: otherwise an
 *   attacker holding one valid account could reset its own IP between guesses
 *   at other accounts.
 * - A key is forgotten 15 minutes after its last failure.
 * - At most 10 000 IPs and 10 000 accounts are tracked; when full, the key
 *   whose last failure is oldest is forgotten, so a flood of made-up names or
 *   addresses cannot grow memory. Keys are cut to 320 characters.
 * - Delays slow one client down; they do not stop many connections guessing in
 *   parallel. The server must also bound concurrent unauthenticated
 *   connections per IP (and one UserAuth per connection, as the protocol has).
 *
 * Usage, for each UserAuth:
 *
 *     await sleep(throttle.delayMs(ip, account));
 *     if (await verify(...)) throttle.recordSuccess(ip, account);
 *     else throttle.recordFailure(ip, account);
 *
 * The class is pure: time comes from the injected clock, nothing is scheduled.
 */

export interface LoginThrottleOptions {
  /** Milliseconds clock (default `Date.now`). */
  readonly now?: () => number;
  /** Failures per key that cause no delay (3). */
  readonly freeFailures?: number;
  /** Delay after the first failure beyond the free ones, in ms (250). */
  readonly baseDelayMs?: number;
  /** Largest delay, in ms (10 000). */
  readonly maxDelayMs?: number;
  /** A key is forgotten this long after its last failure, in ms (15 min). */
  readonly windowMs?: number;
  /** Most keys kept per map (IPs, accounts) (10 000). */
  readonly maxKeys?: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
}

/** Longest key kept; longer IPs or account names are cut (still distinct enough). */
const MAX_KEY_LENGTH = 320;

export class LoginThrottle {
  readonly #now: () => number;
  readonly #freeFailures: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  // Maps iterate in insertion order; entries are re-inserted on every failure,
  // so the first entry is always the one with the oldest last failure.
  readonly #ips = new Map<string, Entry>();
  readonly #accounts = new Map<string, Entry>();

  constructor(options: LoginThrottleOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#freeFailures = options.freeFailures ?? 3;
    this.#baseDelayMs = options.baseDelayMs ?? 250;
    this.#maxDelayMs = options.maxDelayMs ?? 10_000;
    this.#windowMs = options.windowMs ?? 15 * 60_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    if (this.#maxKeys < 1) throw new RangeError("maxKeys must be at least 1");
  }

  /** How long to wait before checking and answering this login attempt. */
  delayMs(ip: string, account: string): number {
    const now = this.#now();
    const failures = Math.max(
      this.#failures(this.#ips, ipKey(ip), now),
      this.#failures(this.#accounts, accountKey(account), now),
    );
    return this.#delayFor(failures);
  }

  /** Count a failed login (wrong password or unknown account). */
  recordFailure(ip: string, account: string): void {
    const now = this.#now();
    this.#bump(this.#ips, ipKey(ip), now);
    this.#bump(this.#accounts, accountKey(account), now);
  }

  /** A successful login: forget the account's failures (the IP's remain). */
  recordSuccess(_ip: string, account: string): void {
    this.#accounts.delete(accountKey(account));
  }

  /** Current failure counts (after expiry), for logs, metrics and tests. */
  failures(ip: string, account: string): { ip: number; account: number } {
    const now = this.#now();
    return {
      ip: this.#failures(this.#ips, ipKey(ip), now),
      account: this.#failures(this.#accounts, accountKey(account), now),
    };
  }

  /** Number of tracked keys (expired ones may linger until touched or swept). */
  get size(): { ips: number; accounts: number } {
    return { ips: this.#ips.size, accounts: this.#accounts.size };
  }

  /** Drop expired entries; optional (e.g. once a minute), memory is bounded anyway. */
  sweep(): void {
    const now = this.#now();
    this.#dropExpired(this.#ips, now);
    this.#dropExpired(this.#accounts, now);
  }

  #delayFor(failures: number): number {
    const excess = failures - this.#freeFailures;
    if (excess <= 0) return 0;
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (excess - 1));
  }

  #expired(entry: Entry, now: number): boolean {
    return now - entry.lastFailureAt >= this.#windowMs;
  }

  #failures(map: Map<string, Entry>, key: string, now: number): number {
    const entry = map.get(key);
    if (!entry) return 0;
    if (this.#expired(entry, now)) {
      map.delete(key);
      return 0;
    }
    return entry.failures;
  }

  #bump(map: Map<string, Entry>, key: string, now: number): void {
    const entry = map.get(key);
    const failures = entry && !this.#expired(entry, now) ? entry.failures + 1 : 1;
    map.delete(key); // re-insert at the end: most recent failure
    if (map.size >= this.#maxKeys) {
      this.#dropExpired(map, now);
      // Still full: forget the key whose last failure is oldest.
      while (map.size >= this.#maxKeys) {
        const oldest = map.keys().next();
        if (oldest.done) break;
        map.delete(oldest.value);
      }
    }
    map.set(key, { failures, lastFailureAt: now });
  }

  #dropExpired(map: Map<string, Entry>, now: number): void {
    // Oldest first; stop at the first live entry (the rest are newer). A clock
    // that went backwards only delays expiry, it never breaks the bound.
    for (const [key, entry] of map) {
      if (!this.#expired(entry, now)) break;
      map.delete(key);
    }
  }
}

function cut(value: string): string {
  return value.length > MAX_KEY_LENGTH ? value.slice(0, MAX_KEY_LENGTH) : value;
}

function accountKey(account: string): string {
  return cut(account.toLowerCase());
}

/**
 * The key an IP address is counted under: IPv4 as is (also when written as
 * IPv4-mapped IPv6), IPv6 as its /64 prefix (`2001:db8:1:2::/64`). Anything
 * unparsable is used verbatim (lower-cased, cut to 320 characters).
 */
export function ipKey(ip: string): string {
  let s = ip.trim().toLowerCase();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (!s.includes(":")) return cut(s);
  const groups = parseIpv6(s);
  if (!groups) return cut(s);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** Eight 16-bit groups, or null. Accepts `::` and a trailing dotted IPv4. */
function parseIpv6(s: string): number[] | null {
  let text = s;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(2).map(Number);
    if (bytes.some((b) => b > 255)) return null;
    tail.push((bytes[0]! << 8) | bytes[1]!, (bytes[2]! << 8) | bytes[3]!);
    text = v4[1]!.endsWith("::") ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  if (!head) return null;
  if (halves.length === 1) {
    const all = [...head, ...tail];
    return all.length === 8 ? all : null;
  }
  const rest = parse(halves[1]!);
  if (!rest) return null;
  const known = head.length + rest.length + tail.length;
  if (known > 7) return null;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}
