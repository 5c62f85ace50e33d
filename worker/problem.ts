/**
 * Every refusal the router gives is an RFC 9457 problem: `{type, title, status, detail, code}`
 * in `application/problem+json`. Handlers and middleware throw `problem(...)`; the router's
 * `catch` is the one place that renders it (see `problemResponse`).
 */
import type { Refusal, RefusalCode } from "./outcome.ts";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "Problem";
  }
}

export function problem(
  status: number,
  code: string,
  detail: string,
  headers?: Record<string, string>,
): Problem {
  return new Problem(status, code, detail, headers);
}

export function problemResponse({ status, code, detail, headers }: Problem): Response {
  const body = {
    type: `urn:sluice:problem:${code}`,
    title: TITLES[status] ?? "Error",
    status,
    detail,
    code,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, "Content-Type": "application/problem+json" },
  });
}

/** The HTTP status each service-layer refusal means (the RPC door reports it too). */
export const REFUSAL_STATUS: Record<RefusalCode, number> = {
  forbidden: 403,
  queue_not_found: 404,
  topic_not_found: 404,
  schedule_not_found: 404,
  dead_letter_not_found: 404,
  redrive_job_not_found: 404,
  key_not_found: 404,
  invalid_config: 400,
  invalid_topic: 400,
  invalid_schedule: 400,
  partition_out_of_range: 400,
  partitions_shrink: 409,
  push_queue: 409,
  message_too_large: 413,
  delay_beyond_retention: 400,
  backlog_full: 429,
  overloaded: 503,
  inflight_limit: 503,
};

/** The problem a refusal is answered with over HTTP. */
export function refusalProblem(refusal: Refusal): Problem {
  const headers: Record<string, string> =
    refusal.retryAfterSeconds === undefined
      ? {}
      : { "Retry-After": String(Math.max(1, Math.ceil(refusal.retryAfterSeconds))) };
  return problem(REFUSAL_STATUS[refusal.code], refusal.code, refusal.detail, headers);
}

/** Unwraps a service-layer outcome: its value (without the tag), or a thrown problem. */
export function unwrap<T extends { ok: true }>(outcome: T | Refusal): Omit<T, "ok"> {
  if (outcome.ok) {
    const { ok: _, ...value } = outcome;
    return value;
  }
  throw refusalProblem(outcome);
}
