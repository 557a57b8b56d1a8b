/**
 * The store's key layout: the only place that knows key shapes.
 *
 *   ["users", user]                          → UserRecord
 *   ["contacts", owner, other]               → joined-at ms (owner has other in contacts)
 *   ["channels", channel]                    → ChannelRecord
 *   ["members", channel, user]               → joined-at ms (home server's member list)
 *   ["joined", user, channel]                → joined-at ms (reverse index, for List)
 *   ["rmembers", channel, user]              → joined-at ms (local members of a remote channel)
 *   ["outbox", peer, seq]                    → OutboxEntry (durable queue to a peer server)
 *   ["peers", domain]                        → PeerRecord (src/federation/peers.ts)
 *   ["history", "channel", channel, ts, seq] → encoded Message frame(s)
 *   ["history", "direct", a, b, ts, seq]     → encoded Message frame(s) (a < b)
 *   ["inbox", user, seq]                     → encoded Message frame
 *   ["meta", "seq"]                          → bigint, high-water mark of reserved sequence numbers
 *
 * Addresses are canonical (`parseAddress(...).full`). History keys end in
 * (timestamp, seq) so a reverse range scan gives "newest first, later arrival
 * first on ties" (spec §6) without sorting. Messages are stored as their
 * encoded frames: replaying history or an inbox sends stored bytes as they are.
 * A history row may hold several messages with its timestamp, back to back in
 * arrival order; `seq` is then the first one's (see `HistoryPacker`).
 */
import type { KvKey } from "../kv/kv.ts";
import { type PackedKey, packKey, packKeyWithNumbers } from "../kv/key-codec.ts";

export const userKey = (user: string): KvKey => ["users", user];
export const USERS: KvKey = ["users"];

export const contactKey = (owner: string, other: string): KvKey => ["contacts", owner, other];
export const contactsOf = (owner: string): KvKey => ["contacts", owner];

export const channelKey = (channel: string): KvKey => ["channels", channel];
export const CHANNELS: KvKey = ["channels"];

export const memberKey = (channel: string, user: string): KvKey => ["members", channel, user];
export const membersOf = (channel: string): KvKey => ["members", channel];
export const joinedKey = (user: string, channel: string): KvKey => ["joined", user, channel];
export const joinedBy = (user: string): KvKey => ["joined", user];
export const remoteMemberKey = (channel: string, user: string): KvKey => [
  "rmembers",
  channel,
  user,
];
export const remoteMembersOf = (channel: string): KvKey => ["rmembers", channel];
export const REMOTE_MEMBERS: KvKey = ["rmembers"];

export const outboxKey = (peer: string, seq: number): KvKey => ["outbox", peer, seq];
export const outboxOf = (peer: string): KvKey => ["outbox", peer];
export const OUTBOX: KvKey = ["outbox"];

export interface OutboxEntry {
  /** The Message frame to send, header included. */
  frame: Uint8Array;
  queuedAt: number;
}

/** The history prefix of a conversation: a channel, or the direct pair (order-free). */
export function conversation(a: string, b?: string): KvKey {
  if (b === undefined) return ["history", "channel", a];
  return a < b ? ["history", "direct", a, b] : ["history", "direct", b, a];
}
/** Names a direct conversation the same way from both sides (see `HistoryPacker`). */
export const conversationId = (a: string, b: string): string => a < b ? `${a} ${b}` : `${b} ${a}`;
export const historyKey = (conv: KvKey, ts: number, seq: number): KvKey => [...conv, ts, seq];
/** A direct conversation's history prefix, encoded once (hot path: see `packedHistoryKey`). */
export const packedConversation = (a: string, b: string): PackedKey => packKey(conversation(a, b));
/** `historyKey` under a packed conversation prefix. */
export const packedHistoryKey = (conv: PackedKey, ts: number, seq: number): PackedKey =>
  packKeyWithNumbers(conv, ts, seq);

export const inboxKey = (user: string, seq: number): KvKey => ["inbox", user, seq];
export const inboxOf = (user: string): KvKey => ["inbox", user];

export const SEQ_KEY: KvKey = ["meta", "seq"];

export interface UserRecord {
  /** scrypt PHC string (src/server/password.ts). */
  phc: string;
  created: number;
}

export interface ChannelRecord {
  created: number;
  /** The user whose join created it, or null when the operator did. */
  creator: string | null;
}
