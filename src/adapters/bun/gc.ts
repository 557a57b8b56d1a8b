/** Bun's collector, for the server's collection after a burst of logins (`BurstCollector`). */
import process from "node:process";
import { setTimeout } from "node:timers";

interface BunMemory {
  gc(force: boolean): void;
  /**
   * JavaScriptCore's `shrinkFootprintWhenIdle`: once no script runs, another full
   * collection, compiled code dropped (recompiled when next used) and free memory given
   * back. Deprecated in Bun's typings, so only used where present.
   */
  shrink?(): void;
}
declare const Bun: BunMemory;

/** mimalloc's own default for `purge_holes_min_interval`, in ms. */
const MIMALLOC_PURGE_INTERVAL_MS = 100;

/**
 * A full collection, then the footprint shrunk. The collection alone kept the memory the
 * burst's garbage had used: 5,000 connections held after their logins measured 3.97-4.05
 * KB each on Bun + SQLite with it, 3.43-3.59 KB with the shrink (alternating runs). The
 * price is recompiling the hot paths when traffic resumes, once per burst.
 */
export function collectWith(bun: BunMemory): void {
  bun.gc(true);
  if (typeof bun.shrink === "function") bun.shrink();
}

/**
 * When to wake the event loop after a collection so that Bun's allocator returns what it
 * freed. mimalloc gives free pages back from its scavenger thread, at most once per
 * `MIMALLOC_PURGE_HOLES_MIN_INTERVAL` ms (1,000 in `bun run serve`, see README
 * "Commands"), and only when the event loop goes to sleep: an idle server may sleep
 * through the interval after the collection and keep the pages (with a 5 s interval, 2 of
 * 6 runs of 5,000 held connections on Bun + SQLite kept 4.3 KB each instead of 3.5-3.6).
 * One wake-up just past the interval gives the scavenger its turn.
 */
export function purgeWakeDelay(env: Record<string, string | undefined>): number {
  const set = Number(env.MIMALLOC_PURGE_HOLES_MIN_INTERVAL);
  return (Number.isFinite(set) && set > 0 ? set : MIMALLOC_PURGE_INTERVAL_MS) + 100;
}

export const collectGarbage = (): void => {
  collectWith(Bun);
  // Does nothing itself, and does not keep the process alive.
  setTimeout(() => {}, purgeWakeDelay(process.env)).unref();
};
