/**
 * SQS queue URLs, ARNs and attributes, and how they map onto a Sluice queue's configuration
 * (the table is in docs/sqs.md). Attribute values are strings, as SQS gives them.
 */

import type {
  Limit,
  QueueConfig,
  QueueConfigPatch,
  QueueRecord,
  SqsAttributes,
} from "../../../core/queue-config.ts";
import { LIMITS, QueueNameSchema } from "../../../core/queue-config.ts";
import type { QueueStats } from "../../schemas.ts";
import { sqsError } from "./errors.ts";

/** Sluice has no AWS accounts; every queue URL and ARN names this one. */
export const ACCOUNT_ID = "000000000000";

/**
 * SQS redelivers a message without a redrive policy until its retention ends; Sluice
 * dead-letters every queue's messages after `maxAttempts`, at most this many.
 */
export const NO_REDRIVE_MAX_ATTEMPTS = LIMITS.maxAttempts.max;

/** SQS's own floor for MaximumMessageSize; Sluice's ceiling is the queue's (`LIMITS`). */
const MAXIMUM_MESSAGE_SIZE: Limit = { min: 1024, max: LIMITS.maxMessageBytes.max };

const SUPPORTED = [
  "VisibilityTimeout",
  "MessageRetentionPeriod",
  "MaximumMessageSize",
  "DelaySeconds",
  "ReceiveMessageWaitTimeSeconds",
  "RedrivePolicy",
  "FifoQueue",
  "ContentBasedDeduplication",
  "DeduplicationScope",
  "FifoThroughputLimit",
];

const READ_ONLY = [
  "ApproximateNumberOfMessages",
  "ApproximateNumberOfMessagesNotVisible",
  "ApproximateNumberOfMessagesDelayed",
  "CreatedTimestamp",
  "LastModifiedTimestamp",
  "QueueArn",
];

/** SQS attributes Sluice does not keep: never reported, refused when set. */
const NOT_KEPT = [
  "Policy",
  "RedriveAllowPolicy",
  "KmsMasterKeyId",
  "KmsDataKeyReusePeriodSeconds",
  "SqsManagedSseEnabled",
];

export function isAttributeName(name: string): boolean {
  return [SUPPORTED, READ_ONLY, NOT_KEPT].some((names) => names.includes(name));
}

/** The attributes that need the queue's stats, read from its partitions. */
export const STATS_ATTRIBUTES = READ_ONLY.slice(0, 3);

/** The attributes kept in the configuration's `sqs` object. */
const SQS_ONLY = [
  "DelaySeconds",
  "ReceiveMessageWaitTimeSeconds",
  "RedrivePolicy",
  "ContentBasedDeduplication",
];

const FIFO_ONLY = ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

export function isFifoName(name: string): boolean {
  return name.endsWith(".fifo");
}

export function queueUrl(origin: string, name: string): string {
  return `${origin}/${ACCOUNT_ID}/${name}`;
}

export function queueArn(region: string, name: string): string {
  return `arn:aws:sqs:${region}:${ACCOUNT_ID}:${name}`;
}

/**
 * The queue a URL names. Only the path is read (`/000000000000/<name>`), so a URL keeps
 * working behind a proxy that changes the host.
 */
export function queueNameOf(url: string): string {
  const segments = URL.parse(url)?.pathname.split("/").slice(1) ?? [];
  const [account, name] = segments;
  if (segments.length !== 2 || account !== ACCOUNT_ID || !QueueNameSchema.safeParse(name).success) {
    throw sqsError(
      "InvalidAddress",
      `'${url}' is not a Sluice queue URL; they look like <endpoint>/${ACCOUNT_ID}/<queue name> (GetQueueUrl answers one)`,
    );
  }
  return name;
}

/**
 * How a queue created through the SQS door behaves unless its attributes say otherwise:
 * SQS's semantics rather than Sluice's defaults. `.fifo` queues are fifo (message groups),
 * standard queues unordered; a message whose visibility timeout ends is visible again at
 * once (no backoff); without a redrive policy a message is received up to
 * `NO_REDRIVE_MAX_ATTEMPTS` times.
 */
export function creationConfig(name: string): QueueConfigPatch {
  return {
    ordering: isFifoName(name) ? "fifo" : "unordered",
    retry: { initialDelay: 0, maxDelay: 0, multiplier: 1, jitter: false },
    maxAttempts: NO_REDRIVE_MAX_ATTEMPTS,
  };
}

function invalidValue(attribute: string, value: string, rule: string) {
  return sqsError("InvalidAttributeValue", `invalid value '${value}' for ${attribute}: ${rule}`);
}

function integer(attribute: string, value: string, { min, max }: Limit, why = ""): number {
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) {
    throw invalidValue(attribute, value, `an integer from ${min} to ${max}${why}`);
  }
  return number;
}

function boolean(attribute: string, value: string): boolean {
  if (value !== "true" && value !== "false") throw invalidValue(attribute, value, "true or false");
  return value === "true";
}

function oneOf(attribute: string, value: string, allowed: string[]): void {
  if (!allowed.includes(value))
    throw invalidValue(attribute, value, `one of ${allowed.join(", ")}`);
}

function redrivePolicy(value: string): { deadLetterTargetArn: string; maxReceiveCount: number } {
  let policy: unknown;
  try {
    policy = JSON.parse(value);
  } catch {
    throw invalidValue(
      "RedrivePolicy",
      value,
      "a JSON object {deadLetterTargetArn, maxReceiveCount}",
    );
  }
  const { deadLetterTargetArn, maxReceiveCount } = (policy ?? {}) as Record<string, unknown>;
  if (typeof deadLetterTargetArn !== "string" || !/^arn:\S{1,250}$/.test(deadLetterTargetArn)) {
    throw invalidValue("RedrivePolicy", value, "deadLetterTargetArn must be an ARN");
  }
  return {
    deadLetterTargetArn,
    maxReceiveCount: integer(
      "RedrivePolicy.maxReceiveCount",
      String(maxReceiveCount),
      LIMITS.maxAttempts,
      ` (Sluice dead-letters after at most ${LIMITS.maxAttempts.max} receives)`,
    ),
  };
}

/** Only values that differ from the defaults are kept, in the schema's order. */
function withoutDefaults({
  delaySeconds,
  receiveWaitSeconds,
  contentBasedDeduplication,
  deadLetterTargetArn,
}: SqsAttributes): SqsAttributes {
  return {
    ...(delaySeconds ? { delaySeconds } : {}),
    ...(receiveWaitSeconds ? { receiveWaitSeconds } : {}),
    ...(contentBasedDeduplication ? { contentBasedDeduplication } : {}),
    ...(deadLetterTargetArn ? { deadLetterTargetArn } : {}),
  };
}

/**
 * The configuration change that SQS attributes ask of queue `name` (currently `current`, or
 * not yet created). Unknown, read-only and misplaced attributes are refused by name.
 */
export function attributesPatch(
  name: string,
  attributes: Record<string, string>,
  current?: QueueConfig,
): QueueConfigPatch {
  const fifo = isFifoName(name);
  const patch: QueueConfigPatch = {};
  const sqs: SqsAttributes = { ...current?.sqs };
  let sqsTouched = false;
  for (const [attribute, value] of Object.entries(attributes)) {
    if (READ_ONLY.includes(attribute)) {
      throw sqsError("InvalidAttributeName", `${attribute} is read-only`);
    }
    if (!SUPPORTED.includes(attribute)) {
      throw sqsError(
        "InvalidAttributeName",
        `Sluice does not support the queue attribute '${attribute}'; it sets ${SUPPORTED.join(", ")}`,
      );
    }
    if (FIFO_ONLY.includes(attribute) && !fifo) {
      throw sqsError(
        "InvalidAttributeName",
        `${attribute} applies to FIFO queues only, whose names end in .fifo`,
      );
    }
    sqsTouched ||= SQS_ONLY.includes(attribute);
    switch (attribute) {
      case "VisibilityTimeout":
        patch.visibilityTimeout = integer(
          attribute,
          value,
          LIMITS.visibilityTimeout,
          ` (Sluice leases for at least ${LIMITS.visibilityTimeout.min} second)`,
        );
        break;
      case "MessageRetentionPeriod":
        patch.retention = integer(attribute, value, LIMITS.retention);
        break;
      case "MaximumMessageSize":
        patch.maxMessageBytes = integer(attribute, value, MAXIMUM_MESSAGE_SIZE);
        break;
      case "DelaySeconds":
        sqs.delaySeconds = integer(attribute, value, LIMITS.sqsDelaySeconds);
        break;
      case "ReceiveMessageWaitTimeSeconds":
        sqs.receiveWaitSeconds = integer(attribute, value, LIMITS.sqsReceiveWaitSeconds);
        break;
      case "RedrivePolicy":
        if (value === "") {
          delete sqs.deadLetterTargetArn;
          patch.maxAttempts = NO_REDRIVE_MAX_ATTEMPTS;
        } else {
          const policy = redrivePolicy(value);
          sqs.deadLetterTargetArn = policy.deadLetterTargetArn;
          patch.maxAttempts = policy.maxReceiveCount;
        }
        break;
      case "FifoQueue":
        if (boolean(attribute, value) !== fifo) {
          throw invalidValue(
            attribute,
            value,
            "a FIFO queue's name ends in .fifo and a standard queue's does not",
          );
        }
        break;
      case "ContentBasedDeduplication":
        sqs.contentBasedDeduplication = boolean(attribute, value);
        break;
      case "DeduplicationScope":
        oneOf(attribute, value, ["queue", "messageGroup"]);
        break;
      case "FifoThroughputLimit":
        oneOf(attribute, value, ["perQueue", "perMessageGroupId"]);
        break;
    }
  }
  const kept = withoutDefaults(sqs);
  if (sqsTouched && (current?.sqs !== undefined || Object.keys(kept).length > 0)) patch.sqs = kept;
  return patch;
}

/**
 * Every attribute SQS would report for the queue. The Approximate* counts are there only
 * when `stats` are given. `DeduplicationScope` and `FifoThroughputLimit` follow from the
 * partitions: deduplication and ordering span the queue only when it has one.
 */
export function queueAttributes(
  record: QueueRecord,
  region: string,
  stats?: QueueStats,
): Record<string, string> {
  const { name, config } = record;
  const sqs = config.sqs ?? {};
  const attributes: Record<string, string> = {
    QueueArn: queueArn(region, name),
    VisibilityTimeout: String(config.visibilityTimeout),
    MessageRetentionPeriod: String(config.retention),
    MaximumMessageSize: String(config.maxMessageBytes),
    DelaySeconds: String(sqs.delaySeconds ?? 0),
    ReceiveMessageWaitTimeSeconds: String(sqs.receiveWaitSeconds ?? 0),
    CreatedTimestamp: String(Math.floor(record.createdAt / 1000)),
    LastModifiedTimestamp: String(Math.floor(record.updatedAt / 1000)),
  };
  if (stats !== undefined) {
    attributes.ApproximateNumberOfMessages = String(stats.ready);
    attributes.ApproximateNumberOfMessagesNotVisible = String(stats.leased);
    attributes.ApproximateNumberOfMessagesDelayed = String(stats.delayed);
  }
  if (sqs.deadLetterTargetArn !== undefined) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: sqs.deadLetterTargetArn,
      maxReceiveCount: config.maxAttempts,
    });
  }
  if (isFifoName(name)) {
    const single = config.partitions === 1;
    attributes.FifoQueue = "true";
    attributes.ContentBasedDeduplication = String(sqs.contentBasedDeduplication ?? false);
    attributes.DeduplicationScope = single ? "queue" : "messageGroup";
    attributes.FifoThroughputLimit = single ? "perQueue" : "perMessageGroupId";
  }
  return attributes;
}
