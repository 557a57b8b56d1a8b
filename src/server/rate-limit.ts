/**
 * Per-connection request rate limit: a token bucket refilled at `rate`
 * tokens per second up to `burst`. A request without a token is refused
 * (Error 0x82, the connection stays open); a connection that keeps sending
 * refused requests (more than `burst` refusals within 10 s) is cut off.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #refused = 0;
  #refusedSince = 0;

  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** "ok", "refuse" (answer 0x82) or "abuse" (close the connection). */
  take(now: number): "ok" | "refuse" | "abuse" {
    const elapsed = (now - this.#last) / 1000;
    this.#last = now;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.rate);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return "ok";
    }
    if (now - this.#refusedSince > 10_000) {
      this.#refusedSince = now;
      this.#refused = 0;
    }
    return ++this.#refused > this.burst ? "abuse" : "refuse";
  }
}

/** Counts open connections per remote IP for the per-IP limit. */
export class ConnectionCounter {
  readonly #byIp = new Map<string, number>();
  total = 0;

  constructor(private readonly max: number, private readonly maxPerIp: number) {}

  /** Registers a connection; false (and nothing registered) if a limit is reached. */
  tryAdd(ip: string): boolean {
    const n = this.#byIp.get(ip) ?? 0;
    if ((this.max > 0 && this.total >= this.max) || (this.maxPerIp > 0 && n >= this.maxPerIp)) {
      return false;
    }
    this.#byIp.set(ip, n + 1);
    this.total++;
    return true;
  }

  remove(ip: string): void {
    const n = this.#byIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.#byIp.delete(ip);
    else this.#byIp.set(ip, n - 1);
    this.total--;
  }
}
