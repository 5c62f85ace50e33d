/**
 * Every failed call throws a `SluiceError`: the API's problem (`status`, `code`, `title`,
 * `detail`), or status 0 when no answer came back. `kind` sorts the codes into what a caller
 * does next.
 */
import type { Problem } from "./types.ts";

export type SluiceErrorKind =
  /** The request is wrong (400, 413, 415): change it, do not retry. */
  | "validation"
  /** The token is missing, unknown or lacks a scope (401, 403). */
  | "auth"
  /** The queue, dead letter or key does not exist (404). */
  | "not_found"
  /** The change conflicts with the current state (409, e.g. partitions_shrink). */
  | "conflict"
  /** The queue's partition is at its hard backlog (429): retry after `retryAfterSeconds`. */
  | "rate_limited"
  /** Sluice shed the request or a partition is overloaded (503): retry shortly. */
  | "overloaded"
  /** No answer: the connection failed or was cut. Whether a send was stored is unknown. */
  | "network"
  /** Anything else, such as a 500 (a bug in Sluice). */
  | "server";

const KIND_BY_STATUS: Record<number, SluiceErrorKind> = {
  0: "network",
  400: "validation",
  401: "auth",
  403: "auth",
  404: "not_found",
  409: "conflict",
  413: "validation",
  415: "validation",
  429: "rate_limited",
  503: "overloaded",
};

export class SluiceError extends Error {
  readonly kind: SluiceErrorKind;
  /** The HTTP status, 0 for a network failure. */
  readonly status: number;
  /** The problem's code, such as `backlog_full` or `invalid_request`. */
  readonly code: string;
  /** A summary for people, such as `Not Found`; the status text of an answer without a problem. */
  readonly title: string;
  readonly detail: string;
  /** From `Retry-After`, when the answer had one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    problem: Pick<Problem, "status" | "code" | "detail"> & Partial<Pick<Problem, "title">>,
    options: { retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(`${problem.code} (${problem.status}): ${problem.detail}`, { cause: options.cause });
    this.name = "SluiceError";
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title ?? `HTTP ${problem.status}`;
    this.detail = problem.detail;
    this.kind = KIND_BY_STATUS[problem.status] ?? "server";
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Trying the same call again later can succeed (rate limited, overloaded, network). */
  get retryable(): boolean {
    return this.kind === "rate_limited" || this.kind === "overloaded" || this.kind === "network";
  }

  /** The refusal an answer carries: its problem+json, or what can be read of another body. */
  static async fromResponse(response: Response): Promise<SluiceError> {
    const text = await response.text();
    const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
    const options = Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {};
    const { status } = response;
    const statusText = response.statusText || `HTTP ${status}`;
    try {
      const problem = JSON.parse(text) as Partial<Problem>;
      if (typeof problem.code === "string" && typeof problem.detail === "string") {
        const title = typeof problem.title === "string" ? problem.title : statusText;
        return new SluiceError(
          { status, code: problem.code, title, detail: problem.detail },
          options,
        );
      }
    } catch {
      // Not JSON: a proxy's error page, say. Its text is the detail.
    }
    return new SluiceError(
      {
        status,
        code: `http_${status}`,
        title: statusText,
        detail: text.slice(0, 500) || statusText,
      },
      options,
    );
  }

  static network(cause: unknown): SluiceError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new SluiceError(
      {
        status: 0,
        code: "network_error",
        title: "Sluice could not be reached",
        detail: `no answer from Sluice: ${reason}`,
      },
      { cause },
    );
  }
}
