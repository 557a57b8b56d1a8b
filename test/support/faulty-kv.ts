/**
 * A Kv wrapper whose every operation fails while `failing` is set, like a
 * store on a full disk or a locked database: for tests of how the server
 * behaves when its store breaks and comes back. With `durableAfter` set,
 * commits are written (and say so through `onApplied`) at once but resolve
 * only once that promise does: a disk whose fsyncs are slow. With `listDelayMs`,
 * range reads take their time; with `getManyDelayMs`, a `getMany` answers that
 * long after it read (what it returns may be out of date by then).
 */
import type {
  AtomicCheck,
  AtomicCommitOptions,
  AtomicOperation,
  Kv,
  KvCommitError,
  KvCommitResult,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvListIterator,
  KvListOptions,
  KvListSelector,
  KvValue,
} from "../../src/kv/kv.ts";

export class FaultyKv implements Kv {
  failing = false;
  failures = 0;
  durableAfter: Promise<void> | null = null;
  /** Each step of a `list` waits this long first: a slow disk for range reads. */
  listDelayMs = 0;
  /** Each `getMany` answers this long after reading. */
  getManyDelayMs = 0;

  constructor(private readonly inner: Kv) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  #check(): void {
    if (this.failing) {
      this.failures++;
      throw new Error("database or disk is full (simulated)");
    }
  }

  /** The failure check as a plain function, for the wrapped iterators and builders. */
  #checker = (): void => this.#check();

  async get<T = KvValue>(key: KvKey): Promise<KvEntryMaybe<T>> {
    this.#check();
    return await this.inner.get<T>(key);
  }

  async getMany<T = KvValue>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]> {
    this.#check();
    const entries = await this.inner.getMany<T>(keys);
    if (this.getManyDelayMs > 0) await new Promise((r) => setTimeout(r, this.getManyDelayMs));
    return entries;
  }

  async set(key: KvKey, value: KvValue): Promise<KvCommitResult> {
    this.#check();
    return await this.inner.set(key, value);
  }

  async delete(key: KvKey): Promise<void> {
    this.#check();
    await this.inner.delete(key);
  }

  list<T = KvValue>(selector: KvListSelector, options?: KvListOptions): KvListIterator<T> {
    const inner = this.inner.list<T>(selector, options);
    const check = this.#checker;
    const delay = this.listDelayMs;
    const it: KvListIterator<T> = {
      get cursor() {
        return inner.cursor;
      },
      next(): Promise<IteratorResult<KvEntry<T>>> {
        try {
          check();
        } catch (e) {
          return Promise.reject(e);
        }
        if (delay === 0) return inner.next();
        return new Promise((r) => setTimeout(r, delay)).then(() => inner.next());
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  atomic(): AtomicOperation {
    const inner = this.inner.atomic();
    const check = this.#checker;
    const durableAfter = () => this.durableAfter;
    const op: AtomicOperation = {
      check(...checks: AtomicCheck[]) {
        inner.check(...checks);
        return op;
      },
      set(key: KvKey, value: KvValue) {
        inner.set(key, value);
        return op;
      },
      delete(key: KvKey) {
        inner.delete(key);
        return op;
      },
      sum(key: KvKey, n: bigint) {
        inner.sum(key, n);
        return op;
      },
      async commit(options?: AtomicCommitOptions): Promise<KvCommitResult | KvCommitError> {
        check();
        const gate = durableAfter();
        if (gate === null) return await inner.commit(options);
        const result = await inner.commit();
        if (result.ok) options?.onApplied?.(result, false);
        await gate;
        return result;
      },
    };
    return op;
  }

  async ping(): Promise<void> {
    this.#check();
    await this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
