import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decodeReceipt, encodeReceipt } from "../../core/receipt.ts";
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

const NO_JITTER = { initialDelay: 2, maxDelay: 60, multiplier: 3, jitter: false };

async function sendAndLease(partition: TestPartition, count = 1, visibilityTimeout?: number) {
  await partition.stub.send(partition.context, messages(count));
  const { messages: leased } = await receiveNow(partition, count, visibilityTimeout);
  expect(leased).toHaveLength(count);
  return leased;
}

const deadLettersOf = (partition: TestPartition) => env.DEAD_LETTERS.getByName(partition.queue);

describe("leases", () => {
  it("leases with a receipt, a lease end and the attempt counted", async () => {
    const partition = await openPartition({ visibilityTimeout: 30 });
    const [leased] = await sendAndLease(partition);

    expect(leased).toMatchObject({ attempts: 1, partition: 0, seq: 1, sentAt: partition.now() });
    expect(leased.leaseExpiresAt).toBe(partition.now() + 30_000);
    expect(decodeReceipt(leased.receipt)).toMatchObject({ partition: 0, seq: 1 });
    expect((await partition.stub.stats(partition.context)).leased).toBe(1);
  });

  it("leases for the visibilityTimeout a receive asks for", async () => {
    const partition = await openPartition({ visibilityTimeout: 30 });
    const [leased] = await sendAndLease(partition, 1, 5);
    expect(leased.leaseExpiresAt).toBe(partition.now() + 5_000);
  });

  it("gives every lease its own token", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const leased = await sendAndLease(partition, 2);
    const tokens = leased.map((m) => decodeReceipt(m.receipt)?.token);
    expect(new Set(tokens).size).toBe(2);
  });
});

describe("answer size", () => {
  it("finding 4: a receive larger than the RPC limit leases only what it answers", async () => {
    const partition = await openPartition({ ordering: "unordered", maxMessageBytes: 1024 * 1024 });
    const megabyte = "x".repeat(1_000_000 - 2);
    // 33 MB of bodies: more than one RPC answer may carry (32 MiB). Sent in three calls, as a
    // send is an RPC too.
    for (let call = 0; call < 3; call++) {
      await sendOk(
        partition,
        messages(11).map((m) => ({ ...m, body: JSON.stringify(megabyte) })),
      );
    }

    const { messages: leased, stats } = await receiveNow(partition, 100);
    expect(leased.length).toBeGreaterThan(0);
    expect(leased.length).toBeLessThan(33);
    expect(stats).toMatchObject({ leased: leased.length, ready: 33 - leased.length });
    // What was not answered is not leased: the next receive gets it.
    const { messages: rest } = await receiveNow(partition, 100);
    expect(rest.length).toBeGreaterThan(0);
    expect(new Set([...leased, ...rest].map((m) => m.seq)).size).toBe(leased.length + rest.length);
  });
});

describe("ack", () => {
  it("deletes the message and refuses the same receipt again as stale", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition);

    const first = await partition.stub.ack(partition.context, leases([leased.receipt]));
    expect(first).toMatchObject({ acked: 1, failed: [], stats: { leased: 0, acked: 1 } });
    expect(await peek(partition)).toEqual([]);

    const again = await partition.stub.ack(partition.context, leases([leased.receipt]));
    expect(again).toMatchObject({ acked: 0, failed: [{ index: 0, code: "receipt_stale" }] });
  });

  it("answers per item: references it never issued, stale ones", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const leased = await sendAndLease(partition, 2);
    const decoded = decodeReceipt(leased[0].receipt);
    if (!decoded) throw new Error("undecodable receipt");
    const wrongToken = encodeReceipt({ ...decoded, token: "0".repeat(32) });

    const outcome = await partition.stub.ack(partition.context, [
      ...leases(["not a receipt", wrongToken, leased[1].receipt, ""]),
      { seq: decoded.seq, token: "not hex" },
      { seq: -1, token: decoded.token },
    ]);
    expect(outcome.acked).toBe(1);
    expect(outcome.failed).toEqual([
      { index: 0, code: "receipt_invalid" },
      { index: 1, code: "receipt_stale" },
      { index: 3, code: "receipt_invalid" },
      { index: 4, code: "receipt_invalid" },
      { index: 5, code: "receipt_invalid" },
    ]);
    expect(bodies(await peek(partition))).toEqual([0]);
  });

  it("answers each of calls committed together with its own failures, by its own positions", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const leased = await sendAndLease(partition, 4);
    const receipts = leased.map((message) => message.receipt);
    const ack = (refs: string[]) => partition.stub.ack(partition.context, leases(refs));

    // The first call commits alone; the others arrive during its sync and share the next round.
    const [first, second, third, fourth] = await Promise.all([
      ack([receipts[0]]),
      ack(["bad", receipts[1], "worse"]),
      ack([receipts[2]]),
      ack(["", receipts[0], receipts[3]]),
    ]);

    expect(first).toMatchObject({ acked: 1, failed: [] });
    expect(second).toMatchObject({
      acked: 1,
      failed: [
        { index: 0, code: "receipt_invalid" },
        { index: 2, code: "receipt_invalid" },
      ],
    });
    expect(third).toMatchObject({ acked: 1, failed: [] });
    expect(fourth).toMatchObject({
      acked: 1,
      failed: [
        { index: 0, code: "receipt_invalid" },
        { index: 1, code: "receipt_stale" },
      ],
    });
  });

  it("refuses the receipt of a lease that expired", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition, 1, 10);
    partition.advance(10_000);

    const outcome = await partition.stub.ack(partition.context, leases([leased.receipt]));
    expect(outcome.failed).toEqual([{ index: 0, code: "receipt_stale" }]);
    expect(outcome.stats).toMatchObject({ acked: 0, leased: 0 });
  });

  it("refuses the receipt of an earlier lease once the message is leased again", async () => {
    const partition = await openPartition({ retry: { initialDelay: 0 } });
    const [first] = await sendAndLease(partition, 1, 10);
    partition.advance(10_000);
    const [second] = (await receiveNow(partition)).messages;
    expect(second.seq).toBe(first.seq);

    const outcome = await partition.stub.ack(
      partition.context,
      leases([first.receipt, second.receipt]),
    );
    expect(outcome).toMatchObject({ acked: 1, failed: [{ index: 0, code: "receipt_stale" }] });
  });

  it("refuses the receipt of a purged message", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition);
    await partition.stub.purge(partition.context);
    const outcome = await partition.stub.ack(partition.context, leases([leased.receipt]));
    expect(outcome.failed).toEqual([{ index: 0, code: "receipt_stale" }]);
  });
});

describe("a receive carrying acks", () => {
  it("acks the last receive's messages and leases the next ones in one call", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const first = await sendAndLease(partition, 3);
    await sendOk(partition, messages(2));

    const answer = await partition.stub.receive(partition.context, {
      max: 10,
      waitMs: 0,
      ack: leases(first.map((m) => m.receipt)),
    });

    expect(answer.ack).toEqual({ acked: 3, failed: [] });
    expect(answer.messages.map((m) => m.seq)).toEqual([4, 5]);
    expect(answer.stats).toMatchObject({ ready: 0, leased: 2, acked: 3 });
  });

  it("answers stale and invalid receipts per item, by their position", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition);
    await partition.stub.ack(partition.context, leases([leased.receipt]));

    const answer = await partition.stub.receive(partition.context, {
      max: 1,
      waitMs: 0,
      ack: leases(["not-a-receipt", leased.receipt]),
    });

    expect(answer.ack).toEqual({
      acked: 0,
      failed: [
        { index: 0, code: "receipt_invalid" },
        { index: 1, code: "receipt_stale" },
      ],
    });
  });

  it("has no ack in its answer when it carried none", async () => {
    const partition = await openPartition();
    await sendOk(partition, messages(1));
    expect(await receiveNow(partition)).not.toHaveProperty("ack");
  });

  it("settles its acks before it parks, and answers them when the wait ends empty", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition);

    const waiting = partition.stub.receive(partition.context, {
      max: 1,
      waitMs: 200,
      ack: leases([leased.receipt]),
    });
    // While the receive waits, the ack is already done.
    await expect.poll(async () => (await partition.stub.stats(partition.context)).acked).toBe(1);

    const answer = await waiting;
    expect(answer.messages).toEqual([]);
    expect(answer.ack).toEqual({ acked: 1, failed: [] });
  });

  it("in fifo order, acking a group's head leases the group's next message in the same call", async () => {
    const partition = await openPartition({ ordering: "fifo" });
    await sendOk(partition, [message("a1", { key: "a" }), message("a2", { key: "a" })]);
    const { messages: head } = await receiveNow(partition, 1);
    expect(bodies(head)).toEqual(["a1"]);

    const answer = await partition.stub.receive(partition.context, {
      max: 10,
      waitMs: 0,
      ack: leases(head.map((m) => m.receipt)),
    });

    expect(answer.ack).toEqual({ acked: 1, failed: [] });
    expect(bodies(answer.messages)).toEqual(["a2"]);
  });
});

describe("nack", () => {
  it("records the failure and makes the message visible again after the backoff", async () => {
    const partition = await openPartition({ ordering: "unordered", retry: NO_JITTER });
    const [leased] = await sendAndLease(partition);

    const outcome = await partition.stub.nack(partition.context, leases([leased.receipt]), {
      reason: "payment service down",
    });
    expect(outcome).toMatchObject({ retried: 1, deadLettered: 0, failed: [] });
    expect(outcome.stats).toMatchObject({ delayed: 1, leased: 0, nacked: 1 });
    const [waiting] = await peek(partition);
    expect(waiting).toMatchObject({ state: "delayed", visibleAt: partition.now() + 2_000 });

    partition.advance(1_999);
    expect((await receiveNow(partition)).messages).toEqual([]);
    partition.advance(1);
    const [again] = (await receiveNow(partition)).messages;
    expect(again).toMatchObject({ id: leased.id, attempts: 2 });
  });

  it("grows the backoff with the attempts", async () => {
    const partition = await openPartition({ retry: NO_JITTER });
    await partition.stub.send(partition.context, [message("flaky")]);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [leased] = (await receiveNow(partition)).messages;
      expect(leased.attempts).toBe(attempt);
      await partition.stub.nack(partition.context, leases([leased.receipt]), {});
      const [waiting] = await peek(partition);
      waits.push(waiting.visibleAt - partition.now());
      partition.advance(waiting.visibleAt - partition.now());
    }
    expect(waits).toEqual([2_000, 6_000, 18_000]);
  });

  it("jitters the backoff between zero and the full delay", async () => {
    const partition = await openPartition({
      ordering: "unordered",
      retry: { initialDelay: 100, maxDelay: 100, jitter: true },
    });
    const leased = await sendAndLease(partition, 20);
    await partition.stub.nack(partition.context, leases(leased.map((m) => m.receipt)), {});
    const waits = (await peek(partition)).map((m) => m.visibleAt - partition.now());
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThanOrEqual(100_000);
    }
    expect(new Set(waits).size).toBeGreaterThan(1);
  });

  it("waits delaySeconds instead of the backoff when given, 0 meaning at once", async () => {
    const partition = await openPartition({ ordering: "unordered", retry: NO_JITTER });
    const leased = await sendAndLease(partition, 2);
    await partition.stub.nack(partition.context, leases([leased[0].receipt]), { delaySeconds: 45 });
    await partition.stub.nack(partition.context, leases([leased[1].receipt]), { delaySeconds: 0 });

    const [later, now] = await peek(partition);
    expect(later).toMatchObject({ state: "delayed", visibleAt: partition.now() + 45_000 });
    expect(now).toMatchObject({ state: "ready", visibleAt: partition.now() });
  });

  it("refuses stale and invalid receipts per item and retries the rest", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const leased = await sendAndLease(partition, 2);
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));

    const outcome = await partition.stub.nack(
      partition.context,
      leases([leased[0].receipt, "garbage", leased[1].receipt]),
      {},
    );
    expect(outcome).toMatchObject({
      retried: 1,
      failed: [
        { index: 0, code: "receipt_stale" },
        { index: 1, code: "receipt_invalid" },
      ],
    });
  });
});

describe("extend", () => {
  it("moves the lease end, so the message is not redelivered at the old end", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition, 1, 10);
    partition.advance(8_000);

    const outcome = await partition.stub.extend(partition.context, leases([leased.receipt]), 60);
    expect(outcome).toMatchObject({ extended: 1, failed: [] });
    partition.advance(10_000);
    expect((await receiveNow(partition)).messages).toEqual([]);
    expect((await partition.stub.ack(partition.context, leases([leased.receipt]))).acked).toBe(1);
  });

  it("ends the extended lease at the new time", async () => {
    const partition = await openPartition({ retry: { initialDelay: 0 } });
    const [leased] = await sendAndLease(partition, 1, 10);
    await partition.stub.extend(partition.context, leases([leased.receipt]), 60);

    partition.advance(60_000);
    const [again] = (await receiveNow(partition)).messages;
    expect(again).toMatchObject({ id: leased.id, attempts: 2 });
  });

  it("refuses to extend a lease that has already ended", async () => {
    const partition = await openPartition();
    const [leased] = await sendAndLease(partition, 1, 10);
    partition.advance(10_000);
    const outcome = await partition.stub.extend(
      partition.context,
      leases([leased.receipt, "x"]),
      60,
    );
    expect(outcome).toMatchObject({
      extended: 0,
      failed: [
        { index: 0, code: "receipt_stale" },
        { index: 1, code: "receipt_invalid" },
      ],
    });
  });
});

describe("lease expiry", () => {
  it("makes the message visible again after the backoff, counting the attempt", async () => {
    const partition = await openPartition({ retry: NO_JITTER });
    const [leased] = await sendAndLease(partition, 1, 30);

    partition.advance(30_000);
    expect(await partition.runAlarm()).toBe(true);
    const [waiting] = await peek(partition);
    expect(waiting).toMatchObject({ state: "delayed", attempts: 1 });
    // The backoff counts from when the lease ended.
    expect(waiting.visibleAt).toBe(leased.leaseExpiresAt + 2_000);

    partition.advance(2_000);
    const [again] = (await receiveNow(partition)).messages;
    expect(again).toMatchObject({ id: leased.id, attempts: 2 });
  });

  it("is noticed by the next call even when the alarm has not run", async () => {
    const partition = await openPartition({ retry: { initialDelay: 0 } });
    const [leased] = await sendAndLease(partition, 1, 30);

    partition.advance(30_000);
    const [again] = (await receiveNow(partition)).messages;
    expect(again).toMatchObject({ id: leased.id, attempts: 2 });
  });

  it("gives the same result whenever the alarm runs late", async () => {
    const partition = await openPartition({ retry: NO_JITTER });
    const [leased] = await sendAndLease(partition, 1, 30);

    // The alarm was due at the lease end (30 s) and runs only after the backoff passed too.
    partition.advance(40_000);
    await partition.runAlarm();
    const [waiting] = await peek(partition);
    expect(waiting.visibleAt).toBe(leased.leaseExpiresAt + 2_000);
    expect(waiting.state).toBe("ready");
  });
});

describe("dead letters", () => {
  it("hands a message over when a nack finds its attempts at maxAttempts, with its history", async () => {
    const partition = await openPartition({ maxAttempts: 2, retry: { initialDelay: 0 } });
    const [first] = await sendAndLease(partition, 1, 30);
    partition.advance(30_000);
    const [second] = (await receiveNow(partition)).messages;
    expect(second.attempts).toBe(2);

    const outcome = await partition.stub.nack(partition.context, leases([second.receipt]), {
      reason: "invalid order",
    });
    expect(outcome).toMatchObject({ retried: 0, deadLettered: 1 });
    expect(outcome.stats).toMatchObject({ deadLettered: 1, leased: 0, ready: 0 });
    await partition.runAlarm();

    const dead = await deadLettersOf(partition).get(first.id);
    expect(dead).toMatchObject({
      id: first.id,
      queue: partition.queue,
      partition: 0,
      seq: first.seq,
      body: first.body,
      attempts: 2,
      sentAt: first.sentAt,
      diedAt: partition.now(),
      failures: [
        { at: first.leaseExpiresAt, attempt: 1, reason: "lease expired after 30 s", by: "expiry" },
        { at: partition.now(), attempt: 2, reason: "invalid order", by: "nack" },
      ],
    });
    expect(await peek(partition)).toEqual([]);
    expect((await partition.stub.stats(partition.context)).pendingDeadLetters).toBe(0);
  });

  it("hands a message over when its last lease expires", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    const [leased] = await sendAndLease(partition, 1, 10);
    partition.advance(10_000);
    await partition.runAlarm();

    const dead = await deadLettersOf(partition).get(leased.id);
    expect(dead).toMatchObject({ attempts: 1, diedAt: leased.leaseExpiresAt });
    expect(dead?.failures).toEqual([
      { at: leased.leaseExpiresAt, attempt: 1, reason: "lease expired after 10 s", by: "expiry" },
    ]);
  });

  it("retries, not dead-letters, while attempts are below maxAttempts", async () => {
    const partition = await openPartition({ maxAttempts: 3, retry: { initialDelay: 0 } });
    await partition.stub.send(partition.context, [message("m")]);
    const fates: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [leased] = (await receiveNow(partition)).messages;
      const outcome = await partition.stub.nack(partition.context, leases([leased.receipt]), {});
      fates.push(outcome.deadLettered);
    }
    expect(fates).toEqual([0, 0, 1]);
  });

  it("keeps the message in the outbox while the dead-letter object fails, then delivers it", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    const [leased] = await sendAndLease(partition);
    await partition.breakDeadLetters();

    await partition.stub.nack(partition.context, leases([leased.receipt]), { reason: "bad" });
    await partition.runAlarm();
    const outbox = await partition.rows<{ seq: number; tries: number; next_attempt_at: number }>(
      "SELECT seq, tries, next_attempt_at FROM dead_letter_outbox",
    );
    expect(outbox).toHaveLength(1);
    expect(outbox[0].tries).toBeGreaterThanOrEqual(1);
    expect(await partition.alarmAt()).toBe(outbox[0].next_attempt_at);
    expect((await partition.stub.stats(partition.context)).pendingDeadLetters).toBe(1);
    expect(await deadLettersOf(partition).get(leased.id)).toBeNull();

    await partition.repairDeadLetters();
    partition.advance(outbox[0].next_attempt_at - partition.now());
    expect(await partition.runAlarm()).toBe(true);
    expect(await deadLettersOf(partition).get(leased.id)).toMatchObject({ id: leased.id });
    expect(await partition.rows("SELECT seq FROM dead_letter_outbox")).toEqual([]);
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({ pendingDeadLetters: 0, deadLettered: 1 });
  });

  it("backs off between failed hand-offs", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    const [leased] = await sendAndLease(partition);
    await partition.breakDeadLetters();
    await partition.stub.nack(partition.context, leases([leased.receipt]), {});
    await partition.runAlarm();

    // Full jitter draws each wait from zero to the cap (1 s, 2 s, 4 s, ...).
    for (let tries = 2; tries <= 6; tries++) {
      const [row] = await partition.rows<{ next_attempt_at: number }>(
        "SELECT next_attempt_at FROM dead_letter_outbox",
      );
      partition.advance(row.next_attempt_at - partition.now());
      await partition.runAlarm();
      const [after] = await partition.rows<{ tries: number; next_attempt_at: number }>(
        "SELECT tries, next_attempt_at FROM dead_letter_outbox",
      );
      expect(after.tries).toBe(tries);
      expect(after.next_attempt_at - partition.now()).toBeLessThanOrEqual(2 ** (tries - 1) * 1_000);
    }
  });

  it("delivers dead letters in batches when many die at once", async () => {
    const partition = await openPartition({ ordering: "unordered", maxAttempts: 1 });
    const leased = await sendAndLease(partition, 30);
    await partition.stub.nack(partition.context, leases(leased.map((m) => m.receipt)), {});
    await partition.runAlarm();
    expect(await deadLettersOf(partition).count()).toBe(30);
  });
});
