/**
 * The partition's metrics history: one bucket per minute with traffic, kept for 24 hours
 * (docs/architecture.md, "Metrics history"). A bucket holds what happened in its minute (sent,
 * acked, nacked, dead-lettered, expired, shed: sends refused at the hard backlog), the backlog
 * and the oldest message's age at the minute's end, and the receive-to-ack latency p50 and p99.
 *
 * Cost: at most one row written per minute with traffic, none when idle. The open minute is
 * counted in memory; its row is written inside the first operation or alarm of a later minute
 * (the transaction the partition runs anyway, from the log's sweep). No timer of its own wakes
 * the partition for it: until then, reads answer the open minute from memory. The table is a
 * ring of 1 440 slots (minute mod 1 440), so a row overwrites the one from 24 hours before in
 * place, and nothing is ever deleted. Each row also keeps the cumulative counters at its
 * minute's end, so traffic counted in memory but not written when the object stopped is written
 * after a restart, as the minute before the first operation's (or the minute after the newest
 * row, if later): its minute itself was only in memory.
 */
import type { HistoryBucket, PartitionStats } from "../../core/contract.ts";
import type { Migration, Sql } from "../sql.ts";

const MINUTE_MS = 60_000;
/** 24 hours of minutes: the ring's slots. */
export const HISTORY_MINUTES = 1_440;
/** Latencies kept per minute for its percentiles; past this, every other one is dropped. */
const MAX_SAMPLES = 4_096;

type Counters = Pick<
  HistoryBucket,
  "sent" | "acked" | "nacked" | "deadLettered" | "expired" | "shed"
>;
const COUNTERS = ["sent", "acked", "nacked", "deadLettered", "expired", "shed"] as const;

/** What the history reads of the log: its stats, as they stand. */
export type LogStats = Pick<
  PartitionStats,
  "ready" | "leased" | "delayed" | "oldestSentAt" | "sent" | "acked" | "nacked" | "expired"
> & { deadLettered: number };

/** The baseline row's slot and minute, outside the ring and before every minute read. */
const BASELINE = -1;

/**
 * Schema step: the ring, and a baseline row holding the counters the history starts from, so
 * traffic counted only in memory before the first minute's row is not lost at a restart. A new
 * partition starts from zero; one that already held messages gets its baseline at its next
 * start (`totals` NULL until then), so its past is not taken for one minute's traffic.
 */
export const HISTORY_MIGRATION: Migration = (sql) => {
  sql`CREATE TABLE history (
    slot INTEGER PRIMARY KEY,
    minute INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    totals TEXT
  )`;
  const { used } = sql<{ used: number }>`
    SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM segments)
      + (SELECT count(*) FROM held) AS used`.one();
  const totals = used === 0 ? JSON.stringify(zeros()) : null;
  sql`INSERT INTO history (slot, minute, bucket, totals)
    VALUES (${BASELINE}, ${BASELINE}, '', ${totals})`;
};

type Row = { slot: number; minute: number; bucket: string; totals: string | null };

interface OpenMinute {
  minute: number;
  /** Cumulative counters when the minute opened. */
  base: Counters;
  latencies: number[];
}

export class MetricsHistory {
  readonly #sql: Sql;
  readonly #stats: () => LogStats;
  #open: OpenMinute = { minute: 0, base: zeros(), latencies: [] };
  /** False from a load until the first operation after it opens a minute (`roll`). */
  #opened = false;
  /** The newest row as the load found it, for the first operation after the load. */
  #newestAtLoad: Row | undefined;
  /** Sends refused at the hard backlog since the object started. */
  #shed = 0;

  constructor(sql: Sql, stats: () => LogStats) {
    this.#sql = sql;
    this.#stats = stats;
  }

  /**
   * From the log's load: reads the newest row now, so the first operation after the load (a
   * send within its statement budget) only writes when a minute was lost; that operation opens
   * a minute (`roll`).
   */
  load(): void {
    this.#opened = false;
    [this.#newestAtLoad] = this
      .#sql<Row>`SELECT * FROM history ORDER BY minute DESC LIMIT 1`.toArray();
  }

  /**
   * Opens the current minute after a load. Traffic the counters show past the newest row
   * (counted in memory when the object stopped) is written as the minute before this one.
   */
  #openAfterLoad(minute: number): void {
    this.#opened = true;
    const counters = this.#counters();
    const newest = this.#newestAtLoad;
    this.#newestAtLoad = undefined;
    if (newest?.totals === null) {
      // The first start since the schema step, of a partition that held messages before it.
      this.#sql`UPDATE history SET totals = ${JSON.stringify(counters)} WHERE slot = ${BASELINE}`;
    } else if (newest !== undefined) {
      const lost: OpenMinute = {
        minute: Math.max(newest.minute + 1, minute - 1),
        base: { ...JSON.parse(newest.totals as string), shed: counters.shed },
        latencies: [],
      };
      if (lost.minute < minute && hasTraffic(lost, counters)) this.#write(lost, counters);
    }
    this.#open = { minute, base: counters, latencies: [] };
  }

  /**
   * Before each operation and alarm (the log's sweep, inside the partition's transaction): a
   * minute that ended is written, one row when it had traffic, with the log as it ended.
   */
  roll(now: number): void {
    const minute = Math.floor(now / MINUTE_MS);
    if (!this.#opened) {
      this.#openAfterLoad(minute);
      return;
    }
    if (minute <= this.#open.minute) return;
    const counters = this.#counters();
    if (hasTraffic(this.#open, counters)) this.#write(this.#open, counters);
    this.#open = { minute, base: counters, latencies: [] };
  }

  /** An ack, `latencyMs` after its lease began. */
  acked(latencyMs: number): void {
    sample(this.#open.latencies, Math.max(0, latencyMs));
  }

  /** A send refused at the hard backlog. */
  refused(): void {
    this.#shed++;
  }

  /** `{history}` for a `[from, to]` range (epoch ms, inclusive; the open minute's so far too). */
  of(range?: [from: number, to: number]): { history?: HistoryBucket[] } {
    return range === undefined ? {} : { history: this.read(range[0], range[1]) };
  }

  read(from: number, to: number): HistoryBucket[] {
    const first = Math.floor(from / MINUTE_MS);
    const last = Math.floor(to / MINUTE_MS);
    const buckets = this.#sql<Row>`
      SELECT * FROM history WHERE slot != ${BASELINE} AND minute >= ${first} AND minute <= ${last}
      ORDER BY minute`
      .toArray()
      .map((row) => JSON.parse(row.bucket) as HistoryBucket);
    const open = this.#open;
    const counters = this.#counters();
    if (open.minute >= first && open.minute <= last && hasTraffic(open, counters)) {
      buckets.push(this.#bucket(open, counters));
    }
    return buckets;
  }

  #write(open: OpenMinute, counters: Counters): void {
    const bucket = JSON.stringify(this.#bucket(open, counters));
    this.#sql`
      INSERT INTO history (slot, minute, bucket, totals)
      VALUES (${open.minute % HISTORY_MINUTES}, ${open.minute}, ${bucket}, ${JSON.stringify(counters)})
      ON CONFLICT (slot) DO UPDATE SET minute = excluded.minute, bucket = excluded.bucket,
        totals = excluded.totals`;
  }

  #counters(): Counters {
    const stats = this.#stats();
    return {
      sent: stats.sent,
      acked: stats.acked,
      nacked: stats.nacked,
      deadLettered: stats.deadLettered,
      expired: stats.expired,
      shed: this.#shed,
    };
  }

  /** The bucket of `open`, its gauges read from the log as it stands (the minute's end). */
  #bucket(open: OpenMinute, counters: Counters): HistoryBucket {
    const stats = this.#stats();
    const end = (open.minute + 1) * MINUTE_MS;
    const sorted = [...open.latencies].sort((a, b) => a - b);
    const bucket = { at: open.minute * MINUTE_MS } as HistoryBucket;
    for (const name of COUNTERS) bucket[name] = Math.max(0, counters[name] - open.base[name]);
    return {
      ...bucket,
      backlog: stats.ready + stats.leased + stats.delayed,
      oldestAgeMs: stats.oldestSentAt === null ? 0 : Math.max(0, end - stats.oldestSentAt),
      latencyP50Ms: percentile(sorted, 0.5),
      latencyP99Ms: percentile(sorted, 0.99),
    };
  }
}

function zeros(): Counters {
  return { sent: 0, acked: 0, nacked: 0, deadLettered: 0, expired: 0, shed: 0 };
}

function hasTraffic(open: OpenMinute, counters: Counters): boolean {
  return COUNTERS.some((name) => counters[name] !== open.base[name]) || open.latencies.length > 0;
}

/** The nearest-rank percentile of sorted values, or null when there are none. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Keeps at most MAX_SAMPLES: when full, every other sample goes, so the spread stays. */
function sample(samples: number[], latency: number): void {
  if (samples.length >= MAX_SAMPLES) {
    for (let i = 0; i < samples.length / 2; i++) samples[i] = samples[i * 2];
    samples.length = Math.floor(samples.length / 2);
  }
  samples.push(latency);
}
