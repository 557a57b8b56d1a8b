import { type Connection, READ_HIGH_WATER, type ReadSink } from "../platform.ts";

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

type ReadResult = IteratorResult<Uint8Array, undefined>;

/**
 * Iteration over a connection, built on its push-mode `read()`: chunks wait
 * here until pulled, and the connection is paused while more than READ_HIGH_WATER
 * bytes wait. Both adapters share it (runtime-neutral, like AcceptQueue).
 * One per connection: iterators made one after another share it, so leaving
 * a `for await` loop early loses nothing.
 */
export class ChunkQueue implements ReadSink {
  readonly #conn: Connection;
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #paused = false;
  #ended = false;
  readonly #readers: ((result: ReadResult) => void)[] = [];

  constructor(conn: Connection) {
    this.#conn = conn;
    conn.read(this);
  }

  iterator(): AsyncIterator<Uint8Array, undefined> {
    return {
      next: () => this.#next(),
      // Leaving a for-await loop early does not close the connection.
      return: () => Promise.resolve(DONE),
    };
  }

  data(chunk: Uint8Array): void {
    const reader = this.#readers.shift();
    if (reader) return reader({ done: false, value: chunk });
    this.#chunks.push(chunk);
    this.#bytes += chunk.byteLength;
    if (!this.#paused && this.#bytes >= READ_HIGH_WATER) {
      this.#paused = true;
      this.#conn.pause();
    }
  }

  end(): void {
    this.#ended = true;
    for (const reader of this.#readers.splice(0)) reader(DONE);
  }

  /** Our own `close()`: data not yet pulled is dropped, iteration ends. */
  discard(): void {
    this.#chunks.length = 0;
    this.#bytes = 0;
    this.end();
  }

  #next(): Promise<ReadResult> {
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#bytes -= chunk.byteLength;
      if (this.#paused && this.#bytes < READ_HIGH_WATER) {
        this.#paused = false;
        this.#conn.resume();
      }
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise((resolve) => this.#readers.push(resolve));
  }
}
