/**
 * One HTTP call to Sluice, tried again when trying again can help: no answer (network),
 * 429 and 503. Retries wait with exponential backoff and full jitter (a random pause up to a
 * ceiling that doubles per try), and never less than the answer's `Retry-After`.
 */
import { SluiceError } from "./errors.ts";

export interface RetryOptions {
  /** Tries in all, the first included; 1 turns retries off. Default 5. */
  attempts: number;
  /** The first retry waits up to this long; each further one up to twice the last. Default 100. */
  baseDelayMs: number;
  /** No retry waits longer than this, unless `Retry-After` asks for more. Default 10 000. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 };

export type Fetch = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

export interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /**
   * Safe to send twice (a receive, an ack): retry as `withRetries` says. `"answered"`: retry
   * only a refusal that came with an answer (429, 503), which changed nothing; not a request
   * lost on the way, whose effects a second attempt would report wrongly.
   */
  retry?: boolean | "answered";
  signal?: AbortSignal | undefined;
}

export interface Answer<T> {
  value: T;
  status: number;
  /** The answer carried `Sluice-Backpressure: slow`. */
  slow: boolean;
}

/** The pause before retry number `retry` (1-based): full jitter, at least `Retry-After`. */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs">,
  retryAfterSeconds?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.max(Math.random() * ceiling, (retryAfterSeconds ?? 0) * 1000);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

export class Http {
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: Fetch;
  readonly retry: RetryOptions;

  constructor(url: string, token: string, fetcher: Fetch, retry: RetryOptions) {
    this.#base = url.replace(/\/+$/, "");
    this.#token = token;
    this.#fetch = fetcher;
    this.retry = retry;
  }

  /** One call; with `retry`, tried again as `withRetries` says. */
  call<T>(call: Call): Promise<Answer<T>> {
    if (!call.retry) return this.#once<T>(call);
    const when = call.retry === "answered" ? isAnsweredRefusal : undefined;
    return withRetries(this.retry, call.signal, () => this.#once<T>(call), when);
  }

  async #once<T>({ method, path, query, body, signal }: Call): Promise<Answer<T>> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.#base + path + queryString(query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      if (!response.ok) throw await SluiceError.fromResponse(response);
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error instanceof SluiceError ? error : SluiceError.network(error);
    }
    return {
      value: (text === "" ? undefined : JSON.parse(text)) as T,
      status: response.status,
      slow: response.headers.get("sluice-backpressure") === "slow",
    };
  }
}

/** A refusal that came with an answer (429, 503): the request changed nothing. */
function isAnsweredRefusal(error: SluiceError): boolean {
  return error.retryable && error.status !== 0;
}

/**
 * Runs `attempt` until it succeeds, throws something retrying cannot fix, or has been tried
 * `policy.attempts` times; a retryable `SluiceError` (network, 429, 503) means try again, or
 * what `when` allows of them.
 */
export async function withRetries<T>(
  policy: RetryOptions,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T>,
  when: (error: SluiceError) => boolean = (error) => error.retryable,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const retryable = error instanceof SluiceError && when(error);
      if (!retryable || tries >= policy.attempts || signal?.aborted) throw error;
      await sleep(backoffDelay(tries, policy, error.retryAfterSeconds), signal);
    }
  }
}

function queryString(query: Call["query"]): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}
