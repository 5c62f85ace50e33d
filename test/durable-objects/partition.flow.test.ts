/**
 * Flow control in the partition (docs/architecture.md, "Flow control"), on the partition's
 * clock: pause and resume, a key's rate and concurrency, the queue-wide in-flight cap and its
 * split over partitions, and fairness over keys.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LeasedMessage } from "../../core/contract.ts";
import { inFlightShare } from "../../core/flow.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import {
  contextFor,
  leases,
  messages,
  openPartition,
  receiveNow,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

/** Limits `key` to `rate` a second with `burst`. */
function limitKey(partition: TestPartition, key: string, rate: number, burst: number) {
  return partition.stub.flow(partition.context, { kind: "limits", key, limits: { rate, burst } });
}

function keysOf(leased: LeasedMessage[]): (string | null)[] {
  return leased.map((m) => m.key);
}

describe("a key's rate", () => {
  it("delivers exactly burst at once, then rate a second, to competing consumers and across restarts", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await limitKey(partition, "hot", 10, 10);
    await sendOk(partition, messages(100, { key: "hot" }));
    await sendOk(partition, messages(5, { key: "cold" }));
    const start = partition.now();

    // Three consumers compete every 50 ms for 3 s; the instance restarts twice on the way.
    const perWindow = [0, 0, 0];
    let cold = 0;
    for (let tick = 0; tick < 60; tick++) {
      if (tick === 15 || tick === 33) await partition.restart();
      for (let consumer = 0; consumer < 3; consumer++) {
        const { messages: leased } = await receiveNow(partition, 7, 600);
        for (const key of keysOf(leased)) {
          if (key === "hot") perWindow[Math.floor((partition.now() - start) / 1000)]++;
          else cold++;
        }
        await partition.stub.ack(partition.context, leases(leased.map((m) => m.receipt)));
      }
      partition.advance(50);
    }

    // The first second: the burst of 10 at once and one more every 100 ms after (t = 100 …
    // 900 ms); every second after that: exactly 10.
    expect(perWindow).toEqual([19, 10, 10]);
    // The held key never held the other back: its messages went with the first receive.
    expect(cold).toBe(5);
  });

  it("wakes a waiting receive by the alarm once the key's bucket holds a token again", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await limitKey(partition, "k", 1, 1);
    await sendOk(partition, messages(2, { key: "k" }));
    expect((await receiveNow(partition, 10)).messages).toHaveLength(1);
    expect((await receiveNow(partition, 10)).messages).toHaveLength(0);
    expect(await partition.alarmAt()).toBe(partition.now() + 1_000);

    const waiting = partition.stub.receive(partition.context, { max: 10, waitMs: 30_000 });
    await partition.stub.stats(partition.context);
    partition.advance(1_000);
    await partition.runAlarm();
    expect((await waiting).messages).toHaveLength(1);
  });

  it("applies the queue's keyLimits to every key, and a key's own limits over them", async () => {
    const partition = await openPartition({
      ordering: "unordered",
      keyLimits: { rate: 2, burst: 2 },
    });
    await partition.stub.flow(partition.context, {
      kind: "limits",
      key: "vip",
      limits: { burst: 5 },
    });
    await sendOk(partition, messages(10, { key: "a" }));
    await sendOk(partition, messages(10, { key: "vip" }));
    await sendOk(partition, messages(3));

    const leased = keysOf((await receiveNow(partition, 100)).messages);
    expect(leased.filter((key) => key === "a")).toHaveLength(2);
    expect(leased.filter((key) => key === "vip")).toHaveLength(5);
    // Messages without a key have no key limits.
    expect(leased.filter((key) => key === null)).toHaveLength(3);

    const { key } = await partition.stub.flow(partition.context, { kind: "look", key: "vip" });
    expect(key).toMatchObject({
      limits: { burst: 5 },
      effective: { rate: 2, burst: 5 },
      leased: 5,
      waiting: 5,
    });
  });
});

describe("a key's concurrency", () => {
  it("is never exceeded, and never holds other keys back", async () => {
    const partition = await openPartition({ ordering: "unordered", keyLimits: { concurrency: 3 } });
    await sendOk(partition, messages(20, { key: "k" }));
    await sendOk(partition, messages(4, { key: "other" }));
    const out: LeasedMessage[] = [];
    let delivered = 0;
    for (let round = 0; round < 30 && delivered < 24; round++) {
      const { messages: leased, stats } = await receiveNow(partition, 10);
      out.push(...leased);
      delivered += leased.length;
      expect(out.filter((m) => m.key === "k").length).toBeLessThanOrEqual(3);
      if (round === 0) {
        expect(keysOf(leased).filter((key) => key === "other")).toHaveLength(3);
        expect(stats.flow.heldKeys).toEqual([
          expect.objectContaining({ key: "k", reason: "concurrency" }),
          expect.objectContaining({ key: "other", reason: "concurrency" }),
        ]);
      }
      // Ack one of each key's leases a round.
      for (const key of ["k", "other"]) {
        const index = out.findIndex((m) => m.key === key);
        if (index < 0) continue;
        const [acked] = out.splice(index, 1);
        expect((await partition.stub.ack(partition.context, leases([acked.receipt]))).acked).toBe(
          1,
        );
      }
    }
    expect(delivered).toBe(24);
  });
});

describe("pause and resume", () => {
  it("leases nothing while paused, also after a restart, and takes sends and settles leases", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await sendOk(partition, messages(4));
    const [out] = (await receiveNow(partition)).messages;

    const paused = await partition.stub.flow(partition.context, {
      kind: "pause",
      key: null,
      until: null,
    });
    expect(paused.flow).toMatchObject({ paused: true, pausedUntil: null });
    expect((await receiveNow(partition, 10)).messages).toEqual([]);
    // Sends are still taken; the lease already out can still be extended and acked.
    await sendOk(partition, messages(2));
    expect(
      (await partition.stub.extend(partition.context, leases([out.receipt]), 60)).extended,
    ).toBe(1);
    expect((await partition.stub.ack(partition.context, leases([out.receipt]))).acked).toBe(1);

    await partition.restart();
    const { messages: none, stats } = await receiveNow(partition, 10);
    expect(none).toEqual([]);
    expect(stats.flow.paused).toBe(true);
    expect(stats.ready).toBe(5);

    await partition.stub.flow(partition.context, { kind: "resume", key: null });
    expect((await receiveNow(partition, 10)).messages).toHaveLength(5);
  });

  it("wakes a long poll at once on resume", async () => {
    const partition = await openPartition();
    await partition.stub.flow(partition.context, { kind: "pause", key: null, until: null });
    await sendOk(partition, messages(1));
    // A wait far longer than the test's own timeout: only the resume can answer it in time.
    const waiting = partition.stub.receive(partition.context, { max: 1, waitMs: 60_000 });
    await partition.stub.stats(partition.context);
    await partition.stub.flow(partition.context, { kind: "resume", key: null });
    expect((await waiting).messages).toHaveLength(1);
  });

  it("resumes by itself at `until`, by the alarm", async () => {
    const partition = await openPartition();
    const until = partition.now() + 5_000;
    await partition.stub.flow(partition.context, { kind: "pause", key: null, until });
    await sendOk(partition, messages(1));
    expect(await partition.alarmAt()).toBe(until);
    const waiting = partition.stub.receive(partition.context, { max: 1, waitMs: 60_000 });
    await partition.stub.stats(partition.context);
    partition.advance(5_000);
    await partition.runAlarm();
    expect((await waiting).messages).toHaveLength(1);
    expect((await partition.stub.stats(partition.context)).flow.paused).toBe(false);
  });

  it("pauses one key without holding the others back (fifo: the key's group)", async () => {
    const partition = await openPartition({ ordering: "fifo" });
    await sendOk(partition, [...messages(2, { key: "stop" }), ...messages(2, { key: "go" })]);
    const { flow } = await partition.stub.flow(partition.context, {
      kind: "pause",
      key: "stop",
      until: null,
    });
    expect(flow.pausedKeys).toBe(1);
    const { messages: leased, stats } = await receiveNow(partition, 10);
    expect(keysOf(leased)).toEqual(["go", "go"]);
    expect(stats.flow.heldKeys).toEqual([
      { key: "stop", reason: "paused", oldestSentAt: partition.now() },
    ]);
    await partition.stub.flow(partition.context, { kind: "resume", key: "stop" });
    expect(keysOf((await receiveNow(partition, 10)).messages)).toEqual(["stop", "stop"]);
  });
});

describe("push while paused", () => {
  it("pushes nothing while the queue is paused, and pushes once it is resumed", async () => {
    const push = { url: "https://hooks.test/sluice", batchSize: 10, timeout: 5, concurrency: 1 };
    const partition = await openPartition({ ordering: "unordered", push });
    let pushed = 0;
    await runInDurableObject(partition.stub, (instance: Partition) => {
      instance.fetcher = async (input, init) => {
        const { messages: batch } = await new Request(input, init).json<{ messages: unknown[] }>();
        pushed += batch.length;
        return new Response(null, { status: 204 });
      };
    });
    await partition.stub.flow(partition.context, { kind: "pause", key: null, until: null });
    await sendOk(partition, messages(3));
    await partition.runAlarm();
    expect(pushed).toBe(0);
    // Nothing to push while paused: the alarm waits for retention alone.
    expect(await partition.alarmAt()).toBe(partition.now() + 4 * 86_400_000);

    await partition.stub.flow(partition.context, { kind: "resume", key: null });
    expect(await partition.alarmAt()).toBe(partition.now());
    await partition.runAlarm();
    expect(pushed).toBe(3);
  });
});

describe("the queue-wide in-flight cap", () => {
  it("splits maxInFlight over partitions so the shares add up to it", () => {
    for (const [cap, partitions] of [
      [5, 2],
      [7, 3],
      [64, 64],
      [100, 7],
    ]) {
      const shares = Array.from({ length: partitions }, (_, i) =>
        inFlightShare(cap, partitions, i),
      );
      expect(shares.reduce((a, b) => a + b, 0)).toBe(cap);
      expect(Math.min(...shares)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
    expect([0, 1].map((i) => inFlightShare(5, 2, i))).toEqual([3, 2]);
  });

  it("leases at most each partition's share", async () => {
    const config = { ordering: "unordered", partitions: 2, maxInFlight: 5 };
    const first = await openPartition(config);
    const second = env.PARTITION.getByName(`${first.queue}/1`);
    const context = contextFor(config);
    await sendOk(first, messages(10));
    await second.send(context, messages(10));

    const fromFirst = (await receiveNow(first, 10)).messages;
    const fromSecond = (await second.receive(context, { max: 10, waitMs: 0 })).messages;
    expect([fromFirst.length, fromSecond.length]).toEqual([3, 2]);
    expect((await receiveNow(first, 10)).messages).toEqual([]);
    await first.stub.ack(first.context, leases([fromFirst[0].receipt]));
    expect((await receiveNow(first, 10)).messages).toHaveLength(1);
  });
});

describe('fairness: "keys"', () => {
  it("hands ready messages out round-robin over keys, not oldest first", async () => {
    const fair = await openPartition({ ordering: "unordered", fairness: "keys" });
    const oldest = await openPartition({ ordering: "unordered" });
    for (const partition of [fair, oldest]) {
      await sendOk(partition, messages(50, { key: "hot" }));
      for (const key of ["a", "b", "c"]) await sendOk(partition, messages(2, { key }));
    }
    expect(keysOf((await receiveNow(oldest, 4)).messages)).toEqual(["hot", "hot", "hot", "hot"]);
    expect(keysOf((await receiveNow(fair, 4)).messages)).toEqual(["hot", "a", "b", "c"]);
    // The keys served longest ago go first: the hot key waits its turn.
    expect(keysOf((await receiveNow(fair, 4)).messages)).toEqual(["hot", "a", "b", "c"]);
    expect(keysOf((await receiveNow(fair, 4)).messages)).toEqual(["hot", "hot", "hot", "hot"]);
  });

  it("keeps a fifo key's order: a key's turn takes its next message", async () => {
    const partition = await openPartition({ ordering: "fifo", fairness: "keys" });
    await sendOk(partition, messages(5, { key: "hot" }));
    await sendOk(partition, messages(1, { key: "cold" }));
    const leased = (await receiveNow(partition, 3)).messages;
    expect(leased.map((m) => [m.key, m.seq])).toEqual([
      ["hot", 1],
      ["cold", 6],
      ["hot", 2],
    ]);
  });
});

describe("rows", () => {
  it("costs a receive one row more only when it leases from a rate-limited key", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await limitKey(partition, "limited", 1_000, 1_000);
    // Three rounds, so each receive takes from a segment of its own.
    await sendOk(partition, messages(1, { key: "free" }));
    await sendOk(partition, messages(1, { key: "limited" }));
    await sendOk(partition, messages(1, { key: "limited" }));
    const written = async () => (await partition.stub.stats(partition.context)).usage.rowsWritten;
    const receiveOne = async () => {
      const before = await written();
      const { messages: leased } = await receiveNow(partition);
      return { keys: keysOf(leased), rows: (await written()) - before };
    };

    const free = await receiveOne();
    expect(free).toEqual({ keys: ["free"], rows: 1 });
    // The first writes the `rate` row (with its primary-key entry), later ones update it.
    expect(await receiveOne()).toEqual({ keys: ["limited"], rows: 3 });
    expect(await receiveOne()).toEqual({ keys: ["limited"], rows: 2 });
  });
});
