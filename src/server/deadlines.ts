/** Told when its deadline has come; it decides whether that still matters. */
export interface Expirable {
  deadlinePassed(): void;
}

/** Items kept before the spent front of the queue is cut off. */
const COMPACT_AT = 1024;

/**
 * Deadlines that all lie the same time after they are set (the login time
 * limit): they come due in the order they were added, so one timer, for the
 * oldest, serves them all. A connection costs an array slot here rather than
 * a timer object (a few hundred bytes on Deno), and an item that no longer
 * cares (logged in, closed) simply ignores `deadlinePassed()`.
 */
export class FifoDeadlines<T extends Expirable> {
  #items: (T | undefined)[] = [];
  #due: number[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ms: number) {}

  add(item: T): void {
    this.#items.push(item);
    this.#due.push(performance.now() + this.ms);
    if (this.#timer === undefined) this.#arm();
  }

  /** Forgets every pending deadline (the server is stopping). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#items = [];
    this.#due = [];
    this.#head = 0;
  }

  #arm(): void {
    const wait = this.#due[this.#head] - performance.now();
    this.#timer = setTimeout(this.#fire, wait > 0 ? Math.ceil(wait) : 0);
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const items = this.#items;
    const due = this.#due;
    let head = this.#head;
    while (head < items.length && due[head] <= now) {
      const item = items[head] as T;
      items[head++] = undefined;
      this.#head = head;
      try {
        item.deadlinePassed();
      } catch (e) {
        console.error(e);
      }
    }
    if (head === items.length) {
      this.#items = [];
      this.#due = [];
      this.#head = 0;
      return;
    }
    if (head >= COMPACT_AT) {
      this.#items = items.slice(head);
      this.#due = due.slice(head);
      this.#head = 0;
    }
    this.#arm();
  };
}
