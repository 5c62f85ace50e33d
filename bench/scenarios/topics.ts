/**
 * Publish fan-out: a topic with 1, 4 and 16 subscribed queues (one partition each, no
 * filters), published to by concurrent publishers with batches of messages that each carry a
 * dedupId, as the SDK sends them. Measured: copies stored per second (publishes × queues),
 * and what one subscriber's copy costs, from the partitions' own usage counters (see
 * cost.ts) and the HTTP requests made, priced by price.ts.
 *
 * The publishers run in this process (plain fetch, no load-generator job): the figure is the
 * ratio between fan-outs, which a shared client affects alike.
 */
import type { Bench } from "../bench.ts";
import { type BilledUnits, usdPerMillion } from "../price.ts";
import { ADMIN_TOKEN, type Runtime } from "../runtime.ts";
import { difference, partitionUsage, type Usage } from "./cost.ts";
import { createQueue } from "./sluice.ts";

export const FAN_OUTS = [1, 4, 16] as const;
const PUBLISHERS = 16;
const BATCH = 10;
const BODY = { padding: "x".repeat(1000) };

export interface FanOutDetail {
  subscriptions: number;
  publishes: number;
  /** Copies stored: every message of every publish, in every queue. */
  copies: number;
  elapsedMs: number;
  /** What one subscriber's copy used on average, and its price per million copies. */
  perCopy: BilledUnits;
  usdPerMillionCopies: number;
}

export async function runTopicScenarios(bench: Bench, runtime: Runtime): Promise<void> {
  for (const subscriptions of FAN_OUTS) {
    await bench.scenario(
      {
        id: `sluice/topic/fanout-${subscriptions}`,
        system: "Sluice",
        kind: "produce",
        scenario: `publish fan-out to ${subscriptions} subscription${subscriptions === 1 ? "" : "s"}`,
        setup: `${PUBLISHERS} publishers × ${BATCH} messages with a dedupId, ${subscriptions} queues of 1 partition; rate is copies stored`,
        unit: "msg/s",
      },
      async () => {
        const detail = await fanOut(bench, runtime.origins.sluice, subscriptions);
        return {
          rate: Math.round((detail.copies * 1000) / detail.elapsedMs),
          latency: null,
          cpu: null,
          detail,
        };
      },
    );
  }
}

async function fanOut(bench: Bench, origin: string, subscriptions: number): Promise<FanOutDetail> {
  const topic = `fanout-${subscriptions}`;
  const queues = Array.from({ length: subscriptions }, (_, index) => `${topic}-q${index}`);
  for (const queue of queues) {
    await createQueue(origin, queue, {
      partitions: 1,
      ordering: "unordered",
      backlog: { soft: 50_000_000, hard: 100_000_000 },
    });
  }
  await call(origin, "PUT", `/v1/topics/${topic}`, {
    subscriptions: queues.map((queue) => ({ queue })),
  });
  // Warm up (and start every partition) before the usage is read.
  await publishFor(origin, topic, bench.plan.warmupMs);
  const before = await Promise.all(queues.map((queue) => partitionUsage(origin, queue)));
  const { publishes, elapsedMs } = await publishFor(origin, topic, bench.plan.durationMs);
  const after = await Promise.all(queues.map((queue) => partitionUsage(origin, queue)));

  const copies = publishes * BATCH * subscriptions;
  const used = sum(after.map((usage, index) => difference(usage, before[index])));
  const perCopy: BilledUnits = {
    workerRequests: publishes / copies,
    durableObjectRequests: used.requests / copies,
    rowsWritten: used.rowsWritten / copies,
    rowsRead: used.rowsRead / copies,
  };
  return {
    subscriptions,
    publishes,
    copies,
    elapsedMs,
    perCopy,
    usdPerMillionCopies: usdPerMillion(perCopy),
  };
}

/** Publishes from `PUBLISHERS` loops for `ms`; a publish that is not a 201 fails the scenario. */
async function publishFor(origin: string, topic: string, ms: number) {
  const started = Date.now();
  const deadline = started + ms;
  let publishes = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: PUBLISHERS }, async () => {
      while (Date.now() < deadline) {
        const id = next++;
        const messages = Array.from({ length: BATCH }, (_, index) => ({
          body: BODY,
          dedupId: `${topic}-${started}-${id}-${index}`,
        }));
        await call(origin, "POST", `/v1/topics/${topic}/messages`, { messages }, 201);
        publishes++;
      }
    }),
  );
  return { publishes, elapsedMs: Date.now() - started };
}

async function call(origin: string, method: string, path: string, body: object, expect?: number) {
  const answer = await fetch(`${origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await answer.text();
  if (expect === undefined ? !answer.ok : answer.status !== expect) {
    throw new Error(`${method} ${path} answered ${answer.status}: ${text.slice(0, 300)}`);
  }
}

function sum(usages: Usage[]): Usage {
  return usages.reduce((total, usage) => ({
    requests: total.requests + usage.requests,
    statements: total.statements + usage.statements,
    rowsRead: total.rowsRead + usage.rowsRead,
    rowsWritten: total.rowsWritten + usage.rowsWritten,
  }));
}
