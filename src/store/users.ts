import type { Kv } from "../kv/kv.ts";
import {
  channelKey,
  contactKey,
  contactsOf,
  inboxOf,
  joinedBy,
  joinedKey,
  memberKey,
  userKey,
  type UserRecord,
  USERS,
} from "./keys.ts";

/** Local user accounts. */
export class Users {
  constructor(private readonly kv: Kv) {}

  async get(user: string): Promise<UserRecord | null> {
    return (await this.kv.get<UserRecord>(userKey(user))).value;
  }

  async exists(user: string): Promise<boolean> {
    return (await this.kv.get(userKey(user))).versionstamp !== null;
  }

  /** Creates the account; false if it already exists. */
  async add(user: string, phc: string, now = Date.now()): Promise<boolean> {
    const record: UserRecord = { phc, created: now };
    const res = await this.kv.atomic().check({ key: userKey(user), versionstamp: null })
      .set(userKey(user), { ...record }).commit();
    return res.ok;
  }

  /** Which of `users` exist, read from one snapshot (batch imports). */
  async existing(users: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    if (users.length === 0) return found;
    const entries = await this.kv.getMany(users.map(userKey));
    entries.forEach((e, i) => {
      if (e.versionstamp !== null) found.add(users[i]);
    });
    return found;
  }

  /**
   * Creates all the accounts in one transaction (batch imports): each must
   * not exist yet; false, with nothing written, if any does.
   */
  async addMany(
    accounts: readonly { readonly user: string; readonly phc: string }[],
    now = Date.now(),
  ): Promise<boolean> {
    if (accounts.length === 0) return true;
    const atomic = this.kv.atomic();
    for (const { user, phc } of accounts) {
      const record: UserRecord = { phc, created: now };
      atomic.check({ key: userKey(user), versionstamp: null }).set(userKey(user), { ...record });
    }
    return (await atomic.commit()).ok;
  }

  /** Replaces the password hash; false if there is no such user. */
  async setPassword(user: string, phc: string): Promise<boolean> {
    const cur = await this.kv.get<UserRecord>(userKey(user));
    if (cur.value === null) return false;
    const res = await this.kv.atomic().check({ key: userKey(user), versionstamp: cur.versionstamp })
      .set(userKey(user), { ...cur.value, phc }).commit();
    return res.ok;
  }

  /**
   * Deletes the account with its contacts, channel memberships and inbox.
   * Conversation history stays: it is also the other participants' history.
   * Contacts other users have of this one stay too (they point at an address
   * that may come back). False if there was no such user.
   */
  async delete(user: string): Promise<boolean> {
    // Retried when the account or a channel record changed between reading and committing.
    for (let attempt = 0; attempt < 5; attempt++) {
      const account = await this.kv.get(userKey(user));
      if (account.versionstamp === null) return false;
      const atomic = this.kv.atomic().check(account).delete(userKey(user));
      for await (const e of this.kv.list({ prefix: contactsOf(user) })) atomic.delete(e.key);
      for await (const e of this.kv.list({ prefix: inboxOf(user) })) atomic.delete(e.key);
      const channels: string[] = [];
      for await (const e of this.kv.list({ prefix: joinedBy(user) })) {
        const channel = e.key[2] as string;
        channels.push(channel);
        atomic.delete(e.key).delete(memberKey(channel, user));
      }
      // A running server keeps a channel's members cached until the channel's record
      // changes (it looks every few seconds): writing the record again, unchanged, makes it
      // drop this user too. Checked, so a channel deleted meanwhile is not revived; remote
      // channels have no record here.
      for (const record of await this.kv.getMany(channels.map(channelKey))) {
        if (record.versionstamp !== null) atomic.check(record).set(record.key, record.value);
      }
      if ((await atomic.commit()).ok) return true;
    }
    throw new Error(`user ${user} kept changing while being deleted; try again`);
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for await (const e of this.kv.list({ prefix: USERS })) out.push(e.key[1] as string);
    return out;
  }
}

// Re-exported for the CLI's channel commands, which clean memberships the same way.
export { channelKey, contactKey, joinedKey };
