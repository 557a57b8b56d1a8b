/**
 * Where small byte arrays (encoded frames, store keys and values) get their
 * memory.
 *
 * Allocating a fresh small ArrayBuffer costs ~100 ns on Bun but 0.5-1.5 µs on
 * Deno (V8's backing-store allocation path), which would dominate encoding a
 * 60-byte frame or key. So small arrays can be carved out of a shared 64 KiB slab,
 * as Node's Buffer pool does: a view costs ~50 ns on either runtime. The
 * runtime adapter chooses (the core never detects runtimes itself); the
 * default is plain allocation.
 *
 * Trade-off: an array carved from a slab keeps the whole slab alive while it
 * is referenced, so code that retains frames long-term should copy them.
 */

const SLAB_SIZE = 64 * 1024;
/** Arrays above this size always get their own buffer. */
const SLAB_MAX = 1024;

let useSlab = false;
let slab = new ArrayBuffer(0);
let slabOffset = 0;

/** Turns slab allocation of small arrays on or off (called by runtime adapters). */
export function setSlabAllocation(enabled: boolean): void {
  useSlab = enabled;
}

/** Ranges up to this size are copied when range copies are on. */
const COPY_MAX = 1024;

let copyRanges = false;

/**
 * Turns copying of small ranges (`byteRange`) on or off (called by runtime adapters);
 * returns the previous setting.
 *
 * On Bun a socket read arrives as a typed array whose bytes live in the collected heap.
 * The first view into it moves them to an ArrayBuffer of their own, and the next young
 * collection frees each such buffer inside its pause: with one view per message, those
 * pauses took 1.0-1.2 ms at 5,000 msg/s, against 0.6 ms with a copy of each frame's payload
 * (a copy is an ordinary young object). On V8 a view is the cheap one (see above).
 */
export function setRangeCopies(enabled: boolean): boolean {
  const was = copyRanges;
  copyRanges = enabled;
  return was;
}

/** `bytes[start, end)`: a view into `bytes`, or a copy of a small range where range copies are on. */
export function byteRange(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return copyRanges && end - start <= COPY_MAX
    ? bytes.slice(start, end)
    : bytes.subarray(start, end);
}

/** A zero-filled Uint8Array of `size` bytes. */
export function allocBytes(size: number): Uint8Array {
  if (!useSlab || size > SLAB_MAX) return new Uint8Array(size);
  if (slabOffset + size > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabOffset = 0;
  }
  const out = new Uint8Array(slab, slabOffset, size);
  // Keep the next array 8-byte aligned; cheap, and helps any DataView user.
  slabOffset += (size + 7) & ~7;
  return out;
}
