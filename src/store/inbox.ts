import type { Kv, KvKey } from "../kv/kv.ts";
import { inboxOf } from "./keys.ts";

export interface InboxEntry {
  readonly key: KvKey;
  readonly frame: Uint8Array;
}

/** Offline inbox: direct messages for a user with no connection, oldest first. */
export class Inbox {
  constructor(private readonly kv: Kv) {}

  async take(user: string, limit: number): Promise<InboxEntry[]> {
    const out: InboxEntry[] = [];
    const iter = this.kv.list<Uint8Array>({ prefix: inboxOf(user) }, { limit, batchSize: limit });
    for await (const e of iter) out.push({ key: e.key, frame: e.value });
    return out;
  }
}
