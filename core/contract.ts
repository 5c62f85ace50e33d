/**
 * The contract between the router and the Durable Objects: what travels over RPC.
 * Expected outcomes are values (tagged unions, per-item failures), never thrown errors;
 * a thrown error across RPC means a bug or an overloaded object.
 */
import type { FlowStats } from "./flow.ts";
import type { QueueConfig } from "./queue-config.ts";

export const MAX_BATCH = 100;

/** 1–MAX_BATCH whatever the caller sent. */
export function clampBatch(count: number): number {
  return Number.isFinite(count) ? Math.min(MAX_BATCH, Math.max(1, Math.trunc(count))) : 1;
}

export type ContentType = "application/json" | "text/plain" | "application/octet-stream";

/**
 * Sent with every partition call: what only the caller knows, the configuration the queue runs
 * under. The partition knows who it is from its name (`<queue>/<index>`), and keeps the newest
 * `configVersion` it has seen, so its alarm (which has no caller) runs under the configuration
 * of the last call.
 */
export interface PartitionContext {
  config: QueueConfig;
  configVersion: number;
}

/**
 * A lease as the partition names it: the message's seq and the lease's token. The router
 * decodes a receipt (receipt.ts) once, sends it to the partition it names, and passes these.
 */
export interface LeaseRef {
  seq: number;
  token: string;
}

/**
 * What a partition's storage work cost, cumulative since the object last started: the figures
 * Cloudflare bills. `requests` counts RPC calls and alarms; `statements`, `rowsRead` and
 * `rowsWritten` count every SQL statement the partition ran (cursor.rowsRead/rowsWritten).
 */
export interface PartitionUsage {
  requests: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

/** A message as a producer sends it, already validated by the router. */
export interface NewMessage {
  /** JSON text for application/json, the text for text/plain, base64 for octet-stream. */
  body: string;
  contentType: ContentType;
  headers: Record<string, string>;
  key?: string;
  dedupId?: string;
  delaySeconds?: number;
  /** 0–9, only meaningful for `ordering: "priority"`; default 0. */
  priority?: number;
}

export interface SentMessage {
  id: string;
  seq: number;
  duplicate: boolean;
}

export interface PartitionStats {
  partition: number;
  /** Visible now. */
  ready: number;
  /** Under a lease that has not expired. */
  leased: number;
  /** Waiting for a delay or retry backoff to pass. */
  delayed: number;
  /** Bytes of messages held (ready + leased + delayed), as message-bytes.ts counts them. */
  backlogBytes: number;
  /** sentAt of the oldest message held, or null when empty. */
  oldestSentAt: number | null;
  /** Handed to the dead-letter object or waiting in the outbox to be. */
  deadLettered: number;
  /** Waiting in the outbox for the dead-letter object to confirm. */
  pendingDeadLetters: number;
  /** Cumulative counters since the partition was created. */
  sent: number;
  acked: number;
  nacked: number;
  expired: number;
  /** With a range asked for (`stats(context, [from, to])`): the metrics history in it. */
  history?: HistoryBucket[];
  /** Pauses and keys held back (core/flow.ts). */
  flow: FlowStats;
  usage: PartitionUsage;
}

/**
 * One minute of a partition's metrics history (durable-objects/partition/history.ts), or of a
 * queue's, merged (`GET /v1/queues/:q/history`).
 */
export interface HistoryBucket {
  /** The minute's start, epoch ms. */
  at: number;
  sent: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  expired: number;
  /** Sends refused at the hard backlog. */
  shed: number;
  /** Messages held (ready, leased, delayed) at the minute's end. */
  backlog: number;
  /** Age of the oldest message held at the minute's end, ms (0 when none). */
  oldestAgeMs: number;
  /** Receive-to-ack latency percentiles; null when nothing was acked. */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export type SendOutcome =
  | { ok: true; messages: SentMessage[]; backpressure: boolean; stats: PartitionStats }
  | { ok: false; code: "backlog_full"; retryAfterSeconds: number; stats: PartitionStats };

export interface ReceiveOptions {
  max: number;
  /** Seconds; defaults to the queue's visibilityTimeout. */
  visibilityTimeout?: number;
  /** Milliseconds to park waiting for a message when none is visible; 0 returns at once. */
  waitMs: number;
  /**
   * Leases to ack first, in the same commit round: a consumer's last receive acked by its next
   * (one call a cycle instead of two). Answered in `ack`.
   */
  ack?: LeaseRef[];
}

export interface Received {
  messages: LeasedMessage[];
  /** What became of `ReceiveOptions.ack`, when the call carried it. */
  ack?: Acked;
  stats: PartitionStats;
}

/**
 * What every stored message shows, leased, peeked or dead: the one declaration of a message's
 * fields on the Worker's side (worker/schemas.ts checks its answer schemas against it; the
 * SDK's client/types.ts is kept apart on purpose and checked by test/client/wire-types.check.ts).
 */
export interface MessageFields {
  id: string;
  /** As stored: JSON text for application/json, the text, or base64. */
  body: string;
  contentType: ContentType;
  headers: Record<string, string>;
  key: string | null;
  priority: number;
  /** Receives so far, this one included. */
  attempts: number;
  sentAt: number;
  partition: number;
  seq: number;
}

export interface LeasedMessage extends MessageFields {
  /** Opaque; encodes partition, seq and lease token (see receipt.ts). */
  receipt: string;
  /** When this lease ends unless extended. */
  leaseExpiresAt: number;
}

/**
 * A leased message as a consumer gets it: with when its lease began, so a consumer can time
 * its work from enqueue (`sentAt`) through lease (`leasedAt`) to settle (by `leaseExpiresAt`).
 */
export interface DeliveredMessage extends LeasedMessage {
  leasedAt: number;
}

export interface PeekedMessage extends Omit<LeasedMessage, "receipt" | "leaseExpiresAt"> {
  state: "ready" | "leased" | "delayed";
  visibleAt: number;
}

export type ReceiptFailureCode =
  /** Not a receipt this service issued, or for another partition (or not a lease reference). */
  | "receipt_invalid"
  /** The lease ended (expired, or the message was re-leased, acked or dead-lettered). */
  | "receipt_stale";

export interface ItemFailure {
  /** Position in the request's receipts array. */
  index: number;
  code: ReceiptFailureCode;
}

export interface Acked {
  acked: number;
  failed: ItemFailure[];
}

export interface AckOutcome extends Acked {
  stats: PartitionStats;
}

export interface NackOutcome {
  retried: number;
  deadLettered: number;
  failed: ItemFailure[];
  stats: PartitionStats;
}

export interface ExtendOutcome {
  extended: number;
  failed: ItemFailure[];
  stats: PartitionStats;
}

/** One failed attempt in a message's history. */
export interface Failure {
  at: number;
  /** 1-based attempt number that failed. */
  attempt: number;
  reason: string;
  by: "nack" | "expiry" | "push";
}

/** A message that exhausted its attempts, with the whole history of why. */
export interface DeadMessage extends MessageFields {
  queue: string;
  failures: Failure[];
  diedAt: number;
}

/** A change a person made to a dead letter before redriving it, kept in its timeline. */
export interface DeadLetterEdit {
  at: number;
  /** The API key that made it, or `admin`. */
  by: string;
  field: "body" | "headers";
  /** SHA-256 (hex) of the value before: the body as stored, or the headers as stored JSON. */
  previousSha256: string;
}

/** A dead message as the dead-letter object holds it: with the edits made to it. */
export interface DeadLetter extends DeadMessage {
  edits: DeadLetterEdit[];
}

/** What an edit changes: the body (with its content type, stored form), the headers, or both. */
export interface DeadLetterChange {
  body?: string;
  contentType?: ContentType;
  headers?: Record<string, string>;
}

/** Which dead letters: the fields combine with AND. */
export interface DeadLetterFilter {
  /** Case-insensitive substring of any failure reason. */
  reason?: string;
  /** Case-insensitive substring of the body. */
  text?: string;
  /** diedAt bounds, epoch ms, inclusive. */
  since?: number;
  until?: number;
  /** Only the failure cluster with this fingerprint (core/failure-fingerprint.ts). */
  cluster?: string;
  /** Only messages with this key. */
  key?: string;
}

export interface DeadLetterQuery extends DeadLetterFilter {
  limit: number;
  cursor?: string;
}

export interface DeadLetterPage {
  messages: DeadLetter[];
  cursor: string | null;
}

/**
 * Dead letters whose final failure reasons share a fingerprint (core/failure-fingerprint.ts),
 * kept by the dead-letter object as messages arrive and leave.
 */
export interface FailureCluster {
  fingerprint: string;
  /** The final failure reason of the first message of the cluster, as it was. */
  example: string;
  count: number;
  /** The keys with the most messages in the cluster, most first, at most five. */
  keys: { key: string; count: number }[];
  /** diedAt of the cluster's oldest and newest message. */
  firstAt: number;
  lastAt: number;
}
