/**
 * Reads what a (stopped) server's store holds, to check acknowledgements
 * against it: every acknowledged message stored exactly once.
 */
import type { KvKey } from "../../src/kv/kv.ts";
import { decodeFrame, PayloadType } from "../../src/protocol/mod.ts";
import { conversation, historyFrames, inboxOf, OUTBOX } from "../../src/store/mod.ts";
import { withStore } from "./server-process.ts";

/** Contents under a key prefix (stored Message frames), counted. */
export function contentsUnder(dir: string, prefix: KvKey): Promise<Map<string, number>> {
  return withStore(dir, async (s) => {
    const out = new Map<string, number>();
    for await (const e of s.kv.list<Uint8Array>({ prefix })) {
      const v = e.value instanceof Uint8Array ? e.value : (e.value as { frame: Uint8Array }).frame;
      // A history row may hold several frames; other values hold one.
      for (const frame of historyFrames(v)) {
        const p = decodeFrame(frame);
        if (p.type !== PayloadType.Message) continue;
        const content = p.content.trimEnd(); // padded load (test/support/load.ts)
        out.set(content, (out.get(content) ?? 0) + 1);
      }
    }
    return out;
  });
}

export function historyOf(dir: string, a: string, b?: string): Promise<Map<string, number>> {
  return contentsUnder(dir, conversation(a, b));
}

export function inboxContents(dir: string, user: string): Promise<Map<string, number>> {
  return contentsUnder(dir, inboxOf(user));
}

export function outboxSize(dir: string): Promise<number> {
  return withStore(dir, async (s) => {
    let n = 0;
    for await (const _ of s.kv.list({ prefix: OUTBOX })) n++;
    return n;
  });
}

export interface AckCheck {
  /** Acknowledged and not stored. Must be 0. */
  readonly lost: number;
  /** Acknowledged and stored more than once. Must be 0. */
  readonly duplicated: number;
  /** Stored but never acknowledged (in flight at a crash, or refused after storing: must not be refused). */
  readonly unacked: number;
  readonly stored: number;
  readonly examples: string[];
}

/** Compares acknowledged contents with stored ones (stored contents may be a superset). */
export function checkAcked(
  acked: Iterable<string>,
  stored: Map<string, number>,
): AckCheck {
  let lost = 0, duplicated = 0;
  const examples: string[] = [];
  const ackedSet = new Set<string>();
  for (const c of acked) {
    ackedSet.add(c);
    const n = stored.get(c) ?? 0;
    if (n === 0) {
      lost++;
      if (examples.length < 5) examples.push(`lost ${c}`);
    } else if (n > 1) {
      duplicated++;
      if (examples.length < 5) examples.push(`${n}x ${c}`);
    }
  }
  let unacked = 0, total = 0;
  for (const [c, n] of stored) {
    total += n;
    if (!ackedSet.has(c)) {
      unacked++;
      if (n > 1) {
        duplicated++;
        if (examples.length < 5) examples.push(`${n}x (unacked) ${c}`);
      }
    }
  }
  return { lost, duplicated, unacked, stored: total, examples };
}
