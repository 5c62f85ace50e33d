/**
 * The dashboard's only door to Sluice: typed calls to HTTP API v1 with the operator's token.
 * Every refusal becomes an ApiError carrying the problem+json fields, so screens can say what
 * went wrong and what to do; a network failure is an ApiError with status 0.
 */
import type { ContentType, DeadMessage, PeekedMessage } from "../../durable-objects/messages.ts";
import type { QueueConfig } from "../../worker/config.ts";

export type { ContentType, Failure } from "../../durable-objects/messages.ts";
export type { QueueConfig } from "../../worker/config.ts";

/**
 * Bodies as the API sends them: the JSON value itself for application/json, the text for
 * text/plain, base64 for application/octet-stream.
 */
export type Body = unknown;

/** A dead letter as GET /v1/queues/:q/dlq answers it. */
export interface DeadLetter extends Omit<DeadMessage, "body"> {
  body: Body;
}

export interface DeadLetterPage {
  messages: DeadLetter[];
  cursor: string | null;
}

/** A waiting message as a peek answers it. */
export interface WaitingMessage extends Omit<PeekedMessage, "body"> {
  body: Body;
}

export interface QueueStats {
  ready: number;
  leased: number;
  delayed: number;
  deadLettered: number;
  /** Age of the oldest message held; 0 when the queue is empty. */
  oldestAgeMs: number;
  sent: number;
  acked: number;
  backlogBytes: number;
}

export interface QueueSummary {
  name: string;
  config: QueueConfig;
  stats: QueueStats;
}

export interface DeadLetterFilter {
  /** Case-insensitive substring of any failure reason. */
  reason?: string;
  /** Case-insensitive substring of the body. */
  text?: string;
  /** diedAt bounds, epoch ms, inclusive. */
  since?: number;
  until?: number;
}

export interface DeadLetterListQuery extends DeadLetterFilter {
  limit: number;
  cursor?: string;
}

export interface PeekPage {
  messages: WaitingMessage[];
}

export interface OutgoingMessage {
  body: Body;
  contentType: ContentType;
  key?: string;
  delaySeconds?: number;
  priority?: number;
  headers?: Record<string, string>;
}

export interface SentReceipt {
  id: string;
  partition: number;
  seq: number;
  duplicate: boolean;
}

export type Scope = "produce" | "consume" | "admin";

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  queues: string[];
  origins: string[];
  createdAt?: number;
}

export interface NewApiKey {
  name: string;
  scopes: Scope[];
  queues: string[];
  origins?: string[];
}

export interface RedriveRequest {
  ids?: string[];
  all?: true;
  target?: string;
}

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = "ApiError";
  }
}

export interface SluiceApi {
  listQueues(): Promise<QueueSummary[]>;
  getQueue(queue: string): Promise<QueueSummary>;
  peekMessages(queue: string, options: { limit: number }): Promise<PeekPage>;
  sendMessage(queue: string, message: OutgoingMessage): Promise<SentReceipt>;
  listDeadLetters(queue: string, query: DeadLetterListQuery): Promise<DeadLetterPage>;
  getDeadLetter(queue: string, id: string): Promise<DeadLetter>;
  redrive(queue: string, request: RedriveRequest): Promise<{ redriven: number; remaining: number }>;
  deleteDeadLetter(queue: string, id: string): Promise<void>;
  purgeDeadLetters(queue: string): Promise<{ purged: number }>;
  listKeys(): Promise<ApiKey[]>;
  createKey(key: NewApiKey): Promise<ApiKey & { secret: string }>;
  revokeKey(id: string): Promise<void>;
}

export interface ApiOptions {
  token: string;
  /** Origin of the Sluice Worker; empty for the origin that served the dashboard. */
  baseUrl?: string;
  /** Called when the server rejects the token, so the app can ask for a new one. */
  onUnauthorized?: (error: ApiError) => void;
  fetch?: typeof fetch;
}

/** The query string of a dead-letter list request, in the server's parameter names. */
export function deadLetterSearch(query: DeadLetterListQuery): string {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.cursor) params.set("cursor", query.cursor);
  if (query.reason) params.set("reason", query.reason);
  if (query.text) params.set("q", query.text);
  if (query.since !== undefined) params.set("since", String(query.since));
  if (query.until !== undefined) params.set("until", String(query.until));
  return params.toString();
}

const q = encodeURIComponent;

export function createApi(options: ApiOptions): SluiceApi {
  const baseUrl = options.baseUrl ?? "";
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await doFetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw new ApiError(
        0,
        "unreachable",
        "Sluice could not be reached",
        `${cause instanceof Error ? cause.message : String(cause)}. Check that the Worker is running and your network is up.`,
      );
    }
    if (!response.ok) {
      const error = await problemOf(response);
      if (response.status === 401) options.onUnauthorized?.(error);
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    listQueues: async () => (await call<{ queues: QueueSummary[] }>("GET", "/v1/queues")).queues,
    getQueue: (queue) => call("GET", `/v1/queues/${q(queue)}`),
    peekMessages: (queue, { limit }) =>
      call("GET", `/v1/queues/${q(queue)}/messages?limit=${limit}`),
    sendMessage: async (queue, message) => {
      const answer = await call<{ messages: SentReceipt[] }>(
        "POST",
        `/v1/queues/${q(queue)}/messages`,
        { messages: [message] },
      );
      return answer.messages[0];
    },
    listDeadLetters: (queue, query) =>
      call("GET", `/v1/queues/${q(queue)}/dlq?${deadLetterSearch(query)}`),
    getDeadLetter: (queue, id) => call("GET", `/v1/queues/${q(queue)}/dlq/${q(id)}`),
    redrive: (queue, request) => call("POST", `/v1/queues/${q(queue)}/dlq/redrive`, request),
    deleteDeadLetter: (queue, id) => call("DELETE", `/v1/queues/${q(queue)}/dlq/${q(id)}`),
    purgeDeadLetters: (queue) => call("POST", `/v1/queues/${q(queue)}/dlq/purge`),
    listKeys: async () => (await call<{ keys: ApiKey[] }>("GET", "/v1/keys")).keys,
    createKey: (key) => call("POST", "/v1/keys", key),
    revokeKey: (id) => call("DELETE", `/v1/keys/${q(id)}`),
  };
}

async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const problem = JSON.parse(text) as Partial<Record<"code" | "title" | "detail", string>>;
    return new ApiError(
      response.status,
      problem.code ?? `http_${response.status}`,
      problem.title ?? response.statusText ?? `HTTP ${response.status}`,
      problem.detail ?? "",
    );
  } catch {
    return new ApiError(
      response.status,
      `http_${response.status}`,
      response.statusText || `HTTP ${response.status}`,
      text.slice(0, 300),
    );
  }
}
