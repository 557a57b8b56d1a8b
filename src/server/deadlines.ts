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
 * a timer object (a few hundred bytes on Deno).
 *
 * An item that no longer needs its deadline (logged in, closed) is let go at
 * once with `cancel()`: a queue that kept it until the deadline would keep
 * every connection of a storm of short ones alive for the whole time limit
 * (at 5,000 connections a second and 10 s, 50,000 sessions with their
 * sockets and buffers, and V8 sizes its heap to a multiple of that).
 */
export class FifoDeadlines<T extends Expirable> {
  #items: (T | undefined)[] = [];
  #due: number[] = [];
  #head = 0;
  /** The ticket of `#items[0]`: tickets count every item ever added. */
  #base = 0;
  /** Items neither told nor cancelled. */
  #waiting = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ms: number) {}

  /** Sets `item`'s deadline; returns the ticket that `cancel()` takes. */
  add(item: T): number {
    const ticket = this.#base + this.#items.length;
    this.#items.push(item);
    this.#due.push(performance.now() + this.ms);
    this.#waiting++;
    if (this.#timer === undefined) this.#arm();
    return ticket;
  }

  /** Forgets the item of `ticket`: it is not told, nor kept until its deadline. */
  cancel(ticket: number): void {
    const i = ticket - this.#base;
    if (i < this.#head || i >= this.#items.length || this.#items[i] === undefined) return;
    // Only the slot: the timer runs on (it finds nothing when it fires, and stops), so a
    // storm of short connections costs no timer object per connection.
    this.#items[i] = undefined;
    this.#waiting--;
  }

  /** Items waiting for their deadline: neither told nor cancelled. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Forgets every pending deadline (the server is stopping, or all were cancelled). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#base += this.#items.length;
    this.#items = [];
    this.#due = [];
    this.#head = 0;
    this.#waiting = 0;
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
      const item = items[head];
      items[head++] = undefined;
      this.#head = head;
      if (item === undefined) continue; // cancelled
      this.#waiting--;
      try {
        item.deadlinePassed();
      } catch (e) {
        console.error(e);
      }
      if (this.#items !== items) return; // cleared while telling the item
    }
    if (this.#waiting === 0) return this.clear(); // the rest (if any) were cancelled
    if (head >= COMPACT_AT) {
      this.#base += head;
      this.#items = items.slice(head);
      this.#due = due.slice(head);
      this.#head = 0;
    }
    this.#arm();
  };
}
