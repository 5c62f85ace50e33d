/** Latency samples and the summaries the report prints. */

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Milliseconds, rounded to 0.01 ms so the JSON stays readable. */
const round = (ms: number) => Math.round(ms * 100) / 100;

/** Nearest-rank percentiles over every sample (no histogram buckets: runs are short). */
export function summarize(samples: number[]): LatencySummary | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  let total = 0;
  for (const sample of sorted) total += sample;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
    mean: round(total / sorted.length),
  };
}

/** Rate per second, rounded to a whole number. */
export const perSecond = (count: number, ms: number) =>
  ms > 0 ? Math.round((count * 1000) / ms) : 0;
