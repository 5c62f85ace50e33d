/**
 * The service layer when a partition is overloaded, which workerd cannot be made to do on
 * demand: these tests give `service.ts` an environment whose partitions are stand-ins.
 */
import { describe, expect, it } from "vitest";
import type { LeasedMessage, NewMessage, PartitionStats } from "../../core/contract.ts";
import type { QueueRecord } from "../../core/queue-config.ts";
import { QueueConfigSchema } from "../../core/queue-config.ts";
import { encodeReceipt } from "../../core/receipt.ts";
import { isOverloaded } from "../../worker/admission.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { ackMessages, receiveMessages, sendMessages } from "../../worker/service.ts";
import { queueName } from "./api.ts";

function overloaded(): Error {
  return Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
}

function statsOf(partition: number): PartitionStats {
  return {
    partition,
    ready: 0,
    leased: 0,
    delayed: 0,
    backlogBytes: 0,
    oldestSentAt: null,
    deadLettered: 0,
    pendingDeadLetters: 0,
    sent: 0,
    acked: 0,
    nacked: 0,
    expired: 0,
    flow: { paused: false, pausedUntil: null, pausedKeys: 0, heldKeys: [], inFlightShare: null },
    usage: { requests: 0, statements: 0, rowsRead: 0, rowsWritten: 0 },
  };
}

function leased(partition: number, seq: number): LeasedMessage {
  return {
    id: `m-${partition}-${seq}`,
    receipt: encodeReceipt({ partition, seq, token: "0".repeat(32) }),
    body: JSON.stringify(seq),
    contentType: "application/json",
    headers: {},
    key: null,
    priority: 0,
    attempts: 1,
    sentAt: 0,
    partition,
    seq,
    leaseExpiresAt: 0,
  };
}

/** A queue of two partitions; partition 1 is overloaded, partition 0 holds `ready`. */
function twoPartitions(ready: LeasedMessage[] = []) {
  const name = queueName("fake");
  const record: QueueRecord = {
    name,
    config: QueueConfigSchema.parse({ partitions: 2 }),
    version: 1,
    createdAt: 0,
    updatedAt: 0,
  };
  const healthy = {
    send: async (_context: unknown, messages: NewMessage[]) => ({
      ok: true,
      messages: messages.map((_, seq) => ({ id: `id-${seq}`, seq: seq + 1, duplicate: false })),
      backpressure: false,
      stats: statsOf(0),
    }),
    receive: async (_context: unknown, { max }: { max: number }) => ({
      messages: ready.splice(0, max),
      stats: statsOf(0),
    }),
    ack: async (_context: unknown, receipts: string[]) => ({
      acked: receipts.length,
      failed: [],
      stats: statsOf(0),
    }),
  };
  const broken = new Proxy(
    {},
    {
      get: () => async () => {
        throw overloaded();
      },
    },
  );
  const env = {
    CATALOG: { getByName: () => ({ getQueue: async () => record }) },
    PARTITION: { getByName: (id: string) => (id.endsWith("/0") ? healthy : broken) },
  } as unknown as Env;
  return { name, env };
}

/** Keys that route to partition 0 and to partition 1 of two. */
const KEY_ON = ["a", "b", "c", "d", "e", "f"].reduce<Record<number, string>>((found, key) => {
  found[partitionForKey(key, 2)] ??= key;
  return found;
}, {});

describe("an overloaded partition", () => {
  it("fails only its own messages of a batch", async () => {
    const { name, env } = twoPartitions();
    const outcome = await sendMessages(env, name, [
      { body: "to 1", key: KEY_ON[1], contentType: "application/json" },
      { body: "to 0", key: KEY_ON[0], contentType: "application/json" },
    ]);
    expect(outcome).toMatchObject({
      ok: true,
      messages: [{ index: 1, partition: 0 }],
      failed: [{ index: 0, code: "overloaded" }],
    });
  });

  it("refuses a send that stored nothing, with a time to retry", async () => {
    const { name, env } = twoPartitions();
    const outcome = await sendMessages(env, name, [
      { body: 1, key: KEY_ON[1], contentType: "application/json" },
    ]);
    expect(outcome).toMatchObject({ ok: false, code: "overloaded", retryAfterSeconds: 1 });
  });

  it("is skipped by a receive that finds messages elsewhere", async () => {
    const { name, env } = twoPartitions([leased(0, 1), leased(0, 2)]);
    for (let sweep = 0; sweep < 2; sweep++) {
      const outcome = await receiveMessages(env, name, { max: 1, wait: 0 });
      // The service layer passes a body on as stored: here, JSON text.
      expect(outcome).toMatchObject({
        ok: true,
        messages: [{ partition: 0, body: String(sweep + 1) }],
      });
    }
  });

  it("surfaces when a receive found nothing anywhere", async () => {
    const { name, env } = twoPartitions();
    const error = await receiveMessages(env, name, { max: 1, wait: 0 }).catch((e) => e);
    expect(isOverloaded(error)).toBe(true);
  });

  it("fails its receipts per item while the rest are acked", async () => {
    const { name, env } = twoPartitions();
    const onZero = leased(0, 7).receipt;
    const onOne = leased(1, 9).receipt;
    const outcome = await ackMessages(env, name, [onOne, onZero]);
    expect(outcome).toEqual({
      ok: true,
      acked: 1,
      failed: [{ receipt: onOne, code: "overloaded" }],
    });
  });
});
