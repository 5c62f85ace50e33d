/**
 * The dead-letter filters as the operator sets them, as they sit in the URL, and as the API
 * wants them. Relative ranges ("last hour") stay relative in the URL and become epoch ms only
 * when a request is made, so a bookmarked view always means "the last hour from now".
 */
import type { DeadLetterQuery } from "../../client/types.ts";

export const RANGES = {
  "": { label: "Any time", ms: null },
  "15m": { label: "Last 15 minutes", ms: 15 * 60_000 },
  "1h": { label: "Last hour", ms: 60 * 60_000 },
  "24h": { label: "Last 24 hours", ms: 24 * 60 * 60_000 },
  "7d": { label: "Last 7 days", ms: 7 * 24 * 60 * 60_000 },
  custom: { label: "Custom range…", ms: null },
} as const;

export type RangeKey = keyof typeof RANGES;

export interface FilterState {
  reason: string;
  text: string;
  range: RangeKey;
  /** Epoch ms bounds of a custom range. */
  since?: number;
  until?: number;
  /** A failure cluster's fingerprint: only its dead letters. */
  cluster?: string;
}

export const NO_FILTER: FilterState = { reason: "", text: "", range: "" };

export function filterFromParams(params: URLSearchParams): FilterState {
  const range = params.get("range") ?? "";
  const filter: FilterState = {
    reason: params.get("reason") ?? "",
    text: params.get("q") ?? "",
    range: range in RANGES ? (range as RangeKey) : "",
  };
  if (filter.range === "custom") {
    filter.since = epoch(params.get("since"));
    filter.until = epoch(params.get("until"));
  }
  const cluster = params.get("cluster");
  if (cluster !== null) filter.cluster = cluster;
  return filter;
}

export function filterToParams(filter: FilterState): URLSearchParams {
  const params = new URLSearchParams();
  if (filter.reason.trim()) params.set("reason", filter.reason.trim());
  if (filter.text.trim()) params.set("q", filter.text.trim());
  if (filter.range) params.set("range", filter.range);
  if (filter.range === "custom") {
    if (filter.since !== undefined) params.set("since", String(filter.since));
    if (filter.until !== undefined) params.set("until", String(filter.until));
  }
  if (filter.cluster !== undefined) params.set("cluster", filter.cluster);
  return params;
}

export function filterToQuery(filter: FilterState, now: number): DeadLetterQuery {
  const query: DeadLetterQuery = {};
  if (filter.reason.trim()) query.reason = filter.reason.trim();
  if (filter.text.trim()) query.q = filter.text.trim();
  const span = RANGES[filter.range].ms;
  if (span !== null) query.since = now - span;
  if (filter.range === "custom") {
    if (filter.since !== undefined) query.since = filter.since;
    if (filter.until !== undefined) query.until = filter.until;
  }
  if (filter.cluster !== undefined) query.cluster = filter.cluster;
  return query;
}

export function isFiltered(filter: FilterState): boolean {
  return filterToParams(filter).size > 0;
}

function epoch(value: string | null): number | undefined {
  if (!value) return undefined;
  const at = Number(value);
  return Number.isFinite(at) ? at : undefined;
}
