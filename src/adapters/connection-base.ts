import type { Connection, NetAddr, ReadSink, SendCallback } from "../platform.ts";
import { ChunkQueue } from "./chunk-queue.ts";

export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
  constructor() {
    super("connection closed");
  }
}

/** A write waiting for the one in progress. */
export interface PendingWrite {
  readonly data: Uint8Array;
  readonly done: SendCallback;
}

/** The write queue of a connection with nothing waiting: shared, never written to. */
export const NO_WRITES: PendingWrite[] = [];

/**
 * What both adapters' connections share on top of their push-mode `read()` and
 * `sendWith()`: iteration (`ChunkQueue`), `send()` as a promise, and the `closed`
 * promise, made only when someone asks for it (the server never does: one promise
 * less per connection). Runtime-neutral, like AcceptQueue.
 */
export abstract class PushConnection implements Connection {
  /** Made on the first iteration (see `ChunkQueue`). */
  #queue: ChunkQueue | null = null;
  #closedWaiter: PromiseWithResolvers<void> | null = null;
  #fullyClosed = false;

  constructor(readonly remoteAddr: NetAddr, readonly localAddr: NetAddr) {}

  abstract read(sink: ReadSink): void;
  abstract pause(): void;
  abstract resume(): void;
  abstract sendWith(data: Uint8Array, done: SendCallback): void;
  abstract close(): void;

  get closed(): Promise<void> {
    if (this.#fullyClosed) return Promise.resolve();
    return (this.#closedWaiter ??= Promise.withResolvers<void>()).promise;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array, undefined> {
    return (this.#queue ??= new ChunkQueue(this)).iterator();
  }

  send(data: Uint8Array): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.sendWith(data, { sent: resolve, sendFailed: () => reject(new ConnectionClosedError()) });
    return promise;
  }

  /** The socket is fully closed: `closed` resolves. */
  protected markClosed(): void {
    this.#fullyClosed = true;
    this.#closedWaiter?.resolve();
  }

  /** Our own `close()`: data an iterator has not pulled yet is dropped. */
  protected dropUnread(): void {
    this.#queue?.discard();
  }
}
