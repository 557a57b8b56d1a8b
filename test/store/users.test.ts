/**
 * Deleting a user (`solec user del`): memberships go, and the channels' records are written
 * again so that a running server, which caches members until a record changes, drops them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AtomicOperation, Kv } from "../../src/kv/kv.ts";
import { MemoryKv } from "../../src/kv/memory.ts";
import { FaultyKv } from "../support/faulty-kv.ts";
import { apply, channelKey, contactKey, contactsOf, joinedBy, Store } from "../../src/store/mod.ts";

const CLUB = "#club@a.test";
const ALICE = "alice@a.test";
const BOB = "bob@a.test";

async function clubWithAliceAndBob(kv: Kv): Promise<Store> {
  const store = new Store(kv);
  assert.ok(await store.users.add(ALICE, "$phc"));
  assert.ok(await store.users.add(BOB, "$phc"));
  assert.ok(await store.channels.create(CLUB, ALICE, 1000));
  const atomic = kv.atomic();
  apply(atomic, store.channels.joinMutations(CLUB, ALICE));
  apply(atomic, store.channels.joinMutations(CLUB, BOB));
  assert.ok((await atomic.commit()).ok);
  return store;
}

/** `kv`, except that just before the first commit made through it, `race` runs. */
class RacingKv extends FaultyKv {
  #raced = false;
  constructor(inner: Kv, private readonly race: () => Promise<void>) {
    super(inner);
  }
  override atomic(): AtomicOperation {
    const op = super.atomic();
    const commit = op.commit.bind(op);
    op.commit = async (options) => {
      if (!this.#raced) {
        this.#raced = true;
        await this.race();
      }
      return await commit(options);
    };
    return op;
  }
}

describe("Users.delete", () => {
  it("removes memberships and writes each channel's record again, unchanged", async () => {
    const kv = new MemoryKv();
    const store = await clubWithAliceAndBob(kv);
    const before = await kv.get(channelKey(CLUB));
    assert.equal(await store.users.delete(BOB), true);
    const after = await kv.get(channelKey(CLUB));
    assert.notEqual(after.versionstamp, before.versionstamp, "the record's version moved");
    assert.deepEqual(after.value, before.value);
    assert.deepEqual(await store.channels.members(CLUB), [ALICE]);
    assert.equal(await store.users.exists(BOB), false);
    for await (const _ of kv.list({ prefix: joinedBy(BOB) })) assert.fail("joined row left");
    assert.equal(await store.users.delete(BOB), false);
    await kv.close();
  });

  it("does not bring back a channel deleted while the user was being deleted", async () => {
    const kv = new MemoryKv();
    await clubWithAliceAndBob(kv);
    const racing = new Store(
      new RacingKv(kv, async () => {
        assert.equal(await new Store(kv).channels.delete(CLUB), true);
      }),
    );
    assert.equal(await racing.users.delete(BOB), true);
    assert.equal((await kv.get(channelKey(CLUB))).versionstamp, null, "channel revived");
    assert.equal(await racing.users.exists(BOB), false);
    assert.deepEqual(await racing.channels.members(CLUB), []);
    await kv.close();
  });

  it("does not delete a user re-created while being deleted; the next try does", async () => {
    const kv = new MemoryKv();
    // No channels: nothing but the account itself can make the first attempt fail.
    assert.ok(await new Store(kv).users.add(BOB, "$old"));
    const racing = new Store(
      new RacingKv(kv, async () => {
        const other = new Store(kv);
        assert.equal(await other.users.delete(BOB), true);
        assert.ok(await other.users.add(BOB, "$new"));
        await kv.set(contactKey(BOB, ALICE), 1);
      }),
    );
    // The first attempt read the old account; the retry deletes the new one, with what it
    // has by then (a commit without the account check would leave the new contact behind).
    assert.equal(await racing.users.delete(BOB), true);
    assert.equal(await racing.users.exists(BOB), false);
    for await (const _ of kv.list({ prefix: contactsOf(BOB) })) assert.fail("contact left");
    await kv.close();
  });
});
