import type { Kv } from "../kv/kv.ts";
import { Channels } from "./channels.ts";
import { Contacts } from "./contacts.ts";
import { History, historyFrames } from "./history.ts";
import { Inbox } from "./inbox.ts";
import { Users } from "./users.ts";

export * from "./keys.ts";
export * from "./mutation.ts";
export { Channels, Contacts, History, historyFrames, Inbox, Users };
export { HistoryPacker } from "./history-packer.ts";
export { SequenceAllocator } from "./sequence.ts";

/** All repositories over one store. Nothing above this knows which backend runs. */
export class Store {
  readonly users: Users;
  readonly contacts: Contacts;
  readonly channels: Channels;
  readonly history: History;
  readonly inbox: Inbox;

  constructor(readonly kv: Kv) {
    this.users = new Users(kv);
    this.contacts = new Contacts(kv);
    this.channels = new Channels(kv);
    this.history = new History(kv);
    this.inbox = new Inbox(kv);
  }
}
