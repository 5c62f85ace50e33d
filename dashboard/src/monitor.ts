/**
 * Live queue stats. The API answers with current depths and cumulative counters only, so the
 * dashboard polls and keeps its own history: depth charts and send/ack rates (differences of
 * successive `sent`/`acked` samples) cover what this browser tab has seen, up to an hour.
 */
import type { SluiceError } from "../../client/errors.ts";
import type { Queue, QueueStats } from "../../client/types.ts";
import type { SluiceApi } from "./api.ts";

export const POLL_INTERVAL_MS = 5_000;
export const HISTORY_WINDOW_MS = 60 * 60 * 1000;
/** Rates are averaged over this much history so one slow poll does not make a spike. */
export const RATE_WINDOW_MS = 30_000;

/** A queue's stats as one poll saw them: what the charts and rates are made from. */
export interface Sample
  extends Pick<QueueStats, "ready" | "leased" | "delayed" | "deadLettered" | "sent" | "acked"> {
  at: number;
}

export interface MonitorSnapshot {
  /** Null until the first answer arrives. */
  queues: Queue[] | null;
  history: ReadonlyMap<string, readonly Sample[]>;
  updatedAt: number | null;
  /** The last poll's failure; cleared by the next success. Data from before it is kept. */
  error: SluiceError | null;
}

export class QueueMonitor {
  readonly #api: SluiceApi;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #listeners = new Set<() => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #snapshot: MonitorSnapshot = { queues: null, history: new Map(), updatedAt: null, error: null };

  constructor(api: SluiceApi, options: { intervalMs?: number; now?: () => number } = {}) {
    this.#api = api;
    this.#intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#tick();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  /** Polls now (after an action that changed the queues) instead of waiting for the timer. */
  async refresh(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#tick();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = (): MonitorSnapshot => this.#snapshot;

  async #tick(): Promise<void> {
    try {
      const queues = await this.#api.listQueues();
      this.#record(queues);
    } catch (error) {
      this.#publish({ ...this.#snapshot, error: error as SluiceError });
    } finally {
      if (this.#running) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
      }
    }
  }

  #record(queues: Queue[]): void {
    const at = this.#now();
    const history = new Map<string, Sample[]>();
    for (const { name, stats } of queues) {
      const kept = (this.#snapshot.history.get(name) ?? []).filter(
        (s) => s.at >= at - HISTORY_WINDOW_MS,
      );
      history.set(name, [
        ...kept,
        {
          at,
          ready: stats.ready,
          leased: stats.leased,
          delayed: stats.delayed,
          deadLettered: stats.deadLettered,
          sent: stats.sent,
          acked: stats.acked,
        },
      ]);
    }
    this.#publish({ queues, history, updatedAt: at, error: null });
  }

  #publish(snapshot: MonitorSnapshot): void {
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) listener();
  }
}

export function depthOf(sample: Pick<Sample, "ready" | "leased" | "delayed">): number {
  return sample.ready + sample.leased + sample.delayed;
}

/**
 * Messages per second of a cumulative counter, one point per sample, each averaged over the
 * RATE_WINDOW_MS before it. A point is missing where the counter went backwards (the queue was
 * re-created).
 */
export function rateSeries(
  samples: readonly Sample[],
  counter: "sent" | "acked",
): Array<[at: number, perSecond: number]> {
  const points: Array<[number, number]> = [];
  let from = 0;
  for (let i = 1; i < samples.length; i++) {
    while (from < i - 1 && samples[from].at < samples[i].at - RATE_WINDOW_MS) from++;
    const rate = rateBetween(samples[from], samples[i], counter);
    if (rate !== null) points.push([samples[i].at, rate]);
  }
  return points;
}

/** The rate at the latest sample; null before there are two, or if the counter went back. */
export function currentRate(samples: readonly Sample[], counter: "sent" | "acked"): number | null {
  const last = rateSeries(samples, counter).at(-1);
  return last && last[0] === samples.at(-1)?.at ? last[1] : null;
}

function rateBetween(from: Sample, to: Sample, counter: "sent" | "acked"): number | null {
  const seconds = (to.at - from.at) / 1000;
  const delta = to[counter] - from[counter];
  if (seconds <= 0 || delta < 0) return null;
  return delta / seconds;
}
