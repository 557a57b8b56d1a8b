import type { Kv } from "../kv/kv.ts";
import {
  channelKey,
  type ChannelRecord,
  CHANNELS,
  joinedBy,
  joinedKey,
  memberKey,
  membersOf,
} from "./keys.ts";
import { del, type Mutation, set } from "./mutation.ts";

/** Channels homed on this server, their members, and each user's joined channels. */
export class Channels {
  constructor(private readonly kv: Kv) {}

  async get(channel: string): Promise<ChannelRecord | null> {
    return (await this.kv.get<ChannelRecord>(channelKey(channel))).value;
  }

  /** Creates a channel (operator command); false if it exists. */
  async create(channel: string, creator: string | null, now = Date.now()): Promise<boolean> {
    const record: ChannelRecord = { created: now, creator };
    const res = await this.kv.atomic().check({ key: channelKey(channel), versionstamp: null })
      .set(channelKey(channel), { ...record }).commit();
    return res.ok;
  }

  createMutation(channel: string, creator: string | null, now = Date.now()): Mutation {
    const record: ChannelRecord = { created: now, creator };
    return set(channelKey(channel), { ...record });
  }

  /** Deletes a channel and its memberships (history stays, as with users). */
  async delete(channel: string): Promise<boolean> {
    if ((await this.kv.get(channelKey(channel))).versionstamp === null) return false;
    const atomic = this.kv.atomic().delete(channelKey(channel));
    for await (const e of this.kv.list({ prefix: membersOf(channel) })) {
      const user = e.key[2] as string;
      atomic.delete(e.key).delete(joinedKey(user, channel));
    }
    return (await atomic.commit()).ok;
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for await (const e of this.kv.list({ prefix: CHANNELS })) out.push(e.key[1] as string);
    return out;
  }

  async members(channel: string): Promise<string[]> {
    const out: string[] = [];
    for await (const e of this.kv.list({ prefix: membersOf(channel) })) {
      out.push(e.key[2] as string);
    }
    return out;
  }

  async isMember(channel: string, user: string): Promise<boolean> {
    return (await this.kv.get(memberKey(channel, user))).versionstamp !== null;
  }

  joinMutations(channel: string, user: string, now = Date.now()): Mutation[] {
    return [set(memberKey(channel, user), now), set(joinedKey(user, channel), now)];
  }

  leaveMutations(channel: string, user: string): Mutation[] {
    return [del(memberKey(channel, user)), del(joinedKey(user, channel))];
  }

  async joined(user: string): Promise<string[]> {
    const out: string[] = [];
    for await (const e of this.kv.list({ prefix: joinedBy(user) })) out.push(e.key[2] as string);
    return out;
  }
}
