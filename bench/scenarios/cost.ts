/**
 * What a message costs Sluice: whole lives (send → receive → ack, each message with a dedupId,
 * and the clean-up that deletes its row once its dedup window ends) on a fresh one-partition
 * queue, metered by the partition's own usage counters (`stats.usage` of GET /v1/queues/:q:
 * requests, statements, rows read and rows written since the object started) and by the HTTP
 * requests the load generator made. report.ts turns them into rows per message and a price
 * (bench/README.md, "What a message costs").
 */
import type { Bench } from "../bench.ts";
import type { LivesMode, LivesSummary } from "../load/lives.ts";
import type { Target } from "../load/main.ts";
import { ADMIN_TOKEN, type Runtime } from "../runtime.ts";
import { createQueue } from "./sluice.ts";

export interface Usage {
  requests: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

const USAGE_FIELDS = ["requests", "statements", "rowsRead", "rowsWritten"] as const;

/** What one scenario's lives used, with the HTTP requests that carried them. */
export interface LivesCost extends LivesSummary {
  /**
   * Partition usage over the lives and their clean-up (the stats reads that metered them
   * taken out).
   */
  usage: Usage;
  /** Of `usage.rowsWritten`, what the clean-up after the lives wrote (its deletes). */
  cleanupRowsWritten: number;
}

/**
 * The lives' queue keeps dedup ids for a second (their ids are all different anyway), so the
 * clean-up that deletes emptied segments runs within the scenario: at most CLEANUP_INTERVAL_MS
 * (5 s, durable-objects/partition/log.ts) after the one before, and after the window ends.
 */
const DEDUP_WINDOW_SECONDS = 1;
const CLEANUP_WAIT_MS = 7_000;

const SETUPS: Record<LivesMode, string> = {
  batched: "1 sender × sends of 100, 1 consumer receiving 100 and acking them in one call",
  single:
    "32 concurrent senders × 1 message, then 8 consumers receiving up to 10 and acking each receive in one call",
  lone: "one message at a time: send 1, receive 1, ack 1",
};

export async function runCostScenarios(bench: Bench, runtime: Runtime): Promise<void> {
  const counts = bench.plan.lives;
  for (const mode of ["batched", "single", "lone"] as const) {
    await bench.scenario(
      {
        id: `sluice/lives/${mode}`,
        system: "Sluice",
        kind: "cost",
        scenario: `whole message lives, ${mode}`,
        setup: `${counts[mode].toLocaleString("en")} messages with a dedupId, ${SETUPS[mode]}, 1 partition`,
        unit: "msg/s",
      },
      async () => {
        const cost = await meterLives(bench, runtime, mode, counts[mode]);
        return {
          rate: Math.round((cost.messages * 1000) / cost.elapsedMs),
          latency: null,
          cpu: null,
          detail: cost,
        };
      },
    );
  }
}

async function meterLives(
  bench: Bench,
  runtime: Runtime,
  mode: LivesMode,
  messages: number,
): Promise<LivesCost> {
  const origin = runtime.origins.sluice;
  const queue = `lives-${mode}`;
  await createQueue(origin, queue, {
    partitions: 1,
    ordering: "unordered",
    dedupWindow: DEDUP_WINDOW_SECONDS,
  });
  // The first read starts the partition, so its start-up writes stay out of the figures.
  const before = await partitionUsage(origin, queue);
  const target: Target = {
    system: "sluice",
    origin,
    token: ADMIN_TOKEN,
    queue,
    receiveMax: bench.plan.receiveMax,
    dedup: true,
  };
  const { result } = await bench.job<LivesSummary>(
    { target, workload: { kind: "lives", options: { mode, messages } } },
    runtime.workerdPid,
  );
  const lived = await partitionUsage(origin, queue);
  await new Promise((resolve) => setTimeout(resolve, CLEANUP_WAIT_MS));
  const after = await partitionUsage(origin, queue);
  // Whatever a stats read itself costs the partition is counted twice in `after - before`.
  const oneRead = difference(await partitionUsage(origin, queue), after);
  const usage = difference(difference(difference(after, before), oneRead), oneRead);
  const cleanupRowsWritten = after.rowsWritten - lived.rowsWritten - oneRead.rowsWritten;
  for (const field of USAGE_FIELDS) {
    if (usage[field] < 0) {
      throw new Error(`usage.${field} went backwards: the partition restarted during the lives`);
    }
  }
  if (cleanupRowsWritten <= 0) {
    throw new Error(
      `no clean-up ran within ${CLEANUP_WAIT_MS} ms of the lives: their rows' deletes would be left out`,
    );
  }
  return { ...result, usage, cleanupRowsWritten };
}

export function difference(a: Usage, b: Usage): Usage {
  return {
    requests: a.requests - b.requests,
    statements: a.statements - b.statements,
    rowsRead: a.rowsRead - b.rowsRead,
    rowsWritten: a.rowsWritten - b.rowsWritten,
  };
}

/** The queue's `stats.usage`, or an error saying the partition does not report it. */
export async function partitionUsage(origin: string, queue: string): Promise<Usage> {
  const answer = await fetch(`${origin}/v1/queues/${queue}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (answer.status !== 200) {
    throw new Error(`GET /v1/queues/${queue} answered ${answer.status}: ${await answer.text()}`);
  }
  const { stats } = (await answer.json()) as { stats?: { usage?: Partial<Usage> } };
  const usage = stats?.usage;
  const missing = USAGE_FIELDS.filter((field) => typeof usage?.[field] !== "number");
  if (!usage || missing.length > 0) {
    throw new Error(
      `GET /v1/queues/:q has no stats.usage.${missing.join(", ")}: the partition does not report its usage, so rows per message cannot be measured`,
    );
  }
  return usage as Usage;
}
