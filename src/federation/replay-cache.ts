/**
 * Remembers accepted ServerAuth (name, ts, signature) triples for the length
 * of the timestamp window, so a captured ServerAuth cannot be replayed.
 * Entries older than the window are useless to an attacker (the timestamp
 * check refuses them), so they are dropped; the size is bounded as well.
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();

  constructor(private readonly windowMs: number, private readonly maxEntries = 100_000) {}

  /** True if new (and records it); false if seen before. */
  remember(name: string, ts: number, signature: Uint8Array, now: number): boolean {
    this.#sweep(now);
    const id = `${name}\u0000${ts}\u0000${Array.from(signature, (b) => b.toString(16)).join(",")}`;
    if (this.#seen.has(id)) return false;
    if (this.#seen.size >= this.maxEntries) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.set(id, now);
    return true;
  }

  #sweep(now: number): void {
    for (const [id, at] of this.#seen) {
      if (now - at <= 2 * this.windowMs) break; // insertion order = time order
      this.#seen.delete(id);
    }
  }
}
