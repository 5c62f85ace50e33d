/** A metrics-history bucket with every count zero and nothing known, for the history tests. */
import type { HistoryBucket } from "../core/contract.ts";

export function bucket(at: number, fields: Partial<HistoryBucket> = {}): HistoryBucket {
  return {
    at,
    sent: 0,
    acked: 0,
    nacked: 0,
    deadLettered: 0,
    expired: 0,
    shed: 0,
    backlog: 0,
    oldestAgeMs: 0,
    latencyP50Ms: null,
    latencyP99Ms: null,
    ...fields,
  };
}
