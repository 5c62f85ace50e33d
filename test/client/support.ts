/**
 * Setup shared by the SDK tests: clients that talk to the real Worker in workerd through
 * `SELF.fetch`, and a scripted `fetch` that fails chosen requests the way networks and
 * overloaded servers do, recording every request it sees.
 */
import { SELF } from "cloudflare:test";
import { Sluice, type SluiceOptions } from "../../client/index.ts";
import { ADMIN_TOKEN, ORIGIN } from "../worker/api.ts";

export { queueName, settleDeadLetters } from "../worker/api.ts";

/** Fast retries, so tests that exhaust them stay quick. */
const QUICK_RETRY = { baseDelayMs: 5, maxDelayMs: 20 };

export function client(options: Partial<SluiceOptions> = {}): Sluice {
  return new Sluice({
    url: ORIGIN,
    token: ADMIN_TOKEN,
    fetch: (input, init) => SELF.fetch(input, init),
    ...options,
    retry: { ...QUICK_RETRY, ...options.retry },
  });
}

/**
 * What the scripted fetch does with one request: pass it to the Worker; `drop` it after the
 * Worker answered (the answer is lost on the way back); fail it without reaching the Worker
 * (`network`); or answer it with a refusal of this status, as a shedding Worker would.
 */
export type Step = "pass" | "drop" | "network" | { status: 429 | 503; retryAfter?: number };

export interface Recorded {
  method: string;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read bodies loosely
  body: any;
  step: Step;
  /** When the request left and when its answer (or failure) came back, epoch ms. */
  sentAt: number;
  answeredAt: number;
  status: number | null;
}

/** A fetch that follows `steps` for the first requests and passes the rest through. */
export function scriptedFetch(steps: Step[] = []) {
  const requests: Recorded[] = [];
  const fetch = async (input: Request | string | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const step = steps[requests.length] ?? "pass";
    const text = request.body === null ? "" : await request.clone().text();
    const record: Recorded = {
      method: request.method,
      path: new URL(request.url).pathname,
      body: text === "" ? undefined : JSON.parse(text),
      step,
      sentAt: Date.now(),
      answeredAt: 0,
      status: null,
    };
    requests.push(record);
    try {
      if (step === "network") throw new TypeError("Network connection lost.");
      if (typeof step === "object") {
        record.status = step.status;
        return refusal(step.status, step.retryAfter);
      }
      const response = await SELF.fetch(request);
      record.status = response.status;
      if (step === "drop") {
        await response.arrayBuffer();
        throw new TypeError("Network connection lost.");
      }
      return response;
    } finally {
      record.answeredAt = Date.now();
    }
  };
  return { fetch, requests };
}

function refusal(status: 429 | 503, retryAfter?: number): Response {
  const code = status === 429 ? "backlog_full" : "overloaded";
  const headers: Record<string, string> = { "Content-Type": "application/problem+json" };
  if (retryAfter !== undefined) headers["Retry-After"] = String(retryAfter);
  return new Response(
    JSON.stringify({
      type: `urn:sluice:problem:${code}`,
      title: status === 429 ? "Too Many Requests" : "Service Unavailable",
      status,
      detail: "injected by the test",
      code,
    }),
    { status, headers },
  );
}
