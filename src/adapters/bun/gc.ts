/** Bun's garbage collector, for the server's collection after a burst of logins. */
declare const Bun: { gc(force: boolean): void };

/** A full, synchronous collection. */
export const collectGarbage = (): void => Bun.gc(true);
