/**
 * `performance.now()`, read once per synchronous run of code: every caller
 * until the next microtask checkpoint gets the same value. On Deno each
 * `performance.now()` is a call into the runtime (5 % of the server's time
 * in a pairs profile, at two calls per message); request timings and rate
 * limits need no finer grain than one batch of work.
 */
let cached = -1;

function expire(): void {
  cached = -1;
}

export function batchNow(): number {
  if (cached < 0) {
    cached = performance.now();
    queueMicrotask(expire);
  }
  return cached;
}
