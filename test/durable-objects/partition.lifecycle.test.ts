import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  bodies,
  contextFor,
  leases,
  message,
  messages,
  openPartition,
  peek,
  receiveNow,
} from "./partition-fixtures.ts";

describe("the alarm", () => {
  it("is always set to the earliest due time, and cleared when nothing is due", async () => {
    const partition = await openPartition({ retention: 3_600, retry: { initialDelay: 5 } });
    const start = partition.now();
    expect(await partition.alarmAt()).toBeNull();

    // A message is due to be dropped when its retention runs out.
    await partition.stub.send(partition.context, [message("a")]);
    expect(await partition.alarmAt()).toBe(start + 3_600_000);

    // A delayed message falls due sooner.
    await partition.stub.send(partition.context, [message("b", { key: "b", delaySeconds: 600 })]);
    expect(await partition.alarmAt()).toBe(start + 600_000);

    // A lease ends sooner still.
    const [leased] = (await receiveNow(partition, 1, 60)).messages;
    expect(await partition.alarmAt()).toBe(start + 60_000);

    // Extending the lease moves the alarm with it.
    await partition.stub.extend(partition.context, leases([leased.receipt]), 900);
    expect(await partition.alarmAt()).toBe(start + 600_000);

    // Acking the lease and the delayed message leaves nothing due but retention.
    await partition.stub.ack(partition.context, leases([leased.receipt]));
    partition.advance(600_000);
    await partition.runAlarm();
    const [b] = (await receiveNow(partition, 1, 60)).messages;
    expect(await partition.alarmAt()).toBe(partition.now() + 60_000);
    await partition.stub.ack(partition.context, leases([b.receipt]));
    // The alarm that made b visible also cleaned up a's emptied segment.
    expect(await partition.rows("SELECT id FROM segments")).toEqual([]);
    expect(await partition.alarmAt()).toBeNull();
  });

  it("is set to a pending dead-letter hand-off", async () => {
    const partition = await openPartition({ maxAttempts: 1, retention: 3_600 });
    await partition.stub.send(partition.context, [message("doomed")]);
    const [leased] = (await receiveNow(partition)).messages;
    await partition.breakDeadLetters();
    await partition.stub.nack(partition.context, leases([leased.receipt]), {});
    await partition.runAlarm();

    const [row] = await partition.rows<{ next_attempt_at: number }>(
      "SELECT next_attempt_at FROM dead_letter_outbox",
    );
    expect(await partition.alarmAt()).toBe(row.next_attempt_at);
  });

  it("changes nothing when it runs again, or runs with nothing due", async () => {
    const partition = await openPartition({ retry: { initialDelay: 10, jitter: false } });
    await partition.stub.send(partition.context, messages(2, { key: "k" }));
    await receiveNow(partition, 1, 30);
    partition.advance(30_000);

    await partition.runAlarm();
    const once = await partition.stub.peek(partition.context, { limit: 10 });
    await partition.runAlarm();
    await partition.runAlarm();
    const thrice = await partition.stub.peek(partition.context, { limit: 10 });
    // Usage counts the alarms themselves; everything else is as the first alarm left it.
    expect(withoutUsage(thrice)).toEqual(withoutUsage(once));
    expect(once.messages[0]).toMatchObject({ state: "delayed", attempts: 1 });
  });

  it("runs under the newest configuration any call brought", async () => {
    const partition = await openPartition({ maxAttempts: 5 });
    const newer = contextFor({ maxAttempts: 1 }, 2);
    await partition.stub.send(newer, [message("m")]);
    // A call with an older configuration (a stale router cache) does not undo it.
    const [leased] = (await receiveNow(partition, 1, 10)).messages;
    partition.advance(10_000);
    await partition.runAlarm();

    expect(await env.DEAD_LETTERS.getByName(partition.queue).get(leased.id)).toMatchObject({
      attempts: 1,
    });
  });
});

describe("retention", () => {
  it("drops messages older than retention and counts them as expired", async () => {
    const partition = await openPartition({ retention: 120 });
    await partition.stub.send(partition.context, messages(2));
    partition.advance(60_000);
    await partition.stub.send(partition.context, [message("younger")]);

    partition.advance(60_000);
    expect(await partition.runAlarm()).toBe(true);
    expect(bodies(await peek(partition))).toEqual(["younger"]);
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({
      expired: 2,
      ready: 1,
      sent: 3,
      oldestSentAt: partition.now() - 60_000,
    });
    expect(await partition.alarmAt()).toBe(partition.now() + 60_000);
  });

  it("drops a leased message too, ending its lease", async () => {
    const partition = await openPartition({ retention: 60 });
    await partition.stub.send(partition.context, [message("slow")]);
    const [leased] = (await receiveNow(partition, 1, 600)).messages;

    partition.advance(60_000);
    const outcome = await partition.stub.ack(partition.context, leases([leased.receipt]));
    expect(outcome.failed).toEqual([{ index: 0, code: "receipt_stale" }]);
    expect(outcome.stats).toMatchObject({ expired: 1, leased: 0 });
  });

  it("drops a message whose lease outlives its retention instead of retrying it", async () => {
    const partition = await openPartition({ retention: 60, maxAttempts: 1 });
    await partition.stub.send(partition.context, [message("late")]);
    partition.advance(50_000);
    await receiveNow(partition, 1, 10);

    partition.advance(10_000);
    await partition.runAlarm();
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({ expired: 1, deadLettered: 0, leased: 0 });
  });

  it("lets a key's next message go when its head is dropped", async () => {
    const partition = await openPartition({ retention: 60 });
    await partition.stub.send(partition.context, [message("old", { key: "k" })]);
    await receiveNow(partition, 1, 600);
    partition.advance(30_000);
    await partition.stub.send(partition.context, [message("new", { key: "k" })]);

    partition.advance(30_000);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["new"]);
  });
});

describe("peek", () => {
  it("shows messages in seq order with their state, without leasing them", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await partition.stub.send(partition.context, [
      message("ready"),
      message("delayed", { delaySeconds: 30 }),
      message("leased"),
    ]);
    await receiveNow(partition, 2, 60);

    const peeked = await peek(partition);
    expect(peeked.map((m) => [m.body, m.state, m.attempts])).toEqual([
      ['"ready"', "leased", 1],
      ['"delayed"', "delayed", 0],
      ['"leased"', "leased", 1],
    ]);
    expect(peeked[1].visibleAt).toBe(partition.now() + 30_000);
    expect(peeked[0].visibleAt).toBe(partition.now() + 60_000);
    const again = await peek(partition);
    expect(again.map((m) => m.attempts)).toEqual([1, 0, 1]);
  });

  it("pages with limit and after", async () => {
    const partition = await openPartition();
    await partition.stub.send(partition.context, messages(5));
    const first = await peek(partition, { limit: 2 });
    expect(bodies(first)).toEqual([0, 1]);
    const next = await peek(partition, { limit: 2, after: first[1].seq });
    expect(bodies(next)).toEqual([2, 3]);
  });
});

describe("purge", () => {
  it("drops every message, leased ones too, and keeps counting seqs", async () => {
    const partition = await openPartition();
    await partition.stub.send(partition.context, messages(3));
    await receiveNow(partition);

    const outcome = await partition.stub.purge(partition.context);
    expect(outcome.purged).toBe(3);
    expect(outcome.stats).toMatchObject({ ready: 0, leased: 0, delayed: 0, backlogBytes: 0 });
    expect(outcome.stats.oldestSentAt).toBeNull();
    const after = await partition.stub.send(partition.context, [message("after")]);
    expect(after.ok && after.messages[0].seq).toBe(4);
    // A restarted partition reads the purge back from its rows.
    await partition.restart();
    expect(await partition.stub.stats(partition.context)).toMatchObject({
      ready: 1,
      leased: 0,
      sent: 4,
    });
    expect(bodies(await peek(partition))).toEqual(["after"]);
  });

  it("keeps dead letters waiting in the outbox", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    await partition.stub.send(partition.context, [message("doomed")]);
    const [leased] = (await receiveNow(partition)).messages;
    await partition.breakDeadLetters();
    await partition.stub.nack(partition.context, leases([leased.receipt]), {});

    const outcome = await partition.stub.purge(partition.context);
    expect(outcome).toMatchObject({ purged: 0, stats: { pendingDeadLetters: 1 } });
  });
});

describe("stats", () => {
  it("counts every state and every outcome", async () => {
    const partition = await openPartition({ ordering: "unordered", maxAttempts: 1 });
    await partition.stub.send(partition.context, [
      message("ack me"),
      message("nack me"),
      message("keep leased"),
      message("ready"),
      message("delayed", { delaySeconds: 60 }),
    ]);
    const leased = (await receiveNow(partition, 3)).messages;
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));
    await partition.stub.nack(partition.context, leases([leased[1].receipt]), {});
    await partition.runAlarm();

    const stats = await partition.stub.stats(partition.context);
    expect(stats).toEqual({
      partition: 0,
      ready: 1,
      leased: 1,
      delayed: 1,
      backlogBytes: '"keep leased"'.length + '"ready"'.length + '"delayed"'.length,
      oldestSentAt: partition.now(),
      deadLettered: 1,
      pendingDeadLetters: 0,
      sent: 5,
      acked: 1,
      nacked: 1,
      expired: 0,
      flow: { paused: false, pausedUntil: null, pausedKeys: 0, heldKeys: [], inFlightShare: null },
      usage: {
        requests: 6,
        statements: expect.any(Number),
        rowsRead: expect.any(Number),
        rowsWritten: expect.any(Number),
      },
    });
  });
});

describe("destroy", () => {
  it("drops every row and the alarm, and starts afresh when used again", async () => {
    const partition = await openPartition();
    await partition.stub.send(partition.context, messages(3, { delaySeconds: 30 }));
    expect(await partition.alarmAt()).not.toBeNull();

    await partition.stub.destroy();
    expect(await partition.alarmAt()).toBeNull();
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({ ready: 0, delayed: 0, sent: 0 });
    expect(await peek(partition)).toEqual([]);
    const again = await partition.stub.send(partition.context, [message("new queue")]);
    expect(again.ok && again.messages[0].seq).toBe(1);
  });

  it("answers a receive that was waiting when the queue went away, empty", async () => {
    const partition = await openPartition();
    const waiting = partition.stub.receive(partition.context, { max: 1, waitMs: 300 });
    await partition.stub.stats(partition.context);
    await partition.stub.destroy();

    expect((await waiting).messages).toEqual([]);
  });
});

describe("storage", () => {
  it("creates its schema once and records the version", async () => {
    const partition = await openPartition();
    await partition.stub.send(partition.context, [message("kept")]);
    await partition.restart();

    expect(await partition.rows("SELECT version FROM schema_version")).toEqual([{ version: 3 }]);
    expect(bodies(await peek(partition))).toEqual(["kept"]);
  });

  it("finds fresh messages by a primary-key range and ready held ones by their due index", async () => {
    const partition = await openPartition();
    const detail = async (query: string) =>
      (await partition.rows<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`)).map(
        (r) => r.detail,
      );
    // Segment ids order fresh messages in every ordering mode (see schema.ts).
    expect(
      await detail("SELECT id, state, meta FROM segments WHERE id >= 1 AND fresh > 0 ORDER BY id"),
    ).toEqual(["SEARCH segments USING INTEGER PRIMARY KEY (rowid>?)"]);
    expect(
      await detail(
        "SELECT seq FROM held INDEXED BY held_due WHERE state = 'waiting' AND visible_at <= 1 ORDER BY seq LIMIT 10",
      ),
    ).toEqual(["SEARCH held USING INDEX held_due (visible_at<?)", "USE TEMP B-TREE FOR ORDER BY"]);
    // A lease names its segment, so a settle reads one row by its key.
    expect(await detail("SELECT state FROM segments WHERE id = 1")).toEqual([
      "SEARCH segments USING INTEGER PRIMARY KEY (rowid=?)",
    ]);
  });

  it("keeps leases, counters and the outbox across a restart", async () => {
    const partition = await openPartition({ ordering: "unordered", maxAttempts: 1 });
    await partition.stub.send(partition.context, messages(3));
    await partition.stub.send(partition.context, [message("dedup", { dedupId: "d" })]);
    const [kept, doomed] = (await receiveNow(partition, 2, 60)).messages;
    await partition.breakDeadLetters();
    await partition.stub.nack(partition.context, leases([doomed.receipt]), {});
    const before = await partition.stub.stats(partition.context);

    await partition.restart();

    const after = await partition.stub.stats(partition.context);
    // Usage is counted since the object started: the restarted one has served this call only.
    expect({ ...after, usage: undefined }).toEqual({ ...before, usage: undefined });
    expect(after.usage.requests).toBe(1);
    expect(before).toMatchObject({ leased: 1, ready: 2, pendingDeadLetters: 1, sent: 4 });
    const twin = await partition.stub.send(partition.context, [message("dedup", { dedupId: "d" })]);
    expect(twin.ok && twin.messages[0].duplicate).toBe(true);
    // The lease survived: its receipt still acks.
    expect((await partition.stub.ack(partition.context, leases([kept.receipt]))).acked).toBe(1);
    // The outbox survived, and the restarted instance (with a working env) hands it off when
    // the retry falls due.
    const [row] = await partition.rows<{ next_attempt_at: number }>(
      "SELECT next_attempt_at FROM dead_letter_outbox",
    );
    partition.advance(row.next_attempt_at - partition.now());
    expect(await partition.runAlarm()).toBe(true);
    expect(await env.DEAD_LETTERS.getByName(partition.queue).get(doomed.id)).toMatchObject({
      id: doomed.id,
    });
    expect((await partition.stub.stats(partition.context)).pendingDeadLetters).toBe(0);
  });

  it("keeps the acked count across a restart, kept in the segment row an ack writes", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await partition.stub.send(partition.context, messages(3));
    const leased = (await receiveNow(partition, 3)).messages;
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));
    await partition.stub.ack(partition.context, leases([leased[1].receipt]));
    expect(await partition.rows("SELECT acked FROM segments")).toEqual([{ acked: 2 }]);

    await partition.restart();
    expect(await partition.stub.stats(partition.context)).toMatchObject({ acked: 2, leased: 1 });
    // Once the emptied segment is cleaned up, its count lives on in the counters row.
    await partition.stub.ack(partition.context, leases([leased[2].receipt]));
    partition.advance(5_000);
    await partition.runAlarm();
    expect(await partition.rows("SELECT id FROM segments")).toEqual([]);
    await partition.restart();
    expect((await partition.stub.stats(partition.context)).acked).toBe(3);
  });

  it("expires a lease that ended while the object was away", async () => {
    const partition = await openPartition({ retry: { initialDelay: 0 } });
    await partition.stub.send(partition.context, [message("m")]);
    const [leased] = (await receiveNow(partition, 1, 30)).messages;
    await partition.restart();
    partition.advance(30_000);

    const [again] = (await receiveNow(partition)).messages;
    expect(again).toMatchObject({ id: leased.id, attempts: 2 });

    // Leased again, it is a held row of its own now: that lease ends while away too.
    await partition.restart();
    partition.advance(30_000);
    const [third] = (await receiveNow(partition)).messages;
    expect(third).toMatchObject({ id: leased.id, attempts: 3 });
  });
});

/** A peek's answer without the usage figures, which every call moves. */
function withoutUsage(answer: { stats: { usage: unknown } }) {
  return { ...answer, stats: { ...answer.stats, usage: undefined } };
}
