/** How long and how hard each scenario runs: the full run, and a quick one for checking a change. */

export interface Plan {
  name: "full" | "quick";
  /** Unmeasured load before each measured window (JIT, caches, connections). */
  warmupMs: number;
  /** Measured window of each throughput scenario. */
  durationMs: number;
  /** Scenarios whose ratios matter run in turns, this many rounds of `roundMs` each. */
  rounds: number;
  roundMs: number;
  partitions: number[];
  /** Concurrent single-message senders. */
  singleSenders: number;
  /** Concurrent batched senders, and messages per batch. */
  batchSenders: number;
  batch: number;
  /** Messages in the backlog that consumers drain. */
  backlog: number;
  consumers: number;
  /** Messages per receive call; also the unacked credit each peer consumer gets. */
  receiveMax: number;
  drainTimeoutMs: number;
  /**
   * Whole message lives (send → receive → ack, every message with a dedupId) metered for the
   * rows they write and their price: sends of 100 received and acked 100 at a time; 32
   * concurrent single senders, then consumers receiving up to 10; one message at a time.
   */
  lives: { batched: number; single: number; lone: number };
  /** Messages of 1 KiB in the backlog of the partition whose isolate heap is measured. */
  memoryBacklog: number;
  /** The end-to-end scenario once more, with the inspector's sampling profiler on (GC pauses). */
  gcProfileMs: number;
  /** The run with the median p99 of `rounds` is kept. */
  endToEnd: { rate: number; warmupMs: number; durationMs: number; rounds: number };
  burst: {
    steadyRate: number;
    burstRate: number;
    /** Messages per request during the burst test. */
    batch: number;
    steadyMs: number;
    burstMs: number;
    afterMaxMs: number;
    /** Per partition: above soft, answers carry a slow-down hint; at hard, sends get 429. */
    softBacklog: number;
    hardBacklog: number;
  };
}

const shared = {
  singleSenders: 32,
  batchSenders: 8,
  batch: 100,
  consumers: 8,
  receiveMax: 100,
} as const;

export const FULL: Plan = {
  ...shared,
  name: "full",
  warmupMs: 2000,
  durationMs: 10_000,
  rounds: 3,
  roundMs: 4000,
  partitions: [1, 2, 4],
  backlog: 50_000,
  drainTimeoutMs: 60_000,
  lives: { batched: 20_000, single: 5000, lone: 1000 },
  memoryBacklog: 1_000_000,
  gcProfileMs: 8000,
  endToEnd: { rate: 1000, warmupMs: 2000, durationMs: 8000, rounds: 3 },
  burst: {
    steadyRate: 1000,
    burstRate: 10_000,
    batch: 10,
    steadyMs: 3000,
    burstMs: 10_000,
    afterMaxMs: 30_000,
    softBacklog: 5000,
    hardBacklog: 20_000,
  },
};

export const QUICK: Plan = {
  ...shared,
  name: "quick",
  warmupMs: 500,
  durationMs: 2000,
  rounds: 1,
  roundMs: 2000,
  partitions: [1, 4],
  // A drain of 5,000 was over in a fifth of a second, mostly its first, cold calls.
  backlog: 20_000,
  drainTimeoutMs: 15_000,
  lives: { batched: 2000, single: 1000, lone: 200 },
  memoryBacklog: 50_000,
  gcProfileMs: 2500,
  endToEnd: { rate: 1000, warmupMs: 500, durationMs: 2500, rounds: 1 },
  burst: {
    steadyRate: 1000,
    burstRate: 10_000,
    batch: 10,
    steadyMs: 1000,
    burstMs: 3000,
    afterMaxMs: 5000,
    softBacklog: 2000,
    hardBacklog: 8000,
  },
};
