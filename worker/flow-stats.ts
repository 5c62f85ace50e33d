/** Flow control's part of a queue's stats (docs/architecture.md, "Flow control"). */
import type { PartitionStats } from "../core/contract.ts";
import type { QueueStats } from "./schemas.ts";

/** Flow control's part of a queue's stats, from its partitions' answers. */
export function flowStatsOf(
  partitions: PartitionStats[],
  now: number,
): Pick<QueueStats, "paused" | "pausedUntil" | "pausedKeys" | "heldKeys"> {
  const paused = partitions.some((stats) => stats.flow.paused);
  const ends = partitions.map((stats) => stats.flow.pausedUntil);
  return {
    paused,
    // Every partition is paused alike; the earliest end is when any resumes.
    pausedUntil: paused && ends.every((end) => end !== null) ? Math.min(...ends) : null,
    pausedKeys: partitions.reduce((sum, stats) => sum + stats.flow.pausedKeys, 0),
    heldKeys: partitions
      .flatMap((stats) =>
        stats.flow.heldKeys.map((held) => ({
          key: held.key,
          partition: stats.partition,
          reason: held.reason,
          oldestWaitMs: Math.max(0, now - held.oldestSentAt),
        })),
      )
      .sort((a, b) => b.oldestWaitMs - a.oldestWaitMs),
  };
}
