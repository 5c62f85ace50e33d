/**
 * The shapes of the HTTP API v1 as the SDK sends and receives them; the service-binding door
 * (`worker/doors/rpc.ts`) answers them too. They are declared here, not imported from the Worker,
 * so the SDK carries no server code or schema library; `test/client/wire-types.check.ts`
 * fails the type check when they drift from the Worker's zod schemas (`worker/schemas.ts`,
 * `core/queue-config.ts`).
 */

/**
 * Any JSON value. Arrays and objects are interfaces so that recursive expansions (such as
 * the types of a service binding's stub) stop at them.
 */
export type JsonValue = string | number | boolean | null | JsonArray | JsonObject;
export interface JsonArray extends Array<JsonValue> {}
export interface JsonObject {
  [key: string]: JsonValue;
}

export type ContentType = "application/json" | "text/plain" | "application/octet-stream";

// ───────────────────────────── producing ─────────────────────────────

/** How a message is sent besides its body. */
export interface MessageOptions {
  /** Messages with the same key are delivered in order (fifo queues); it also picks the partition. */
  key?: string;
  /** A second send with this id within the queue's `dedupWindow` stores nothing. */
  dedupId?: string;
  /** Seconds before the message becomes visible, 0–43200. */
  delaySeconds?: number;
  /** 0–9, higher first (priority queues). */
  priority?: number;
  headers?: Record<string, string>;
  /** How to read `body`: JSON (default), text, or base64 bytes. */
  contentType?: ContentType;
}

export interface NewMessage extends MessageOptions {
  body: JsonValue;
}

/** A stored message; `index` is its position in the request's batch. */
export interface SentMessage {
  index: number;
  id: string;
  partition: number;
  seq: number;
  /** True when the `dedupId` was seen before: nothing new was stored, `id` is the first's. */
  duplicate: boolean;
}

/** A message of a batch that a partition refused while others stored theirs (HTTP 207). */
export interface SendFailure {
  index: number;
  code: "backlog_full" | "overloaded";
  detail: string;
}

export interface SendResult {
  messages: SentMessage[];
  failed?: SendFailure[];
}

// ───────────────────────────── consuming ─────────────────────────────

export interface ReceiveOptions {
  /** 1–100 messages, default 1. */
  max?: number;
  /** Lease length in seconds; default the queue's `visibilityTimeout`. */
  visibilityTimeout?: number;
  /** Seconds to wait for a first message when none is visible (long poll), 0–20. */
  wait?: number;
  /** Lease from this partition only. */
  partition?: number;
  /**
   * Receipts to ack before leasing (up to 100): a consumer's last receive acked by its next,
   * one request a cycle instead of two. The answer says what became of them (`ack`).
   */
  ack?: string[];
}

export interface ReceivedMessage {
  id: string;
  /** Names the lease: pass it to ack, nack or extend. */
  receipt: string;
  body: JsonValue;
  contentType: ContentType;
  headers: Record<string, string>;
  key: string | null;
  priority: number;
  /** Receives so far, this one included. */
  attempts: number;
  sentAt: number;
  partition: number;
  seq: number;
  /** When this lease began (epoch ms): with `sentAt`, what a consumer's span starts from. */
  leasedAt: number;
  /** When the lease ends unless extended (epoch ms, the server's clock). */
  leaseExpiresAt: number;
}

export interface ReceiptFailure {
  receipt: string;
  code: "receipt_invalid" | "receipt_stale" | "overloaded";
}

export interface AckResult {
  acked: number;
  failed: ReceiptFailure[];
}

export interface NackOptions {
  /** Seconds before the message is visible again; default the queue's retry backoff. */
  delaySeconds?: number;
  /** Why it failed, kept in the message's history (and its dead letter), 1–1000 characters. */
  reason?: string;
}

export interface NackResult {
  retried: number;
  deadLettered: number;
  failed: ReceiptFailure[];
}

export interface ExtendResult {
  extended: number;
  failed: ReceiptFailure[];
}

export interface PeekQuery {
  limit?: number;
  /** A seq: page within one partition. */
  after?: number;
  partition?: number;
}

export interface PeekedMessage
  extends Omit<ReceivedMessage, "receipt" | "leasedAt" | "leaseExpiresAt"> {
  state: "ready" | "leased" | "delayed";
  visibleAt: number;
}

// ───────────────────────────── queues ─────────────────────────────

export interface RetryPolicy {
  initialDelay: number;
  maxDelay: number;
  multiplier: number;
  jitter: boolean;
}

export interface PushConfig {
  url: string;
  batchSize: number;
  timeout: number;
  concurrency: number;
}

/** Attributes only the SQS door reads (docs/sqs.md). */
export interface SqsAttributes {
  delaySeconds?: number;
  receiveWaitSeconds?: number;
  contentBasedDeduplication?: boolean;
  deadLetterTargetArn?: string;
}

export interface QueueConfig {
  partitions: number;
  ordering: "fifo" | "unordered" | "priority";
  visibilityTimeout: number;
  maxAttempts: number;
  retry: RetryPolicy;
  retention: number;
  maxMessageBytes: number;
  dedupWindow: number;
  backlog: { soft: number; hard: number };
  push?: PushConfig;
  sqs?: SqsAttributes;
  /** "keys": ready messages are handed out round-robin over keys, not oldest first. */
  fairness: "oldest" | "keys";
  /** At most this many messages leased at once over the whole queue, split over partitions. */
  maxInFlight?: number;
  /** Every key's limits, unless the key has its own. */
  keyLimits?: KeyLimits;
}

/**
 * How fast one key's messages are delivered: `rate` per second as a token bucket of `burst`
 * (default: the rate rounded up), at most `concurrency` leased at once.
 */
export interface KeyLimits {
  rate?: number;
  burst?: number;
  concurrency?: number;
}

/** A key's flow control (GET/PUT /v1/queues/:q/keys/:key). */
export interface KeyFlow {
  key: string;
  partition: number;
  /** The key's own limits; null: the queue's keyLimits apply. */
  limits: KeyLimits | null;
  /** What applies: the queue's keyLimits overridden field by field by the key's own. */
  effective: KeyLimits;
  paused: { until: number | null } | null;
  leased: number;
  waiting: number;
}

/** Pause a queue, or with `key` one key; `until` (epoch ms) resumes it by itself. */
export interface PauseInput {
  key?: string;
  until?: number;
}

export interface PauseState {
  key: string | null;
  paused: boolean;
  until: number | null;
}

/** A key whose ready messages receives had to leave behind. */
export interface HeldKey {
  key: string;
  partition: number;
  reason: "paused" | "rate" | "concurrency";
  oldestWaitMs: number;
}

/** A change to a queue's configuration: any field, nested ones too; `push: null` removes push. */
export interface QueueConfigPatch {
  partitions?: number;
  ordering?: QueueConfig["ordering"];
  visibilityTimeout?: number;
  maxAttempts?: number;
  retry?: Partial<RetryPolicy>;
  retention?: number;
  maxMessageBytes?: number;
  dedupWindow?: number;
  backlog?: Partial<QueueConfig["backlog"]>;
  push?: (Pick<PushConfig, "url"> & Partial<Omit<PushConfig, "url">>) | null;
  /** Replaces the whole object. */
  sqs?: SqsAttributes;
  fairness?: QueueConfig["fairness"];
  /** null removes the cap. */
  maxInFlight?: number | null;
  /** Replaces the whole object; null removes it. */
  keyLimits?: KeyLimits | null;
}

export interface QueueStats {
  ready: number;
  leased: number;
  delayed: number;
  deadLettered: number;
  oldestAgeMs: number;
  sent: number;
  acked: number;
  backlogBytes: number;
  paused: boolean;
  /** When a pause with an end resumes by itself (epoch ms). */
  pausedUntil: number | null;
  pausedKeys: number;
  heldKeys: HeldKey[];
  /** What the queue's partitions cost since each last started: statements and rows billed. */
  usage: { requests: number; statements: number; rowsRead: number; rowsWritten: number };
}

export interface QueueDefinition {
  name: string;
  config: QueueConfig;
}

export interface Queue extends QueueDefinition {
  stats: QueueStats;
}

// ───────────────────────────── metrics history ─────────────────────────────

/** `from`/`to` epoch ms within the last 24 h (default the last hour), `step` seconds (60·n). */
export interface HistoryQuery {
  from?: number;
  to?: number;
  step?: number;
}

/** One step of a queue's history: counters over the step, gauges at its end. */
export interface HistoryBucket {
  /** The step's start, epoch ms. */
  at: number;
  sent: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  expired: number;
  /** Sends refused at the hard backlog. */
  shed: number;
  backlog: number;
  oldestAgeMs: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export interface QueueHistory {
  from: number;
  to: number;
  step: number;
  /** Steps with traffic only, oldest first. */
  buckets: HistoryBucket[];
}

// ───────────────────────────── dead letters ─────────────────────────────

export interface DeadLetterFailure {
  at: number;
  /** 1-based attempt that failed. */
  attempt: number;
  reason: string;
  by: "nack" | "expiry" | "push";
}

export interface DeadMessage
  extends Omit<ReceivedMessage, "receipt" | "leasedAt" | "leaseExpiresAt"> {
  queue: string;
  failures: DeadLetterFailure[];
  diedAt: number;
  /** Changes made before a redrive, oldest first. */
  edits: DeadLetterEdit[];
}

export interface DeadLetterEdit {
  at: number;
  /** The API key that made it, or `admin`. */
  by: string;
  field: "body" | "headers";
  /** SHA-256 (hex) of the value it replaced: the body as stored, or the headers as JSON. */
  previousSha256: string;
}

/** A new body (with its content type, default application/json), new headers, or both. */
export interface DeadLetterEditInput {
  body?: JsonValue;
  contentType?: ContentType;
  headers?: Record<string, string>;
}

export interface DeadLetterQuery {
  limit?: number;
  /** From the previous page's `cursor`. */
  cursor?: string;
  /** Substring of any failure reason. */
  reason?: string;
  /** Substring of the body. */
  q?: string;
  /** `diedAt` bounds, epoch ms. */
  since?: number;
  until?: number;
  /** Only the failure cluster with this fingerprint (`FailureCluster.fingerprint`). */
  cluster?: string;
  /** Only messages with this key. */
  key?: string;
}

/**
 * Dead letters whose final failure reasons are the same once digits, UUIDs, hex ids, quoted
 * values and timestamps are masked: the masked reason is the `fingerprint`.
 */
export interface FailureCluster {
  fingerprint: string;
  /** One final failure reason of the cluster, as it was. */
  example: string;
  count: number;
  /** The five keys with the most messages in the cluster, most first. */
  keys: { key: string; count: number }[];
  /** `diedAt` of the oldest and the newest message of the cluster. */
  firstAt: number;
  lastAt: number;
}

export interface FailureClusterQuery {
  /** 1–100, default 100. */
  limit?: number;
}

/** Without `cluster`, every dead letter of the queue. */
export interface PurgeDeadLettersInput {
  cluster?: string;
}

export interface DeadLetterPage {
  messages: DeadMessage[];
  /** Pass it back for the next page; null on the last. */
  cursor: string | null;
}

/** Either some dead letters by id, or all of them; to `target` (default the same queue). */
export type RedriveInput = ({ ids: string[]; all?: never } | { all: true; ids?: never }) & {
  target?: string;
};

/** Which dead letters a redrive job moves; the fields combine with AND. */
export interface RedriveFilter {
  /** A failure cluster's fingerprint. */
  cluster?: string;
  /** Substring of any failure reason. */
  reason?: string;
  /** Substring of the body. */
  text?: string;
  /** `diedAt` bounds, epoch ms. */
  since?: number;
  until?: number;
  key?: string;
}

export interface NewRedriveJob {
  filter?: RedriveFilter;
  /** Default: the queue the dead letters came from. */
  target?: string;
  /** Messages per second, 1–1000, default 50. */
  rate?: number;
  /** Move this many first; go on only once every one was acked at the target. */
  canary?: number;
}

export type RedriveJobState =
  | "canary"
  | "running"
  | "done"
  | "cancelled"
  | "canary_failed"
  | "failed";

export interface RedriveJob {
  id: string;
  queue: string;
  target: string;
  filter: RedriveFilter;
  rate: number;
  state: RedriveJobState;
  /** Why the job stopped or waits; null while all is well. */
  detail: string | null;
  moved: number;
  /** Matching dead letters (that died before the job began) still in the queue. */
  remaining: number;
  /** Moved messages known to have failed again. */
  failedAgain: number;
  canary: { size: number; moved: number; acked: number; failed: number } | null;
  /** The API key that created the job, or `admin`. */
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface RedriveResult {
  redriven: number;
  /** Dead letters left in the queue afterwards. */
  remaining: number;
}

// ───────────────────────────── keys ─────────────────────────────

export type Scope = "produce" | "consume" | "admin";

export interface NewApiKey {
  name: string;
  scopes: Scope[];
  /** Queue name patterns; `*` matches any run of characters. */
  queues: string[];
  /** Topic name patterns, likewise: publishing needs `produce` on the topic. */
  topics?: string[];
  /** Browser origins allowed to use the key (`*` for any). */
  origins?: string[];
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  queues: string[];
  topics: string[];
  origins: string[];
  createdAt: number;
}

/** A new key with its secret, the Bearer token: it is shown this once. */
export interface CreatedKey extends ApiKey {
  secret: string;
}

/** An RFC 9457 problem, as every refusal is answered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

// ───────────────────────────── topics ─────────────────────────────

/** An exact header value, `{prefix}`, or `{exists}` (false: the header is absent). */
export type FilterCondition = string | { prefix: string } | { exists: boolean };

/**
 * Which published messages a subscribed queue gets, by header: every header named must match
 * ("and"), any of its conditions will do ("or").
 */
export type TopicFilter = Record<string, FilterCondition | FilterCondition[]>;

export interface NewSubscription {
  queue: string;
  /** Leave out to receive every message. */
  filter?: TopicFilter;
}

export interface TopicDefinition {
  subscriptions: NewSubscription[];
}

export interface Topic {
  name: string;
  /** Filters come back with every header's conditions as an array. */
  subscriptions: { queue: string; filter: Record<string, FilterCondition[]> | null }[];
  createdAt: number;
  updatedAt: number;
}

/** What one subscribed queue did with a publish; `index` is the message's place in it. */
export interface Delivery {
  queue: string;
  messages: SentMessage[];
  /** Messages this queue refused: `backlog_full`, `overloaded`, `message_too_large`, … */
  failed: { index: number; code: string; detail: string }[];
  /** Messages the subscription's filter passed over. */
  filtered: number[];
}

export interface PublishResult {
  deliveries: Delivery[];
}

// ───────────────────────────── schedules ─────────────────────────────

/** A schedule's message: a send's message without `dedupId`, which each fire sets. */
export type ScheduledMessage = Omit<NewMessage, "dedupId">;

export interface ScheduleTiming {
  /** 5 fields, as crontab(5) reads them; give this or `every`. */
  cron?: string;
  /** The IANA timezone `cron` is read in [UTC]. */
  timezone?: string;
  /** Seconds between fires, counted from `start` (or the schedule's creation). */
  every?: number;
  /** Epoch ms: no fire before it. */
  start?: number;
  /** Epoch ms: no fire at or after it. */
  end?: number;
}

export interface NewSchedule extends ScheduleTiming {
  queue: string;
  message: ScheduledMessage;
  paused?: boolean;
}

export type FireOutcome =
  | { ok: true; id: string; duplicate: boolean }
  | { ok: false; code: string; detail: string; retry: boolean };

export interface Schedule extends ScheduleTiming {
  name: string;
  queue: string;
  /** As saved (the API never stores a dedupId here: each fire sets its own). */
  message: NewMessage & { contentType: ContentType };
  paused: boolean;
  /** Null when paused or ended. */
  nextFireAt: number | null;
  /** The next fire times, up to 5. */
  upcoming: number[];
  lastFireAt: number | null;
  lastOutcome: FireOutcome | null;
  createdAt: number;
  updatedAt: number;
}
