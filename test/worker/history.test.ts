/**
 * A queue's metrics history over HTTP: the partitions' minute buckets merged, on the
 * partitions' clocks set by hand.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Partition } from "../../durable-objects/partition.ts";
import { merge } from "../../worker/history.ts";
import { HistorySchema } from "../../worker/schemas.ts";
import { client } from "../client/support.ts";
import { bucket } from "../history-bucket.ts";
import { bindingFor } from "../rpc/binding.ts";
import { call, createQueue, expectProblem, ok, queueName, receive, send } from "./api.ts";

const START = Date.UTC(2040, 0, 1);
const MINUTE = 60_000;

/** Sets every partition of `queue` to the clock `now()`. */
async function setClocks(queue: string, partitions: number, now: () => number) {
  for (let index = 0; index < partitions; index++) {
    await runInDurableObject(
      env.PARTITION.getByName(`${queue}/${index}`),
      (instance: Partition) => {
        instance.clock = now;
      },
    );
  }
}

describe("queue history", () => {
  it("merges the partitions' minutes, and answers the last hour by default", async () => {
    const name = queueName("hist");
    await createQueue(name, { partitions: 2 });
    let now = START;
    await setClocks(name, 2, () => now);
    // The keys spread the messages over both partitions; the sums do not depend on where.
    await send(name, [
      { body: 1, key: "a" },
      { body: 2, key: "b" },
      { body: 3, key: "c" },
      { body: 4, key: "d" },
    ]);
    now += MINUTE;
    await send(name, [{ body: 5, key: "a" }]);
    const leased = await receive(name, { max: 10 });
    await ok("POST", `/v1/queues/${name}/ack`, {
      json: { receipts: leased.map((m) => m.receipt) },
    });

    const history = HistorySchema.parse(
      await ok("GET", `/v1/queues/${name}/history?from=${START}&to=${START + 10 * MINUTE}`),
    );
    expect(history).toMatchObject({ from: START, to: START + 10 * MINUTE, step: 60 });
    expect(history.buckets).toMatchObject([
      { at: START, sent: 4, acked: 0, backlog: 4 },
      { at: START + MINUTE, sent: 1, acked: 5, backlog: 0, latencyP50Ms: 0, latencyP99Ms: 0 },
    ]);
    // Five-minute steps sum the minutes.
    const coarse = await ok(
      "GET",
      `/v1/queues/${name}/history?from=${START}&to=${START + 10 * MINUTE}&step=300`,
    );
    expect(coarse.buckets).toMatchObject([{ at: START, sent: 5, acked: 5, backlog: 0 }]);
    // The SDK and the service binding answer the same.
    const query = { from: START, to: START + 10 * MINUTE };
    expect(await client().getHistory(name, query)).toEqual(history);
    const key = await ok("POST", "/v1/keys", {
      json: { name: "reader", scopes: ["consume"], queues: [name] },
    });
    expect(await bindingFor(key.id).getHistory(name, query)).toEqual({ ok: true, ...history });
  });

  it("refuses a range past 24 hours, a reversed one and a step that is not whole minutes", async () => {
    const name = queueName("hist");
    await createQueue(name);
    for (const query of [
      `from=0&to=${2 * 86_400_000}`,
      "from=2000&to=1000",
      "step=90",
      "step=30",
      "bucket=1",
    ]) {
      await expectProblem(
        await call("GET", `/v1/queues/${name}/history?${query}`),
        400,
        "invalid_query",
      );
    }
    await expectProblem(
      await call("GET", `/v1/queues/${queueName("none")}/history`),
      404,
      "queue_not_found",
    );
  });

  it("answers a range that starts before 1970 (to near 0) with no buckets, not a 500", async () => {
    // The fuzzer's counterexample: `to=0` makes the default `from` an hour before the epoch,
    // a range that reached the baseline row the partition keeps apart from the minutes.
    const name = queueName("hist");
    await createQueue(name);
    for (const query of ["to=0", "to=1", "from=0&to=0"]) {
      const answer = HistorySchema.parse(await ok("GET", `/v1/queues/${name}/history?${query}`));
      expect(answer.buckets).toEqual([]);
    }
  });

  it("merges steps: counters summed, gauges at each partition's newest minute, p50 weighted by acks", () => {
    const merged = merge(
      [
        [
          bucket(START, { sent: 2, backlog: 5, oldestAgeMs: 100 }),
          bucket(START + MINUTE, {
            acked: 3,
            backlog: 2,
            oldestAgeMs: 50,
            latencyP50Ms: 10,
            latencyP99Ms: 40,
          }),
        ],
        [
          bucket(START + MINUTE, {
            acked: 1,
            backlog: 7,
            oldestAgeMs: 900,
            latencyP50Ms: 50,
            latencyP99Ms: 90,
          }),
        ],
      ],
      5 * MINUTE,
    );
    expect(merged).toEqual([
      bucket(START, {
        sent: 2,
        acked: 4,
        backlog: 9,
        oldestAgeMs: 900,
        latencyP50Ms: 20,
        latencyP99Ms: 90,
      }),
    ]);
  });
});
