/**
 * Deno exposes V8's collector only when started with `--v8-flags=--expose-gc`;
 * without it the server skips its collection after a burst of logins.
 */
const gc = (globalThis as { gc?: unknown }).gc;

export const collectGarbage: (() => void) | undefined = typeof gc === "function"
  ? () => (gc as () => void)()
  : undefined;
