/**
 * A short-lived cache of successful password checks, as Dovecot's auth cache
 * does: a reconnect storm (every client of a restarted relay logging in again)
 * costs one scrypt per account instead of one per connection.
 *
 * Entries are keyed by HMAC-SHA256 under a random per-process key over
 * (user, password, stored hash): neither passwords nor anything that could be
 * tested offline are kept, and a changed password (a new stored hash) or a
 * deleted user simply stops matching. Only successes are cached, so a wrong
 * password always costs a full check (and the throttle still counts it).
 */
import { createHmac, randomBytes } from "node:crypto";

export class AuthCache {
  readonly #key = randomBytes(32);
  readonly #until = new Map<string, number>();
  hits = 0;

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  #id(user: string, password: string, phc: string): string {
    return createHmac("sha256", this.#key).update(user).update("\0").update(password).update("\0")
      .update(phc).digest("base64");
  }

  /** True if this exact (user, password, hash) verified within the TTL. */
  has(user: string, password: string, phc: string): boolean {
    if (this.ttlMs <= 0) return false;
    const id = this.#id(user, password, phc);
    const until = this.#until.get(id);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.#until.delete(id);
      return false;
    }
    this.hits++;
    return true;
  }

  /** Remembers a successful check. */
  add(user: string, password: string, phc: string): void {
    if (this.ttlMs <= 0) return;
    if (this.#until.size >= this.maxEntries) {
      // Oldest first (insertion order): drop the first tenth at once.
      let n = Math.ceil(this.maxEntries / 10);
      for (const id of this.#until.keys()) {
        this.#until.delete(id);
        if (--n === 0) break;
      }
    }
    this.#until.set(this.#id(user, password, phc), this.now() + this.ttlMs);
  }
}
