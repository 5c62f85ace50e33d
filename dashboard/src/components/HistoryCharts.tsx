/**
 * A queue's charts, drawn from the history Sluice keeps (`GET /v1/queues/:q/history`: minute
 * buckets for 24 hours, the partitions merged), so they survive a reload: the last hour by the
 * minute, or the last 24 hours by ten minutes.
 */
import { useCallback, useEffect, useState } from "react";
import type { HistoryBucket } from "../../../client/types.ts";
import { formatCount } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { useSession } from "../session.ts";
import { LineChart, type Series } from "./charts.tsx";
import { ErrorNotice } from "./ErrorNotice.tsx";

const MINUTE = 60_000;
/** How often the open charts ask again: the newest minute fills as it goes. */
const REFRESH_MS = 30_000;

export const RANGES = {
  hour: { label: "Last hour", windowMs: 60 * MINUTE, step: 60 },
  day: { label: "Last 24 hours", windowMs: 24 * 60 * MINUTE, step: 600 },
} as const;
export type Range = keyof typeof RANGES;

/** One point per step of the window, 0 where a step had no traffic (no bucket). */
function counterSeries(
  buckets: readonly HistoryBucket[],
  field: keyof HistoryBucket,
  from: number,
  to: number,
  stepMs: number,
): Series["points"] {
  const byStep = new Map(buckets.map((bucket) => [bucket.at, bucket]));
  const points: [number, number][] = [];
  for (let at = Math.floor(from / stepMs) * stepMs; at <= to; at += stepMs) {
    points.push([at, Number(byStep.get(at)?.[field] ?? 0)]);
  }
  return points;
}

/** Points where the value is known: gauges and latencies are not zero in a quiet step. */
function knownSeries(buckets: readonly HistoryBucket[], field: keyof HistoryBucket) {
  return buckets
    .filter((bucket) => bucket[field] !== null)
    .map((bucket) => [bucket.at, Number(bucket[field])] as const);
}

export function HistoryCharts({ queue }: { queue: string }) {
  const { api } = useSession();
  const [range, setRange] = useState<Range>("hour");
  const [to, setTo] = useState(() => Date.now());
  const { windowMs, step } = RANGES[range];
  const from = to - windowMs;
  const load = useCallback(
    () => api.getHistory(queue, { from, to, step }),
    [api, queue, from, to, step],
  );
  const { value, error } = useLoaded(load);
  useEffect(() => {
    const timer = setInterval(() => setTo(Date.now()), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  const buckets = value?.buckets ?? [];
  const stepMs = step * 1000;
  const counter = (field: keyof HistoryBucket) => counterSeries(buckets, field, from, to, stepMs);
  const per = step === 60 ? "per minute" : "per 10 minutes";
  return (
    <section className="panel" aria-labelledby="charts-heading">
      <div className="panel-header">
        <h2 id="charts-heading" className="panel-title">
          History
        </h2>
        <fieldset className="toolbar-group history-range">
          <legend className="visually-hidden">Time range</legend>
          {(Object.keys(RANGES) as Range[]).map((name) => (
            <button
              key={name}
              type="button"
              className={
                name === range ? "button button-small button-primary" : "button button-small"
              }
              aria-pressed={name === range}
              onClick={() => {
                setRange(name);
                setTo(Date.now());
              }}
            >
              {RANGES[name].label}
            </button>
          ))}
        </fieldset>
      </div>
      <p className="muted small">
        Kept by Sluice per minute for 24 hours, so it survives a reload; steps with no traffic count
        zero.
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      <div className="charts">
        <LineChart
          title={`Messages ${per}`}
          now={to}
          windowMs={windowMs}
          series={[
            { name: "Sent", tone: "chart-1", points: counter("sent") },
            { name: "Acked", tone: "chart-2", points: counter("acked") },
            { name: "Shed", tone: "chart-3", points: counter("shed") },
          ]}
        />
        <LineChart
          title={`Failures ${per}`}
          now={to}
          windowMs={windowMs}
          series={[
            { name: "Nacked", tone: "chart-3", points: counter("nacked") },
            { name: "Dead-lettered", tone: "chart-1", points: counter("deadLettered") },
            { name: "Expired", tone: "chart-2", points: counter("expired") },
          ]}
        />
        <LineChart
          title="Backlog at each step's end"
          now={to}
          windowMs={windowMs}
          series={[{ name: "Backlog", tone: "chart-1", points: knownSeries(buckets, "backlog") }]}
        />
        <LineChart
          title="Receive to ack (ms)"
          now={to}
          windowMs={windowMs}
          format={formatCount}
          series={[
            { name: "p50", tone: "chart-2", points: knownSeries(buckets, "latencyP50Ms") },
            { name: "p99", tone: "chart-3", points: knownSeries(buckets, "latencyP99Ms") },
          ]}
        />
      </div>
    </section>
  );
}
