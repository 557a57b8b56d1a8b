/** A logged-in client connection as the router sees it. */
export interface Deliverable {
  readonly address: string;
  /** A frame the server sends on its own (held while a reply sequence is open). */
  push(frame: Uint8Array): void;
  /** A frame that is part of the inbox sequence at login (sent at once). */
  readonly loggingIn: boolean;
  write(frame: Uint8Array): void;
  /** Resolves once everything written or pushed so far was handed to the socket (or it closed). */
  flushed(): Promise<void>;
}

/** Who is connected: user address → their logged-in connections. */
export class Registry<S extends Deliverable = Deliverable> {
  readonly #byUser = new Map<string, Set<S>>();
  #count = 0;

  add(s: S): void {
    let set = this.#byUser.get(s.address);
    if (!set) this.#byUser.set(s.address, set = new Set());
    if (!set.has(s)) {
      set.add(s);
      this.#count++;
    }
  }

  remove(s: S): void {
    const set = this.#byUser.get(s.address);
    if (!set?.delete(s)) return;
    this.#count--;
    if (set.size === 0) this.#byUser.delete(s.address);
  }

  sessions(user: string): ReadonlySet<S> | undefined {
    return this.#byUser.get(user);
  }

  isOnline(user: string): boolean {
    return this.#byUser.has(user);
  }

  /** Logged-in connections in total. */
  get size(): number {
    return this.#count;
  }

  all(): IterableIterator<S> {
    const sets = this.#byUser.values();
    return (function* () {
      for (const s of sets) yield* s;
    })();
  }
}
