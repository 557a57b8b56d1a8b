/**
 * One full garbage collection after a burst of logins, once logins stop.
 *
 * A login allocates far more than the session it leaves behind (the password
 * check, the handshake and inbox frames, their promises), and JavaScriptCore does
 * not collect a heap that stops growing: after a reconnect storm that garbage
 * stays resident until traffic resumes. Measured on Bun with the memory store,
 * 5,000 connections logged in and held: 3.8-4.3 KB per connection without, 3.5 KB
 * with a full collection during the hold. On a small host the memory matters more
 * than one collection's pause, taken once per burst while no login is arriving.
 *
 * The runtime adapter supplies the collector (`Platform.collectGarbage`); without
 * one the server does nothing of the kind.
 */
export class BurstCollector {
  /** Logins since the last collection. */
  #logins = 0;
  #lastLogin = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Collections run, for tests and logs. */
  collections = 0;

  constructor(
    private readonly collect: () => void,
    /** No login for this long ends a burst. */
    private readonly quietMs = 2000,
    /** Logins that make a burst (fewer leave little garbage). */
    private readonly minLogins = 100,
  ) {}

  /** A client logged in. */
  loginSeen(): void {
    this.#logins++;
    this.#lastLogin = performance.now();
    if (this.#timer === undefined && this.#logins >= this.minLogins) this.#arm(this.quietMs);
  }

  /** No more collections (the server is stopping). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (!this.#stopped) this.#timer = setTimeout(this.#fire, ms);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    // One timer per burst, not one per login: it comes back until logins stop.
    const quiet = performance.now() - this.#lastLogin;
    if (quiet < this.quietMs) return this.#arm(Math.ceil(this.quietMs - quiet));
    this.#logins = 0;
    this.collections++;
    this.collect();
  };
}
