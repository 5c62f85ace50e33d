/**
 * The partition's metrics history (partition/history.ts) on the test clock: one row per minute
 * with traffic, written inside an operation the partition runs anyway or by the alarm at the
 * minute's end; none when idle; a ring of 24 hours.
 */
import { describe, expect, it } from "vitest";
import type { HistoryBucket } from "../../core/contract.ts";
import {
  leases,
  messages,
  openPartition,
  receiveNow,
  START,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;

/** Rows written so far, by the partition's own meter (a stats call: an operation too). */
async function written(partition: TestPartition): Promise<number> {
  return (await partition.stub.stats(partition.context)).usage.rowsWritten;
}

async function history(partition: TestPartition, from: number, to: number) {
  return (await partition.stub.stats(partition.context, [from, to])).history as HistoryBucket[];
}

const historyRows = (partition: TestPartition) =>
  partition.rows<{ minute: number }>(
    "SELECT minute FROM history WHERE minute >= 0 ORDER BY minute",
  );

describe("metrics history", () => {
  it("writes one row per minute with traffic, inside a later operation, and none when idle", async () => {
    const partition = await openPartition();
    const start = await written(partition);
    // Two rounds in the first minute: a segment row each, no history row yet.
    await sendOk(partition, messages(3));
    await sendOk(partition, messages(2));
    const first = await written(partition);
    expect(first - start).toBe(2);
    expect(await historyRows(partition)).toEqual([]);

    // The first round of the next minute writes the minute before: its segment row and one more.
    partition.advance(MINUTE);
    await sendOk(partition, messages(1));
    const second = await written(partition);
    expect(second - first).toBe(2);
    expect(await historyRows(partition)).toEqual([{ minute: START / MINUTE }]);

    // A read in a later minute writes the last minute with traffic; idle minutes write nothing.
    partition.advance(10 * MINUTE);
    expect((await written(partition)) - second).toBe(1);
    let idle = await written(partition);
    for (let minute = 0; minute < 5; minute++) {
      partition.advance(MINUTE);
      const now = await written(partition);
      expect(now - idle).toBe(0);
      idle = now;
    }
    expect((await historyRows(partition)).length).toBe(2);
  });

  it("sets no alarm of its own, and writes on an alarm the partition runs anyway", async () => {
    const partition = await openPartition({ dedupWindow: 0 });
    await sendOk(partition, messages(2));
    // The messages' retention is the only time due: no wake-up at the minute's end.
    expect(await partition.alarmAt()).toBe(START + 4 * DAY);
    partition.advance(MINUTE);
    await partition.runAlarm();
    expect(await historyRows(partition)).toEqual([{ minute: START / MINUTE }]);
  });

  it("counts the minute's traffic, its backlog and oldest age at the end, and ack latency", async () => {
    const partition = await openPartition({ retry: { initialDelay: 30, jitter: false } });
    await sendOk(partition, messages(3));
    partition.advance(1_000);
    const { messages: leased } = await receiveNow(partition, 3);
    partition.advance(2_000);
    await partition.stub.ack(partition.context, leases([leased[0].receipt]));
    partition.advance(2_000);
    await partition.stub.ack(partition.context, leases([leased[1].receipt]));
    await partition.stub.nack(partition.context, leases([leased[2].receipt]), {});

    const [open] = await history(partition, START, START + MINUTE);
    const expected = {
      at: START,
      sent: 3,
      acked: 2,
      nacked: 1,
      deadLettered: 0,
      expired: 0,
      shed: 0,
      backlog: 1,
      oldestAgeMs: MINUTE,
      latencyP50Ms: 2_000,
      latencyP99Ms: 4_000,
    };
    expect(open).toEqual(expected); // the open minute, from memory
    partition.advance(MINUTE);
    expect(await history(partition, START, START + MINUTE)).toEqual([expected]); // as written
  });

  it("counts sends refused at the hard backlog as shed", async () => {
    const partition = await openPartition({ backlog: { soft: 1, hard: 2 } });
    await sendOk(partition, messages(2));
    expect(await partition.stub.send(partition.context, messages(1))).toMatchObject({
      ok: false,
      code: "backlog_full",
    });
    expect(await history(partition, START, START)).toMatchObject([{ sent: 2, shed: 1 }]);
  });

  it("keeps 24 hours: a minute's slot is written over a day later", async () => {
    const partition = await openPartition();
    await sendOk(partition, messages(1));
    partition.advance(DAY);
    await sendOk(partition, messages(4));
    partition.advance(MINUTE);
    await partition.stub.stats(partition.context);
    expect(await historyRows(partition)).toEqual([{ minute: (START + DAY) / MINUTE }]);
    expect(await history(partition, START, START + DAY + MINUTE)).toMatchObject([
      { at: START + DAY, sent: 4 },
    ]);
  });

  it("writes what it counted before a restart as the minute before the one it restarts in", async () => {
    const partition = await openPartition();
    await sendOk(partition, messages(1));
    partition.advance(MINUTE);
    await sendOk(partition, messages(2)); // writes the first minute; the second is in memory
    await partition.restart();
    partition.advance(2 * MINUTE);
    await partition.stub.stats(partition.context);
    expect(await history(partition, START, START + 10 * MINUTE)).toMatchObject([
      { at: START, sent: 1 },
      { at: START + 2 * MINUTE, sent: 2 },
    ]);
  });

  it("keeps a new partition's first traffic when it restarts before any minute was written", async () => {
    const partition = await openPartition();
    await sendOk(partition, messages(5));
    await partition.restart();
    partition.advance(3 * MINUTE);
    await partition.stub.stats(partition.context);
    expect(await history(partition, START, START + 10 * MINUTE)).toMatchObject([
      { at: START + 2 * MINUTE, sent: 5 },
    ]);
  });
});
