/**
 * One full garbage collection after a burst of logins, once the server is idle.
 *
 * A login allocates far more than the session it leaves behind (the password
 * check, the handshake and inbox frames, their promises), and JavaScriptCore does
 * not collect a heap that stops growing: after a reconnect storm that garbage
 * stays resident until traffic resumes. Measured on Bun with the memory store,
 * 5,000 connections logged in and held: 3.8-4.3 KB per connection without, 3.5 KB
 * with a full collection during the hold. On a small host the memory matters more
 * than one collection's pause, taken once per burst when neither logins nor much
 * other input arrive: while traffic flows the runtime collects on its own, and a
 * forced full collection then only costs (V8 ran a 50-pair benchmark ~15 % slower
 * after one).
 *
 * The runtime adapter supplies the collector (`Platform.collectGarbage`; Bun's also
 * shrinks the footprint, see src/adapters/bun/gc.ts); without one the server does
 * nothing of the kind.
 */
export class BurstCollector {
  /** Logins since the last collection. */
  #logins = 0;
  #lastLogin = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** `activity()` when the timer was last armed. */
  #activityMark = 0;
  #stopped = false;
  /** Collections run, for tests and logs. */
  collections = 0;

  constructor(
    private readonly collect: () => void,
    /** A count that grows with the server's input (bytes received). */
    private readonly activity: () => number,
    /** No login for this long ends a burst. */
    private readonly quietMs = 2000,
    /** Logins that make a burst (fewer leave little garbage). */
    private readonly minLogins = 100,
    /** At most this much `activity` per `quietMs` counts as idle. */
    private readonly idleActivity = 64 * 1024,
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
    if (this.#stopped) return;
    this.#activityMark = this.activity();
    this.#timer = setTimeout(this.#fire, ms);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    // One timer per burst, not one per login: it comes back until logins stop
    // and the server's input has gone quiet.
    const quiet = performance.now() - this.#lastLogin;
    if (quiet < this.quietMs) return this.#arm(Math.ceil(this.quietMs - quiet));
    if (this.activity() - this.#activityMark > this.idleActivity) return this.#arm(this.quietMs);
    this.#logins = 0;
    this.collections++;
    this.collect();
  };
}
