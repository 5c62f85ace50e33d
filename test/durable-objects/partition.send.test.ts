import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_BATCH } from "../../core/contract.ts";
import { countBytes } from "../../durable-objects/partition/segments.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import {
  bodies,
  leases,
  message,
  messages,
  openPartition,
  peek,
  receiveNow,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

/**
 * Counts the storage syncs the partition awaits from now on: one per group-commit round, as a
 * round's sends share one transaction and one sync.
 */
async function countRounds(partition: TestPartition): Promise<() => number> {
  let rounds = 0;
  await runInDurableObject(partition.stub, (_, state) => {
    const sync = state.storage.sync.bind(state.storage);
    state.storage.sync = () => {
      rounds++;
      return sync();
    };
  });
  return () => rounds;
}

describe("sending", () => {
  it("stores a batch in order with fresh ids and increasing seqs", async () => {
    const partition = await openPartition();
    const outcome = await sendOk(partition, messages(3));

    expect(outcome.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(outcome.messages.every((m) => !m.duplicate)).toBe(true);
    expect(new Set(outcome.messages.map((m) => m.id)).size).toBe(3);
    for (const sent of outcome.messages) expect(sent.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(outcome.backpressure).toBe(false);
    expect(outcome.stats).toMatchObject({ ready: 3, sent: 3, oldestSentAt: partition.now() });
    expect(bodies(await peek(partition))).toEqual([0, 1, 2]);
  });

  it("keeps seqs increasing after the newest message is acked", async () => {
    const partition = await openPartition();
    await sendOk(partition, [message("first")]);
    const { messages: leased } = await receiveNow(partition);
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));

    const outcome = await sendOk(partition, [message("second")]);
    expect(outcome.messages[0].seq).toBe(2);
  });

  it("counts backlog bytes as UTF-8 bytes of the bodies held", async () => {
    const partition = await openPartition();
    const outcome = await sendOk(partition, [message("é"), message("ab")]);
    // JSON text "é" is 4 bytes, "ab" 4 bytes.
    expect(outcome.stats.backlogBytes).toBe(8);
  });

  it("refuses a batch larger than MAX_BATCH and stores nothing", async () => {
    const partition = await openPartition();
    // Called on the instance: the router never sends more, so this is a thrown bug, not a value.
    const attempt = runInDurableObject(partition.stub, (instance: Partition) =>
      instance.send(partition.context, messages(MAX_BATCH + 1)),
    );
    await expect(attempt).rejects.toThrow(/at most 100/);
    expect(await peek(partition)).toEqual([]);
  });
});

describe("segment rows", () => {
  it("keeps a segment row one size while its messages are leased and acked", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await sendOk(partition, messages(100));
    // The record's bytes that change: the state's characters and the counts' (countBytes).
    const varying = () =>
      runInDurableObject(partition.stub, (_: Partition, state) => {
        const row = state.storage.sql
          .exec<{ state: number; fresh: number; live: number; acked: number }>(
            "SELECT length(state) AS state, fresh, live, acked FROM segments",
          )
          .one();
        return row.state + countBytes(row.fresh) + countBytes(row.live) + countBytes(row.acked);
      });
    const size = await varying();
    const first = (await receiveNow(partition, 60)).messages;
    expect(await varying()).toBe(size);
    await partition.stub.ack(partition.context, leases(first.slice(0, 59).map((m) => m.receipt)));
    expect(await varying()).toBe(size);
    const rest = (await receiveNow(partition, 40)).messages;
    expect(rest).toHaveLength(40);
    expect(await varying()).toBe(size);
    await partition.stub.ack(partition.context, leases([first[59], ...rest].map((m) => m.receipt)));
    // Emptied: rewritten small (its state unpadded), bodies gone.
    expect(await varying()).toBeLessThan(size / 10);
  });
});

describe("deduplication", () => {
  it("answers a repeated dedupId with the first message's id and stores nothing", async () => {
    const partition = await openPartition({ dedupWindow: 60 });
    const first = await sendOk(partition, [message("a", { dedupId: "order-1" })]);
    const again = await sendOk(partition, [message("a again", { dedupId: "order-1" })]);

    expect(again.messages).toEqual([{ ...first.messages[0], duplicate: true }]);
    expect(again.stats).toMatchObject({ ready: 1, sent: 1 });
    expect(bodies(await peek(partition))).toEqual(["a"]);
  });

  it("deduplicates within one batch", async () => {
    const partition = await openPartition();
    const outcome = await sendOk(partition, [
      message("a", { dedupId: "x" }),
      message("b", { dedupId: "y" }),
      message("a twin", { dedupId: "x" }),
    ]);

    expect(outcome.messages.map((m) => m.duplicate)).toEqual([false, false, true]);
    expect(outcome.messages[2].id).toBe(outcome.messages[0].id);
    expect(outcome.messages[2].seq).toBe(outcome.messages[0].seq);
    expect(bodies(await peek(partition))).toEqual(["a", "b"]);
  });

  it("still deduplicates after the first message was acked", async () => {
    const partition = await openPartition();
    const first = await sendOk(partition, [message("a", { dedupId: "x" })]);
    const { messages: leased } = await receiveNow(partition);
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));

    const again = await sendOk(partition, [message("a", { dedupId: "x" })]);
    expect(again.messages[0]).toEqual({ ...first.messages[0], duplicate: true });
  });

  it("keeps only the dedup ids of a segment its acks emptied, not its bodies", async () => {
    const partition = await openPartition({ dedupWindow: 60 });
    const sent = messages(100).map((m, i) => ({ ...m, body: "x".repeat(1000), dedupId: `d${i}` }));
    const first = await sendOk(partition, sent);
    const bodyChars = () =>
      runInDurableObject(
        partition.stub,
        (_: Partition, state) =>
          state.storage.sql
            .exec<{ chars: number }>(
              "SELECT coalesce(sum(length(messages)), 0) AS chars FROM segments",
            )
            .one().chars,
      );
    expect(await bodyChars()).toBeGreaterThan(100_000);
    const { messages: leased } = await receiveNow(partition, 100);
    await partition.stub.ack(partition.context, leases(leased.map((m) => m.receipt)));

    // Kept for the window's dedup ids; a dedup window of 5 minutes at 10,000 messages of 1 KiB
    // a second would otherwise hold 3 GB of acked bodies.
    expect(await bodyChars()).toBe(0);
    const again = await sendOk(partition, [{ ...sent[7], body: "again" }]);
    expect(again.messages[0]).toEqual({ ...first.messages[7], duplicate: true });
  });

  it("forgets a dedupId once the window has passed", async () => {
    const partition = await openPartition({ dedupWindow: 60 });
    const first = await sendOk(partition, [message("a", { dedupId: "x" })]);

    partition.advance(59_999);
    expect((await sendOk(partition, [message("a", { dedupId: "x" })])).messages[0].duplicate).toBe(
      true,
    );
    partition.advance(1);
    const later = await sendOk(partition, [message("a", { dedupId: "x" })]);
    expect(later.messages[0].duplicate).toBe(false);
    expect(later.messages[0].id).not.toBe(first.messages[0].id);
  });

  it("stores every message when dedupWindow is 0", async () => {
    const partition = await openPartition({ dedupWindow: 0 });
    await sendOk(partition, [message("a", { dedupId: "x" })]);
    const again = await sendOk(partition, [message("a", { dedupId: "x" })]);
    expect(again.messages[0].duplicate).toBe(false);
    expect(again.stats.ready).toBe(2);
  });
});

describe("delays", () => {
  it("keeps a delayed message invisible until its delay has passed", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const outcome = await sendOk(partition, [
      message("later", { delaySeconds: 10 }),
      message("now"),
    ]);
    expect(outcome.stats).toMatchObject({ ready: 1, delayed: 1 });

    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["now"]);
    partition.advance(9_999);
    expect((await receiveNow(partition, 10)).messages).toEqual([]);
    partition.advance(1);
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["later"]);
  });
});

describe("backlog limits", () => {
  it("signals backpressure once the partition holds more than the soft limit", async () => {
    const partition = await openPartition({ backlog: { soft: 3, hard: 10 } });
    expect((await sendOk(partition, messages(3))).backpressure).toBe(false);
    expect((await sendOk(partition, messages(1))).backpressure).toBe(true);
  });

  it("refuses a whole send that would pass the hard limit and stores none of it", async () => {
    const partition = await openPartition({ backlog: { soft: 2, hard: 5 } });
    await sendOk(partition, messages(3));

    const refused = await partition.stub.send(partition.context, messages(3));
    expect(refused).toMatchObject({
      ok: false,
      code: "backlog_full",
      stats: { ready: 3, sent: 3 },
    });
    expect(refused.ok === false && refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(await peek(partition)).toHaveLength(3);

    expect((await sendOk(partition, messages(2))).stats.ready).toBe(5);
  });

  it("counts leased and delayed messages as held", async () => {
    const partition = await openPartition({ backlog: { soft: 1, hard: 2 } });
    await sendOk(partition, [message("leased"), message("delayed", { delaySeconds: 60 })]);
    await receiveNow(partition);

    const refused = await partition.stub.send(partition.context, [message("one more")]);
    expect(refused).toMatchObject({ ok: false, code: "backlog_full" });
  });

  it("still answers a send of duplicates only when the partition is full", async () => {
    const partition = await openPartition({ backlog: { soft: 1, hard: 1 } });
    const first = await sendOk(partition, [message("a", { dedupId: "x" })]);
    const again = await sendOk(partition, [message("a", { dedupId: "x" })]);
    expect(again.messages[0]).toEqual({ ...first.messages[0], duplicate: true });
  });
});

describe("group commit", () => {
  it("writes a lone send on an idle partition in its own transaction at once", async () => {
    const partition = await openPartition();
    const rounds = await countRounds(partition);
    await sendOk(partition, [message("alone")]);
    expect(rounds()).toBe(1);
  });

  it("commits concurrent sends in fewer transactions than sends, every one stored in order", async () => {
    const partition = await openPartition();
    const rounds = await countRounds(partition);
    const count = 60;
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) => partition.stub.send(partition.context, [message(i)])),
    );

    const seqs = outcomes.map((o) => (o.ok ? o.messages[0].seq : -1));
    expect(new Set(seqs).size).toBe(count);
    expect(Math.min(...seqs)).toBe(1);
    expect(Math.max(...seqs)).toBe(count);
    // The seq each send was answered with is where its own message is stored.
    const stored = (await peek(partition)).map(({ seq, body }) => ({ seq, body }));
    expect(stored).toHaveLength(count);
    for (const [i, outcome] of outcomes.entries()) {
      const seq = outcome.ok ? outcome.messages[0].seq : -1;
      expect(stored[seq - 1]).toEqual({ seq, body: JSON.stringify(i) });
    }
    const written = rounds();
    expect(written).toBeGreaterThanOrEqual(1);
    expect(written).toBeLessThan(count);
    // A round's messages share one row.
    expect(await partition.rows("SELECT id FROM segments")).toHaveLength(written);
  });

  it("splits a round of many batches into rows of at most a batch, in send order", async () => {
    const partition = await openPartition();
    const rounds = await countRounds(partition);
    const senders = 5;
    await Promise.all(
      Array.from({ length: senders }, (_, s) =>
        sendOk(
          partition,
          messages(MAX_BATCH).map((m, i) => ({ ...m, body: `${s}-${i}` })),
        ),
      ),
    );
    const rows = await partition.rows<{ id: number; n: number }>(
      "SELECT id, json_array_length(meta) AS n FROM segments ORDER BY id",
    );
    // The first send is written alone; the rest arrive while it commits and share a round.
    expect(rounds()).toBe(2);
    expect(rows.map((row) => row.n)).toEqual(Array(senders).fill(MAX_BATCH));
    const ready = await receiveNow(partition, MAX_BATCH);
    expect(ready.messages.map((m) => m.seq)).toEqual(
      Array.from({ length: MAX_BATCH }, (_, i) => i + 1),
    );
  });

  it("fails only the send that cannot be written, whole, when it shares a transaction", async () => {
    const partition = await openPartition();
    const rounds = await countRounds(partition);
    // A body SQLite cannot bind (the router never lets one through): its insert throws.
    const unwritable = { ...message("never"), body: undefined as unknown as string };
    const settled = await runInDurableObject(partition.stub, (instance: Partition) => {
      const first = instance.send(partition.context, [message("first")]);
      // These two arrive while the first is being committed, so they share the next round.
      const broken = instance.send(partition.context, [message("fits"), unwritable]);
      const fine = instance.send(partition.context, [message("fine")]);
      return Promise.allSettled([first, broken, fine]);
    });

    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(bodies(await peek(partition))).toEqual(["first", "fine"]);
    expect(rounds()).toBe(2);
  });

  it("refuses one send of a group at the hard limit without affecting the others", async () => {
    const partition = await openPartition({ backlog: { soft: 1, hard: 10 } });
    const batches = [8, 5, 2, 1].map((size) => messages(size));
    const outcomes = await Promise.all(
      batches.map((batch) => partition.stub.send(partition.context, batch)),
    );

    const accepted = outcomes.flatMap((o, i) => (o.ok ? [batches[i].length] : []));
    const refused = outcomes.filter((o) => !o.ok);
    expect(refused.length).toBeGreaterThan(0);
    for (const outcome of refused) expect(outcome).toMatchObject({ code: "backlog_full" });
    const stats = await partition.stub.stats(partition.context);
    expect(stats.ready).toBe(accepted.reduce((a, b) => a + b, 0));
    expect(stats.ready).toBeLessThanOrEqual(10);
  });
});
