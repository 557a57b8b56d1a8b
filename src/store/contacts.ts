import type { Kv } from "../kv/kv.ts";
import { contactKey, contactsOf } from "./keys.ts";
import { del, type Mutation, set } from "./mutation.ts";

/** Contact lists: `owner` has `other` in contacts. Direct messages need both directions. */
export class Contacts {
  constructor(private readonly kv: Kv) {}

  addMutation(owner: string, other: string, now = Date.now()): Mutation {
    return set(contactKey(owner, other), now);
  }

  /**
   * Mutations making each pair mutual contacts, as `contact add` does: each
   * user of a pair for whom `isLocal` holds gets the other (batch imports).
   */
  mutualMutations(
    pairs: readonly (readonly [string, string])[],
    isLocal: (user: string) => boolean,
    now = Date.now(),
  ): Mutation[] {
    const out: Mutation[] = [];
    for (const [a, b] of pairs) {
      if (isLocal(a)) out.push(this.addMutation(a, b, now));
      if (isLocal(b)) out.push(this.addMutation(b, a, now));
    }
    return out;
  }

  removeMutation(owner: string, other: string): Mutation {
    return del(contactKey(owner, other));
  }

  async has(owner: string, other: string): Promise<boolean> {
    return (await this.kv.get(contactKey(owner, other))).versionstamp !== null;
  }

  async list(owner: string): Promise<string[]> {
    const out: string[] = [];
    for await (const e of this.kv.list({ prefix: contactsOf(owner) })) out.push(e.key[2] as string);
    return out;
  }
}
