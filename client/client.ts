/**
 * The Sluice client: every call of the HTTP API v1, typed. It uses only `fetch`, `URL`,
 * `AbortSignal`, timers and `crypto.randomUUID`, so it runs in Workers, browsers, Deno and
 * Node alike; pass your own `fetch` to route it elsewhere (a service binding's, a test's).
 *
 * Sends are safe to retry: a message sent without a `dedupId` gets a random one, so a retry
 * after a lost answer is recognised as the same message (and, since the partition is chosen
 * from `key`, else `dedupId`, it reaches the partition that stored the first).
 */
import { type ConsumeOptions, consume, type MessageHandler } from "./consumer.ts";
import { SluiceError } from "./errors.ts";
import {
  type Call,
  DEFAULT_RETRY,
  type Fetch,
  Http,
  type RetryOptions,
  withRetries,
} from "./http.ts";
import { type BackpressureOptions, DEFAULT_BACKPRESSURE, Pacer } from "./pacer.ts";
import type {
  AckResult,
  ApiKey,
  CreatedKey,
  DeadLetterEditInput,
  DeadLetterPage,
  DeadLetterQuery,
  DeadMessage,
  ExtendResult,
  FailureCluster,
  FailureClusterQuery,
  HistoryQuery,
  JsonValue,
  KeyFlow,
  KeyLimits,
  MessageOptions,
  NackOptions,
  NackResult,
  NewApiKey,
  NewMessage,
  NewRedriveJob,
  NewSchedule,
  PauseInput,
  PauseState,
  PeekedMessage,
  PeekQuery,
  PublishResult,
  Queue,
  QueueConfigPatch,
  QueueDefinition,
  QueueHistory,
  ReceivedMessage,
  ReceiveOptions,
  RedriveInput,
  RedriveJob,
  RedriveResult,
  Schedule,
  SendResult,
  SentMessage,
  Topic,
  TopicDefinition,
} from "./types.ts";

/** Most messages, receipts or ids one request carries. */
export const MAX_BATCH = 100;

export interface SluiceOptions {
  /** Where the Sluice Worker answers, such as `https://sluice.example.workers.dev`. */
  url: string;
  /** An API key's secret, or the admin token. */
  token: string;
  /** Default: the global `fetch`. */
  fetch?: Fetch;
  retry?: Partial<RetryOptions>;
  backpressure?: Partial<BackpressureOptions>;
}

export interface Cancellable {
  signal?: AbortSignal;
}

/** A message of a batch that was not stored; `dedupId` resends it safely. */
export interface BatchFailure {
  index: number;
  /** `backlog_full` or `overloaded` (still refused after retries), another API code, or `not_sent`. */
  code: string;
  detail: string;
  dedupId: string;
}

export interface BatchResult {
  /** The stored messages, `index` being the position in the batch given. */
  messages: SentMessage[];
  failed: BatchFailure[];
}

interface Pending {
  index: number;
  message: NewMessage & { dedupId: string };
}

function failure({ index, message }: Pending, code: string, detail: string): BatchFailure {
  return { index, code, detail, dedupId: message.dedupId };
}

function queuePath(queue: string): string {
  return `/v1/queues/${encodeURIComponent(queue)}`;
}

function keyPath(queue: string, key: string): string {
  return `${queuePath(queue)}/keys/${encodeURIComponent(key)}`;
}

function redriveJobPath(queue: string, id: string): string {
  return `${queuePath(queue)}/dlq/redrive-jobs/${encodeURIComponent(id)}`;
}

function topicPath(topic: string): string {
  return `/v1/topics/${encodeURIComponent(topic)}`;
}

function schedulePath(name: string): string {
  return `/v1/schedules/${encodeURIComponent(name)}`;
}

/** Refusals a queue gives while it sheds load: a publish retries them. */
const SHED_CODES = new Set(["overloaded", "inflight_limit"]);

export class Sluice {
  readonly #http: Http;
  readonly #pacer: Pacer;

  constructor(options: SluiceOptions) {
    const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.#http = new Http(options.url, options.token, fetcher, {
      ...DEFAULT_RETRY,
      ...options.retry,
    });
    this.#pacer = new Pacer({ ...DEFAULT_BACKPRESSURE, ...options.backpressure });
  }

  // ───────────────────────────── producing ─────────────────────────────

  /** Sends one message; resolves once it is stored. */
  async send(
    queue: string,
    body: JsonValue,
    options: MessageOptions & Cancellable = {},
  ): Promise<SentMessage> {
    const { signal, ...fields } = options;
    // One message is stored or refused whole, and a refusal throws.
    const { messages } = await this.sendBatch(queue, [{ ...fields, body }], { signal });
    return messages[0];
  }

  /**
   * Sends any number of messages, `MAX_BATCH` per request, in order. Messages a partition
   * refused while others were stored are sent again (with backoff) within the retry attempts.
   * Throws when nothing was stored; otherwise lists what was not, each with the `dedupId`
   * that resends it safely. After a request that left messages unstored, later ones are not
   * sent (`not_sent`), so messages of one key never overtake each other.
   */
  async sendBatch(
    queue: string,
    messages: NewMessage[],
    { signal }: Cancellable = {},
  ): Promise<BatchResult> {
    const pending: Pending[] = messages.map((message, index) => ({
      index,
      message: { ...message, dedupId: message.dedupId ?? crypto.randomUUID() },
    }));
    const result: BatchResult = { messages: [], failed: [] };
    for (let start = 0; start < pending.length; start += MAX_BATCH) {
      const chunk = pending.slice(start, start + MAX_BATCH);
      if (result.failed.length > 0) {
        const detail = `not sent, to keep the batch in order: message ${result.failed[0].index} was not stored`;
        result.failed.push(...chunk.map((item) => failure(item, "not_sent", detail)));
        continue;
      }
      const stored = result.messages.length;
      try {
        await this.#sendChunk(queue, chunk, result, signal);
      } catch (error) {
        if (result.messages.length === 0 || !(error instanceof SluiceError)) throw error;
        const done = new Set(result.messages.slice(stored).map((message) => message.index));
        for (const item of chunk) {
          if (!done.has(item.index)) result.failed.push(failure(item, error.code, error.detail));
        }
      }
    }
    return result;
  }

  /**
   * Sends one request's worth, retrying what is refused: the whole request (network, 429,
   * 503) or the part a 207 lists as failed. All tries of a chunk share one retry budget.
   */
  async #sendChunk(
    queue: string,
    chunk: Pending[],
    result: BatchResult,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let pending = chunk;
    await withRetries(this.#http.retry, signal, async () => {
      await this.#pacer.wait(queue, signal);
      const { value, slow } = await this.#http.call<SendResult>({
        method: "POST",
        path: `${queuePath(queue)}/messages`,
        body: { messages: pending.map((item) => item.message) },
        signal,
      });
      this.#pacer.observe(queue, slow);
      for (const sent of value.messages) {
        result.messages.push({ ...sent, index: pending[sent.index].index });
      }
      const refused = value.failed ?? [];
      if (refused.length === 0) return;
      pending = refused.map(({ index }) => pending[index]);
      const [{ code, detail }] = refused;
      throw new SluiceError({ status: code === "backlog_full" ? 429 : 503, code, detail });
    });
  }

  /**
   * Publishes to a topic: one copy in every subscribed queue whose filter matches. Each
   * message gets a `dedupId` (its own, else a random one) that every retry reuses, so a queue
   * never stores a copy twice: a refused request (network, 429, 503) is sent again whole, and
   * so is a 207 in which some queue refused for now (full, overloaded), within the retry
   * attempts; queues that stored the first time answer `duplicate`. Throws when no queue
   * stored anything; otherwise resolves to the last answer, whose `failed` entries say which
   * queues still refused.
   */
  async publish(
    topic: string,
    body: JsonValue,
    options: MessageOptions & Cancellable = {},
  ): Promise<PublishResult> {
    const { signal, ...fields } = options;
    return this.publishBatch(topic, [{ ...fields, body }], { signal });
  }

  /** `publish` for up to `MAX_BATCH` messages in one request. */
  async publishBatch(
    topic: string,
    messages: NewMessage[],
    { signal }: Cancellable = {},
  ): Promise<PublishResult> {
    if (messages.length === 0 || messages.length > MAX_BATCH) {
      throw new RangeError(`a publish takes 1–${MAX_BATCH} messages, not ${messages.length}`);
    }
    const body = {
      messages: messages.map((message) => ({
        ...message,
        dedupId: message.dedupId ?? crypto.randomUUID(),
      })),
    };
    const pace = `topic:${topic}`;
    let answer: PublishResult | undefined;
    try {
      await withRetries(this.#http.retry, signal, async () => {
        await this.#pacer.wait(pace, signal);
        const { value, slow } = await this.#http.call<PublishResult>({
          method: "POST",
          path: `/v1/topics/${encodeURIComponent(topic)}/messages`,
          body,
          signal,
        });
        this.#pacer.observe(pace, slow);
        answer = value;
        const refused = value.deliveries.flatMap((delivery) => delivery.failed)[0];
        if (refused === undefined) return;
        const { code, detail } = refused;
        const status = code === "backlog_full" ? 429 : SHED_CODES.has(code) ? 503 : 400;
        throw new SluiceError({ status, code, detail });
      });
    } catch (error) {
      if (answer === undefined || !(error instanceof SluiceError)) throw error;
    }
    return answer as PublishResult;
  }

  /** The pause the next send to `queue` makes because of backpressure, in ms (0: none). */
  sendDelayMs(queue: string): number {
    return this.#pacer.delayMs(queue);
  }

  // ───────────────────────────── consuming ─────────────────────────────

  /** Leases up to `max` messages, waiting up to `wait` seconds for a first one. */
  async receive(
    queue: string,
    options: Omit<ReceiveOptions, "ack"> & Cancellable = {},
  ): Promise<ReceivedMessage[]> {
    return (await this.#receive(queue, options)).messages;
  }

  /**
   * Acks `receipts` (the last receive's, say), then leases as `receive` does: one request
   * instead of two. Refused whole (a shed receive), it acked nothing, and is tried again as
   * `receive` is. Lost on the way (a network failure, thrown), it may have acked them: it is not
   * sent again, as a second attempt would call them stale; `ack` them to be sure.
   */
  async ackAndReceive(
    queue: string,
    receipts: string[],
    options: Omit<ReceiveOptions, "ack"> & Cancellable = {},
  ): Promise<{ acked: AckResult; messages: ReceivedMessage[] }> {
    const { messages, ack } = await this.#receive(queue, { ...options, ack: receipts }, "answered");
    // The server answers `ack` whenever the request carried one.
    return { acked: ack as AckResult, messages };
  }

  async #receive(
    queue: string,
    options: ReceiveOptions & Cancellable,
    retry: Call["retry"] = true,
  ): Promise<{ messages: ReceivedMessage[]; ack?: AckResult }> {
    const { signal, ...body } = options;
    const { value } = await this.#http.call<{ messages: ReceivedMessage[]; ack?: AckResult }>({
      method: "POST",
      path: `${queuePath(queue)}/receive`,
      body,
      retry,
      signal,
    });
    return value;
  }

  /** Done: the messages are deleted. A stale receipt fails per item, in `failed`. */
  async ack(queue: string, receipts: string | string[]): Promise<AckResult> {
    return this.#settle<AckResult>(queue, "ack", { receipts: [receipts].flat() });
  }

  /** Failed: the messages come back after `delaySeconds` (default the queue's backoff), or die. */
  async nack(
    queue: string,
    receipts: string | string[],
    options: NackOptions = {},
  ): Promise<NackResult> {
    return this.#settle<NackResult>(queue, "nack", { receipts: [receipts].flat(), ...options });
  }

  /** Still working: each lease now ends `visibilityTimeout` seconds from now (0: at once). */
  async extend(
    queue: string,
    receipts: string | string[],
    visibilityTimeout: number,
  ): Promise<ExtendResult> {
    return this.#settle<ExtendResult>(queue, "extend", {
      receipts: [receipts].flat(),
      visibilityTimeout,
    });
  }

  async #settle<T>(queue: string, action: string, body: object): Promise<T> {
    const path = `${queuePath(queue)}/${action}`;
    return (await this.#http.call<T>({ method: "POST", path, body, retry: true })).value;
  }

  /**
   * Runs `handler` on every message of the queue until `options.signal` aborts: leases with
   * long polls, keeps each lease extended while its handler runs, acks when the handler
   * returns and nacks (the error's message as the reason) when it throws. Resolves once
   * stopped and every handler under way has finished; rejects on an error no retry can fix
   * (such as a revoked key), after those handlers finish.
   */
  consume(queue: string, handler: MessageHandler, options: ConsumeOptions = {}): Promise<void> {
    return consume(this, queue, handler, options);
  }

  /** Looks at messages without leasing them. */
  async peek(queue: string, query: PeekQuery = {}): Promise<PeekedMessage[]> {
    const { value } = await this.#http.call<{ messages: PeekedMessage[] }>({
      method: "GET",
      path: `${queuePath(queue)}/messages`,
      query: { ...query },
    });
    return value.messages;
  }

  /** Drops every message of the queue (not its dead letters); resolves to how many. */
  async purge(queue: string): Promise<number> {
    const path = `${queuePath(queue)}/purge`;
    return (await this.#http.call<{ purged: number }>({ method: "POST", path })).value.purged;
  }

  /**
   * Pauses the queue, or with `key` one key: nothing more is leased until `resume` (or
   * `until`, epoch ms); sends are still taken and leases already out run on.
   */
  async pause(queue: string, input: PauseInput = {}): Promise<PauseState> {
    return this.#call<PauseState>("POST", `${queuePath(queue)}/pause`, input);
  }

  /** Resumes the queue, or with `key` one key. */
  async resume(queue: string, key?: string): Promise<PauseState> {
    const body = key === undefined ? {} : { key };
    return this.#call<PauseState>("POST", `${queuePath(queue)}/resume`, body);
  }

  /** A key's flow control: its own limits, what applies, its pause. */
  async getKey(queue: string, key: string): Promise<KeyFlow> {
    return this.#call<KeyFlow>("GET", keyPath(queue, key));
  }

  /** Sets a key's own limits, overriding the queue's keyLimits field by field; {} drops them. */
  async putKeyLimits(queue: string, key: string, limits: KeyLimits): Promise<KeyFlow> {
    return this.#call<KeyFlow>("PUT", keyPath(queue, key), limits);
  }

  // ───────────────────────────── queues ─────────────────────────────

  /** Creates the queue, or changes the fields given. */
  async putQueue(
    queue: string,
    config: QueueConfigPatch = {},
  ): Promise<QueueDefinition & { created: boolean }> {
    return this.#put<QueueDefinition>(queuePath(queue), config);
  }

  async getQueue(queue: string): Promise<Queue> {
    return this.#call<Queue>("GET", queuePath(queue));
  }

  /** The queues this token may see, with their stats. */
  async listQueues(): Promise<Queue[]> {
    return (await this.#call<{ queues: Queue[] }>("GET", "/v1/queues")).queues;
  }

  /** The queue's metrics history (minute buckets of the last 24 h), its partitions merged. */
  async getHistory(queue: string, query: HistoryQuery = {}): Promise<QueueHistory> {
    const { value } = await this.#http.call<QueueHistory>({
      method: "GET",
      path: `${queuePath(queue)}/history`,
      query: { ...query },
    });
    return value;
  }

  /** Deletes the queue, its messages and its dead letters. */
  async deleteQueue(queue: string): Promise<void> {
    await this.#call("DELETE", queuePath(queue));
  }

  // ───────────────────────────── dead letters ─────────────────────────────

  /** Newest first; pass `cursor` back for the next page. */
  async listDeadLetters(queue: string, query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    const { value } = await this.#http.call<DeadLetterPage>({
      method: "GET",
      path: `${queuePath(queue)}/dlq`,
      query: { ...query },
    });
    return value;
  }

  async getDeadLetter(queue: string, id: string): Promise<DeadMessage> {
    return this.#call<DeadMessage>("GET", `${queuePath(queue)}/dlq/${encodeURIComponent(id)}`);
  }

  /** Sends dead letters back as fresh messages; `all` moves up to 1 000 a call. */
  async redriveDeadLetters(queue: string, input: RedriveInput): Promise<RedriveResult> {
    return this.#call<RedriveResult>("POST", `${queuePath(queue)}/dlq/redrive`, input);
  }

  /** Changes a dead letter's body or headers before a redrive; kept in its `edits`. */
  async editDeadLetter(queue: string, id: string, edit: DeadLetterEditInput): Promise<DeadMessage> {
    const path = `${queuePath(queue)}/dlq/${encodeURIComponent(id)}/edit`;
    return this.#call<DeadMessage>("POST", path, edit);
  }

  async deleteDeadLetter(queue: string, id: string): Promise<void> {
    await this.#call("DELETE", `${queuePath(queue)}/dlq/${encodeURIComponent(id)}`);
  }

  /** Deletes every dead letter, or with `cluster` those of one failure cluster. */
  async purgeDeadLetters(queue: string, cluster?: string): Promise<number> {
    const path = `${queuePath(queue)}/dlq/purge`;
    const body = cluster === undefined ? undefined : { cluster };
    return (await this.#call<{ purged: number }>("POST", path, body)).purged;
  }

  /** Starts a redrive job; follow it with `getRedriveJob`. */
  async createRedriveJob(queue: string, job: NewRedriveJob = {}): Promise<RedriveJob> {
    return this.#call<RedriveJob>("POST", `${queuePath(queue)}/dlq/redrive-jobs`, job);
  }

  async listRedriveJobs(queue: string): Promise<RedriveJob[]> {
    const path = `${queuePath(queue)}/dlq/redrive-jobs`;
    return (await this.#call<{ jobs: RedriveJob[] }>("GET", path)).jobs;
  }

  async getRedriveJob(queue: string, id: string): Promise<RedriveJob> {
    return this.#call<RedriveJob>("GET", redriveJobPath(queue, id));
  }

  async cancelRedriveJob(queue: string, id: string): Promise<RedriveJob> {
    return this.#call<RedriveJob>("POST", `${redriveJobPath(queue, id)}/cancel`);
  }

  /** Dead letters grouped by the fingerprint of their final failure reason, largest first. */
  async listFailureClusters(
    queue: string,
    query: FailureClusterQuery = {},
  ): Promise<FailureCluster[]> {
    const { value } = await this.#http.call<{ clusters: FailureCluster[] }>({
      method: "GET",
      path: `${queuePath(queue)}/dlq/clusters`,
      query: { ...query },
    });
    return value.clusters;
  }

  // ───────────────────────────── topics ─────────────────────────────

  /** Creates the topic or replaces its subscriptions. */
  async putTopic(
    topic: string,
    definition: TopicDefinition,
  ): Promise<Topic & { created: boolean }> {
    return this.#put<Topic>(topicPath(topic), definition);
  }

  async getTopic(topic: string): Promise<Topic> {
    return this.#call<Topic>("GET", topicPath(topic));
  }

  async listTopics(): Promise<Topic[]> {
    return (await this.#call<{ topics: Topic[] }>("GET", "/v1/topics")).topics;
  }

  /** Deletes the topic and its subscriptions; the queues keep their messages. */
  async deleteTopic(topic: string): Promise<void> {
    await this.#call("DELETE", topicPath(topic));
  }

  // ───────────────────────────── schedules ─────────────────────────────

  /** Creates or replaces a schedule; the answer lists its next fire times. */
  async putSchedule(name: string, schedule: NewSchedule): Promise<Schedule & { created: boolean }> {
    return this.#put<Schedule>(schedulePath(name), schedule);
  }

  async getSchedule(name: string): Promise<Schedule> {
    return this.#call<Schedule>("GET", schedulePath(name));
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.#call<{ schedules: Schedule[] }>("GET", "/v1/schedules")).schedules;
  }

  async pauseSchedule(name: string): Promise<Schedule> {
    return this.#call<Schedule>("POST", `${schedulePath(name)}/pause`);
  }

  /** Resumes from the next fire time after now; fires missed while paused are not sent. */
  async resumeSchedule(name: string): Promise<Schedule> {
    return this.#call<Schedule>("POST", `${schedulePath(name)}/resume`);
  }

  async deleteSchedule(name: string): Promise<void> {
    await this.#call("DELETE", schedulePath(name));
  }

  // ───────────────────────────── keys ─────────────────────────────

  /** The answer holds the key's secret, shown this once. */
  async createKey(key: NewApiKey): Promise<CreatedKey> {
    return this.#call<CreatedKey>("POST", "/v1/keys", key);
  }

  async listKeys(): Promise<ApiKey[]> {
    return (await this.#call<{ keys: ApiKey[] }>("GET", "/v1/keys")).keys;
  }

  async deleteKey(id: string): Promise<void> {
    await this.#call("DELETE", `/v1/keys/${encodeURIComponent(id)}`);
  }

  /** A PUT that creates (201) or replaces (200) what it names. */
  async #put<T>(path: string, body: object): Promise<T & { created: boolean }> {
    const { value, status } = await this.#http.call<T>({ method: "PUT", path, body });
    return { ...value, created: status === 201 };
  }

  /** An administrative call: not retried, since some (a new key) are not safe to repeat. */
  async #call<T>(method: Call["method"], path: string, body?: unknown): Promise<T> {
    return (await this.#http.call<T>({ method, path, body })).value;
  }
}
