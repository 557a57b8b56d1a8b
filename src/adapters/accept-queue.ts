import type { Connection } from "../platform.ts";

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The accepted-connection queue both listener adapters share: connections
 * are handed to waiting iterators in accept order, or kept until one asks;
 * after `close()` iteration ends and connections not handed out are closed
 * (nobody could receive them). Runtime-neutral, so it lives beside the
 * adapters rather than in either.
 */
export class AcceptQueue<C extends Connection> {
  readonly #ready: C[] = [];
  readonly #waiters: ((result: IteratorResult<Connection, undefined>) => void)[] = [];
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** A newly accepted connection; closed at once if the queue is closed. */
  offer(conn: C): void {
    if (this.#closed) return conn.close();
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ done: false, value: conn });
    else this.#ready.push(conn);
  }

  iterator(): AsyncIterator<Connection, undefined> {
    return {
      next: () => {
        const conn = this.#ready.shift();
        if (conn !== undefined) return Promise.resolve({ done: false, value: conn });
        if (this.#closed) return Promise.resolve(DONE);
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => Promise.resolve(DONE),
    };
  }

  /** Ends iteration and closes the connections nobody took. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of this.#ready.splice(0)) conn.close();
    for (const waiter of this.#waiters.splice(0)) waiter(DONE);
  }
}
