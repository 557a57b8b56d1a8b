/**
 * Assertions shared by the tests that drive a server through SolecClient.
 */
import assert from "node:assert/strict";
import type { Message } from "../../src/protocol/mod.ts";
import { type SolecClient, SolecError } from "../../src/client/client.ts";

/** The next pushed message, or throws after `ms`. */
export async function next(c: SolecClient, ms = 5000): Promise<Message> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const r = await Promise.race([
      c.messages().next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message for ${c.address} in time`)), ms);
      }),
    ]);
    if (r.done) throw new Error("session ended");
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** The request fails with a SolecError carrying `code`. */
export async function rejectsWith(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SolecError && e.code === code);
}
