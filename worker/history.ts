/**
 * A queue's metrics history: each partition's minute buckets (durable-objects/partition/
 * history.ts) merged and summed into steps (docs/architecture.md, "Metrics history").
 *
 * Counters are summed. The backlog and the oldest age of a step are those at its end: each
 * partition's newest bucket in the step, summed (backlog) or the largest (age). Percentiles
 * cannot be merged exactly: a step's p50 is the mean of its buckets' p50s weighted by their
 * acks, its p99 the largest p99.
 */
import type { HistoryBucket } from "../core/contract.ts";
import type { Principal } from "./auth.ts";
import type { Outcome } from "./outcome.ts";
import type { HistoryQuery } from "./schemas.ts";
import { queueDefinition } from "./service.ts";

export const HOUR_MS = 3_600_000;

export interface QueueHistory {
  from: number;
  to: number;
  /** Seconds per bucket. */
  step: number;
  buckets: HistoryBucket[];
}

export async function queueHistory(
  env: Env,
  principal: Principal,
  name: string,
  query: HistoryQuery,
): Promise<Outcome<QueueHistory>> {
  const queue = await queueDefinition(env, principal, name);
  if (!queue.ok) return queue;
  const { config, version } = queue.record;
  const to = query.to ?? Date.now();
  const from = query.from ?? to - HOUR_MS;
  const perPartition = await Promise.all(
    Array.from({ length: config.partitions }, async (_, index) => {
      const stub = env.PARTITION.getByName(`${name}/${index}`);
      const stats = await stub.stats({ config, configVersion: version }, [from, to]);
      return stats.history ?? [];
    }),
  );
  return { ok: true, from, to, step: query.step, buckets: merge(perPartition, query.step * 1000) };
}

/** Each partition's buckets (in time order) merged into steps of `stepMs`. */
export function merge(partitions: HistoryBucket[][], stepMs: number): HistoryBucket[] {
  const steps = new Map<number, { buckets: HistoryBucket[]; newest: Map<number, HistoryBucket> }>();
  partitions.forEach((buckets, partition) => {
    for (const bucket of buckets) {
      const at = Math.floor(bucket.at / stepMs) * stepMs;
      const step = steps.get(at) ?? { buckets: [] as HistoryBucket[], newest: new Map() };
      step.buckets.push(bucket);
      step.newest.set(partition, bucket);
      steps.set(at, step);
    }
  });
  return [...steps.entries()]
    .sort(([a], [b]) => a - b)
    .map(([at, { buckets, newest }]) => {
      const sum = (field: keyof HistoryBucket) =>
        buckets.reduce((total, bucket) => total + (bucket[field] ?? 0), 0);
      const timed = buckets.filter((bucket) => bucket.latencyP50Ms !== null && bucket.acked > 0);
      const acks = timed.reduce((total, bucket) => total + bucket.acked, 0);
      const ends = [...newest.values()];
      return {
        at,
        sent: sum("sent"),
        acked: sum("acked"),
        nacked: sum("nacked"),
        deadLettered: sum("deadLettered"),
        expired: sum("expired"),
        shed: sum("shed"),
        backlog: ends.reduce((total, bucket) => total + bucket.backlog, 0),
        oldestAgeMs: Math.max(0, ...ends.map((bucket) => bucket.oldestAgeMs)),
        latencyP50Ms:
          acks === 0
            ? null
            : Math.round(
                timed.reduce((total, b) => total + (b.latencyP50Ms as number) * b.acked, 0) / acks,
              ),
        latencyP99Ms:
          timed.length === 0 ? null : Math.max(...timed.map((b) => b.latencyP99Ms as number)),
      };
    });
}
