/**
 * Every shape the HTTP API reads or answers, as zod schemas. The router validates with the
 * request schemas, the service layer's types are inferred from the answer schemas, and the
 * OpenAPI document (`openapi.ts`) is generated from both, so the three cannot drift apart.
 */
import { z } from "zod";
import { NewApiKeySchema, ScopeSchema } from "../core/api-keys.ts";
import {
  type FailureCluster,
  type HistoryBucket,
  MAX_BATCH,
  type MessageFields as StoredFields,
} from "../core/contract.ts";
import { MAX_FINGERPRINT_LENGTH } from "../core/failure-fingerprint.ts";
import { isJsonValue, type JsonValue } from "../core/message-json.ts";
import {
  KeyLimitsSchema,
  MAX_PARTITIONS,
  QueueConfigSchema,
  QueueNameSchema,
} from "../core/queue-config.ts";
import { NewRedriveJobSchema, RedriveFilterSchema, type RedriveJob } from "../core/redrive.ts";
import { ScheduleTimingSchema } from "../core/schedule.ts";
import { isDeadLetterCursor } from "../durable-objects/dead-letters.ts";
import { MAX_CREDIT } from "../durable-objects/subscription.ts";

export { KeyLimitsSchema, QueueConfigPatchSchema, QueueNameSchema } from "../core/queue-config.ts";

/** The longest a receive may park waiting for a message (SQS's limit). */
export const MAX_WAIT_SECONDS = 20;
/**
 * The longest a message may be delayed: the longest retention (14 days). A send is also held
 * to its own queue's retention (service.ts), past which the message would be dropped unseen.
 */
export const MAX_DELAY_SECONDS = 14 * 86_400;
/** The longest a nack may hold a message back before its retry: 12 hours. */
export const MAX_RETRY_DELAY_SECONDS = 43_200;
export const MAX_LEASE_SECONDS = 43_200;
export const MAX_MESSAGE_HEADERS = 32;
const MAX_PARTITION_INDEX = MAX_PARTITIONS - 1;

export const CONTENT_TYPES = [
  "application/json",
  "text/plain",
  "application/octet-stream",
] as const;

/** A JSON value in OpenAPI: its JSON Schema, pointing at itself by the component's name. */
const JSON_VALUE_SCHEMA = {
  description: "Any JSON value",
  anyOf: [
    { type: "string" },
    { type: "number" },
    { type: "boolean" },
    { type: "null" },
    { type: "array", items: { $ref: "#/components/schemas/JsonValue" } },
    { type: "object", additionalProperties: { $ref: "#/components/schemas/JsonValue" } },
  ],
};

/**
 * Any JSON value, checked by `isJsonValue` and passed on as it is. Not `z.json()`: zod walks a
 * recursive schema node by node through its cycle memo and copies the value, which costs more
 * than parsing the JSON once a body has a few hundred fields (docs/architecture.md, "Admission
 * and the front path").
 */
export const JsonValueSchema = z
  .custom<JsonValue>(isJsonValue, {
    error: (issue) =>
      issue.input === undefined
        ? "is required"
        : "is not a JSON value (NaN, Infinity, a Date, a Map, a class instance or a cycle are not); send JSON",
  })
  .meta(JSON_VALUE_SCHEMA);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// ───────────────────────────── requests ─────────────────────────────

/**
 * Text stored as it is must be well-formed UTF-16: storage keeps UTF-8, so a lone surrogate
 * would come back as replacement characters, not as sent.
 */
const isWellFormed = (text: string) => text.isWellFormed();
const NOT_WELL_FORMED =
  "has a lone surrogate (\\uD800–\\uDFFF without its pair); send well-formed Unicode";

export const MessageKeySchema = z.string().min(1).max(256).refine(isWellFormed, NOT_WELL_FORMED);
export const DedupIdSchema = z.string().min(1).max(128).refine(isWellFormed, NOT_WELL_FORMED);
export const DelaySecondsSchema = z.number().int().min(0).max(MAX_DELAY_SECONDS);
const RetryDelaySecondsSchema = z.number().int().min(0).max(MAX_RETRY_DELAY_SECONDS);
export const PrioritySchema = z.number().int().min(0).max(9);

export const MessageHeadersSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "a header name is 1–64 of A–Z a–z 0–9 . _ -"),
    z.string().max(1024),
  )
  .refine((headers) => Object.keys(headers).length <= MAX_MESSAGE_HEADERS, {
    message: `at most ${MAX_MESSAGE_HEADERS} headers`,
  });

export const MessageInputSchema = z
  .object({
    body: JsonValueSchema,
    key: MessageKeySchema.optional(),
    dedupId: DedupIdSchema.optional(),
    delaySeconds: DelaySecondsSchema.optional(),
    priority: PrioritySchema.optional(),
    headers: MessageHeadersSchema.optional(),
    contentType: z.enum(CONTENT_TYPES).default("application/json"),
  })
  .strict()
  .superRefine((message, context) => {
    if (message.contentType === "application/json") return;
    if (typeof message.body !== "string") {
      context.addIssue({
        code: "custom",
        path: ["body"],
        message: `a ${message.contentType} body is a string`,
      });
    } else if (!isWellFormed(message.body)) {
      context.addIssue({ code: "custom", path: ["body"], message: NOT_WELL_FORMED });
    } else if (message.contentType === "application/octet-stream" && !BASE64.test(message.body)) {
      context.addIssue({
        code: "custom",
        path: ["body"],
        message: "an application/octet-stream body is base64",
      });
    }
  });

export const SendBatchSchema = z
  .object({ messages: z.array(MessageInputSchema).min(1).max(MAX_BATCH) })
  .strict();

/** What a JSON send accepts: a batch, or one message object. */
export const SendBodySchema = z.union([SendBatchSchema, MessageInputSchema]);

/** Headers of a raw (non-JSON) send; only `Sluice-*` headers are read, case-insensitively. */
export const RawSendHeadersSchema = z
  .object({
    "sluice-key": MessageKeySchema.optional(),
    "sluice-dedup-id": DedupIdSchema.optional(),
    "sluice-delay": z.coerce.number().pipe(DelaySecondsSchema).optional(),
    "sluice-priority": z.coerce.number().pipe(PrioritySchema).optional(),
  })
  .strict();

const ReceiptSchema = z.string().min(1).max(200);

export const ReceiptsSchema = z.array(ReceiptSchema).min(1).max(MAX_BATCH);

export const ReceiveBodySchema = z
  .object({
    max: z.number().int().min(1).max(MAX_BATCH).default(1),
    visibilityTimeout: z.number().int().min(1).max(MAX_LEASE_SECONDS).optional(),
    wait: z.number().min(0).max(MAX_WAIT_SECONDS).default(0),
    partition: z.number().int().min(0).max(MAX_PARTITION_INDEX).optional(),
    /** Receipts to ack before leasing: the consumer's last receive, acked by its next. */
    ack: z.array(ReceiptSchema).max(MAX_BATCH).optional(),
  })
  .strict();

export const AckBodySchema = z.object({ receipts: ReceiptsSchema }).strict();

export const NackBodySchema = z
  .object({
    receipts: ReceiptsSchema,
    delaySeconds: RetryDelaySecondsSchema.optional(),
    reason: z.string().min(1).max(1000).optional(),
  })
  .strict();

export const ExtendBodySchema = z
  .object({
    receipts: ReceiptsSchema,
    visibilityTimeout: z.number().int().min(0).max(MAX_LEASE_SECONDS),
  })
  .strict();

/** GET /v1/queues/:q/subscribe: how long the messages a WebSocket is sent stay leased. */
export const SubscribeQuerySchema = z
  .object({
    visibilityTimeout: z.coerce.number().int().min(1).max(MAX_LEASE_SECONDS).optional(),
  })
  .strict();

const FrameIdSchema = z.string().min(1).max(64).optional();

/**
 * What a WebSocket consumer sends (docs/push-and-websockets.md): credit for more messages,
 * and acks, nacks and extends shaped like their HTTP bodies. `id` is echoed in the answer.
 */
export const SubscriberFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("credit"), n: z.number().int().min(1).max(MAX_CREDIT) }).strict(),
  AckBodySchema.extend({ type: z.literal("ack"), id: FrameIdSchema }),
  NackBodySchema.extend({ type: z.literal("nack"), id: FrameIdSchema }),
  ExtendBodySchema.extend({ type: z.literal("extend"), id: FrameIdSchema }),
]);

export const PeekQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(MAX_BATCH).default(10),
    after: z.coerce.number().int().min(0).optional(),
    partition: z.coerce.number().int().min(0).max(MAX_PARTITION_INDEX).optional(),
  })
  .strict();

/** A failure cluster's fingerprint, as `GET /v1/queues/:q/dlq/clusters` lists it. */
export const FingerprintSchema = z.string().max(MAX_FINGERPRINT_LENGTH);

export const DeadLetterQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(MAX_BATCH).default(20),
    cursor: z
      .string()
      .refine(isDeadLetterCursor, "is not a cursor this API handed out; start without one")
      .optional(),
    reason: z.string().min(1).max(200).optional(),
    q: z.string().min(1).max(200).optional(),
    since: z.coerce.number().int().min(0).optional(),
    until: z.coerce.number().int().min(0).optional(),
    cluster: FingerprintSchema.optional(),
    key: MessageKeySchema.optional(),
  })
  .strict();

export const ClusterQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(MAX_BATCH).default(MAX_BATCH) })
  .strict();

export { NewRedriveJobSchema };

/** A day of minutes: the history a partition keeps. */
const MAX_HISTORY_RANGE_MS = 86_400_000;

/** `from`/`to` epoch ms (default: the last hour), `step` seconds per bucket (a whole minute). */
export const HistoryQuerySchema = z
  .object({
    from: z.coerce.number().int().min(0).optional(),
    to: z.coerce.number().int().min(0).optional(),
    step: z.coerce
      .number()
      .int()
      .min(60)
      .max(86_400)
      .refine((step) => step % 60 === 0, "is a whole number of minutes, in seconds")
      .default(60),
  })
  .strict()
  .refine((query) => (query.from ?? 0) <= (query.to ?? Number.MAX_SAFE_INTEGER), {
    message: "from is after to",
  })
  .refine(
    (query) =>
      query.from === undefined ||
      query.to === undefined ||
      query.to - query.from <= MAX_HISTORY_RANGE_MS,
    { message: "from and to are at most 24 hours apart (the history kept)" },
  );

export const HistoryBucketSchema = z.object({
  at: z.number().int(),
  sent: z.number().int(),
  acked: z.number().int(),
  nacked: z.number().int(),
  deadLettered: z.number().int(),
  expired: z.number().int(),
  shed: z.number().int(),
  backlog: z.number().int(),
  oldestAgeMs: z.number().int(),
  latencyP50Ms: z.number().int().nullable(),
  latencyP99Ms: z.number().int().nullable(),
}) satisfies z.ZodType<HistoryBucket>;

export const HistorySchema = z.object({
  from: z.number().int(),
  to: z.number().int(),
  step: z.number().int(),
  buckets: z.array(HistoryBucketSchema),
});

/** Without `cluster`, every dead letter of the queue. */
export const PurgeDeadLettersBodySchema = z
  .object({ cluster: FingerprintSchema.optional() })
  .strict();

export const IdSchema = z.string().min(1).max(128);

/**
 * A change to a dead letter before it is redriven: a new body (read as a send's, with its
 * `contentType`, default application/json), new headers (replacing them all), or both.
 */
export const EditDeadLetterBodySchema = z
  .object({
    body: JsonValueSchema.optional(),
    contentType: z.enum(CONTENT_TYPES).optional(),
    headers: MessageHeadersSchema.optional(),
  })
  .strict()
  .superRefine((edit, context) => {
    if (edit.body === undefined && edit.headers === undefined) {
      context.addIssue({ code: "custom", path: [], message: "give body, headers or both" });
    }
    if (edit.body === undefined) {
      if (edit.contentType !== undefined) {
        context.addIssue({ code: "custom", path: ["contentType"], message: "goes with a body" });
      }
      return;
    }
    const message = MessageInputSchema.safeParse({
      body: edit.body,
      contentType: edit.contentType,
    });
    for (const issue of message.error?.issues ?? []) {
      context.addIssue({ code: "custom", path: issue.path, message: issue.message });
    }
  });

export const RedriveBodySchema = z
  .object({
    ids: z.array(IdSchema).min(1).max(MAX_BATCH).optional(),
    all: z.literal(true).optional(),
    target: QueueNameSchema.optional(),
  })
  .strict()
  .refine((body) => (body.ids === undefined) !== (body.all === undefined), {
    message: "give either ids: [...] or all: true",
  });

/** The catalog owns what a key is made of; the router validates with its schema. */
export const CreateKeyBodySchema = NewApiKeySchema;

// ───────────────────────────── answers ─────────────────────────────

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
});

export const HealthSchema = z.object({ ok: z.literal(true) });

export const HeldKeySchema = z.object({
  key: z.string(),
  partition: z.number().int(),
  reason: z.enum(["paused", "rate", "concurrency"]),
  oldestWaitMs: z.number().int().describe("how long its oldest message left behind has waited"),
});

const EpochMs = z.number().int().min(0);

export const PauseBodySchema = z
  .object({
    key: MessageKeySchema.optional().describe(
      "pause only this key's messages (in fifo queues, its group)",
    ),
    until: EpochMs.refine((until) => until > Date.now(), "until must be in the future")
      .optional()
      .describe(
        "resume by itself at this time (epoch ms); without it the pause lasts until resumed",
      ),
  })
  .strict();

export const ResumeBodySchema = PauseBodySchema.pick({ key: true });

export const PauseResultSchema = z.object({
  key: z.string().nullable(),
  paused: z.boolean(),
  until: z.number().int().nullable(),
});

export const KeyFlowSchema = z.object({
  key: z.string(),
  partition: z.number().int(),
  limits: KeyLimitsSchema.nullable().describe("the key's own limits; null: the queue's apply"),
  effective: KeyLimitsSchema.describe("what applies: the queue's keyLimits, then the key's own"),
  paused: z.object({ until: z.number().int().nullable() }).nullable(),
  leased: z.number().int(),
  waiting: z.number().int(),
});

export const QueueStatsSchema = z.object({
  ready: z.number().int(),
  leased: z.number().int(),
  delayed: z.number().int(),
  deadLettered: z.number().int(),
  oldestAgeMs: z.number().int(),
  sent: z.number().int(),
  acked: z.number().int(),
  backlogBytes: z.number().int(),
  /** Flow control (docs/architecture.md, "Flow control"). */
  paused: z.boolean().describe("the queue is paused: nothing is leased, pushed or sent to sockets"),
  pausedUntil: z
    .number()
    .int()
    .nullable()
    .describe("when a pause with an end resumes by itself (epoch ms); null without one"),
  pausedKeys: z.number().int().describe("keys paused on their own"),
  heldKeys: z
    .array(HeldKeySchema)
    .describe(
      "keys whose ready messages the last receives had to leave behind (paused, out of rate tokens, at their concurrency), oldest wait first, at most 20 a partition",
    ),
  /** What the queue's partitions cost since each last started (statements and rows billed). */
  usage: z.object({
    requests: z.number().int(),
    statements: z.number().int(),
    rowsRead: z.number().int(),
    rowsWritten: z.number().int(),
  }),
});

export const QueueDefinitionSchema = z.object({ name: z.string(), config: QueueConfigSchema });

export const QueueSchema = QueueDefinitionSchema.extend({ stats: QueueStatsSchema });

export const QueueListSchema = z.object({ queues: z.array(QueueSchema) });

export const SendFailureSchema = z.object({
  index: z.number().int(),
  code: z.enum(["backlog_full", "overloaded"]),
  detail: z.string(),
});

export const SendResultSchema = z.object({
  messages: z.array(
    z.object({
      index: z.number().int(),
      id: z.string(),
      partition: z.number().int(),
      seq: z.number().int(),
      duplicate: z.boolean(),
    }),
  ),
  failed: z.array(SendFailureSchema).optional(),
});

/**
 * A message's fields as answers show them: core/contract.ts `MessageFields` (checked here, field
 * by field) with its body read: JSON parsed, text as it is, binary as base64.
 */
const MessageFields = {
  id: z.string(),
  body: JsonValueSchema,
  contentType: z.enum(CONTENT_TYPES),
  headers: z.record(z.string(), z.string()),
  key: z.string().nullable(),
  priority: z.number().int(),
  attempts: z.number().int(),
  sentAt: z.number().int(),
  partition: z.number().int(),
  seq: z.number().int(),
} satisfies {
  [Field in keyof StoredFields]: z.ZodType<Field extends "body" ? JsonValue : StoredFields[Field]>;
};

export const ReceivedMessageSchema = z.object({
  ...MessageFields,
  receipt: z.string(),
  /** When this lease began: a consumer's span runs from sentAt through leasedAt. */
  leasedAt: z.number().int(),
  leaseExpiresAt: z.number().int(),
});

export const ReceiptFailureSchema = z.object({
  receipt: z.string(),
  code: z.enum(["receipt_invalid", "receipt_stale", "overloaded"]),
});

export const AckResultSchema = z.object({
  acked: z.number().int(),
  failed: z.array(ReceiptFailureSchema),
});

export const ReceiveResultSchema = z.object({
  messages: z.array(ReceivedMessageSchema),
  /** What became of the request's `ack`, when it carried one. */
  ack: AckResultSchema.optional(),
});

export const NackResultSchema = z.object({
  retried: z.number().int(),
  deadLettered: z.number().int(),
  failed: z.array(ReceiptFailureSchema),
});

export const ExtendResultSchema = z.object({
  extended: z.number().int(),
  failed: z.array(ReceiptFailureSchema),
});

export const PurgeResultSchema = z.object({ purged: z.number().int() });

export const PeekedMessageSchema = z.object({
  ...MessageFields,
  state: z.enum(["ready", "leased", "delayed"]),
  visibleAt: z.number().int(),
});

export const PeekResultSchema = z.object({ messages: z.array(PeekedMessageSchema) });

export const DeadMessageSchema = z.object({
  ...MessageFields,
  queue: z.string(),
  failures: z.array(
    z.object({
      at: z.number().int(),
      attempt: z.number().int(),
      reason: z.string(),
      by: z.enum(["nack", "expiry", "push"]),
    }),
  ),
  diedAt: z.number().int(),
  /** Changes made before a redrive (`POST /v1/queues/:q/dlq/:id/edit`), oldest first. */
  edits: z.array(
    z.object({
      at: z.number().int(),
      by: z.string(),
      field: z.enum(["body", "headers"]),
      previousSha256: z.string(),
    }),
  ),
});

export const DeadLetterPageSchema = z.object({
  messages: z.array(DeadMessageSchema),
  cursor: z.string().nullable(),
});

export const FailureClusterSchema = z.object({
  fingerprint: z.string(),
  example: z.string(),
  count: z.number().int(),
  keys: z.array(z.object({ key: z.string(), count: z.number().int() })),
  firstAt: z.number().int(),
  lastAt: z.number().int(),
}) satisfies z.ZodType<FailureCluster>;

export const ClusterListSchema = z.object({ clusters: z.array(FailureClusterSchema) });

export const RedriveJobSchema = z.object({
  id: z.string(),
  queue: z.string(),
  target: z.string(),
  filter: RedriveFilterSchema,
  rate: z.number().int(),
  state: z.enum(["canary", "running", "done", "cancelled", "canary_failed", "failed"]),
  detail: z.string().nullable(),
  moved: z.number().int(),
  remaining: z.number().int(),
  failedAgain: z.number().int(),
  canary: z
    .object({
      size: z.number().int(),
      moved: z.number().int(),
      acked: z.number().int(),
      failed: z.number().int(),
    })
    .nullable(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
}) satisfies z.ZodType<RedriveJob>;

export const RedriveJobListSchema = z.object({ jobs: z.array(RedriveJobSchema) });

export const RedriveResultSchema = z.object({
  redriven: z.number().int(),
  /** Messages still in the dead-letter queue afterwards. */
  remaining: z.number().int(),
});

export const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(ScopeSchema),
  queues: z.array(z.string()),
  topics: z.array(z.string()),
  origins: z.array(z.string()),
  createdAt: z.number().int(),
});

export const CreatedKeySchema = ApiKeySchema.extend({ secret: z.string() });

export const KeyListSchema = z.object({ keys: z.array(ApiKeySchema) });

export type MessageInput = z.output<typeof MessageInputSchema>;
export type ReceiveInput = z.output<typeof ReceiveBodySchema>;
export type SubscriberFrame = z.output<typeof SubscriberFrameSchema>;
export type PeekQuery = z.output<typeof PeekQuerySchema>;
export type DeadLetterQueryInput = z.output<typeof DeadLetterQuerySchema>;
export type RedriveInput = z.output<typeof RedriveBodySchema>;
export type NewRedriveJobInput = z.output<typeof NewRedriveJobSchema>;
export type EditDeadLetterInput = z.output<typeof EditDeadLetterBodySchema>;
export type HistoryQuery = z.output<typeof HistoryQuerySchema>;
export type ClusterQuery = z.output<typeof ClusterQuerySchema>;
export type PurgeDeadLettersInput = z.output<typeof PurgeDeadLettersBodySchema>;
export type CreateKeyInput = z.output<typeof CreateKeyBodySchema>;
export type { JsonValue };
export type QueueStats = z.output<typeof QueueStatsSchema>;
export type QueueView = z.output<typeof QueueSchema>;
export type SendResult = z.output<typeof SendResultSchema>;
export type ReceivedMessage = z.output<typeof ReceivedMessageSchema>;
export type ReceiptFailure = z.output<typeof ReceiptFailureSchema>;
export type AckResult = z.output<typeof AckResultSchema>;
export type PeekedMessageView = z.output<typeof PeekedMessageSchema>;
export type DeadMessageView = z.output<typeof DeadMessageSchema>;

// ───────────────────────────── topics and schedules ─────────────────────────────

export { TopicDefinitionSchema as PutTopicBodySchema, TopicNameSchema } from "../core/topic.ts";

const FilterSchema = z.record(
  z.string(),
  z.array(
    z.union([z.string(), z.object({ prefix: z.string() }), z.object({ exists: z.boolean() })]),
  ),
);

export const TopicSchema = z.object({
  name: z.string(),
  subscriptions: z.array(z.object({ queue: z.string(), filter: FilterSchema.nullable() })),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

export const TopicListSchema = z.object({ topics: z.array(TopicSchema) });

export const PublishResultSchema = z.object({
  deliveries: z.array(
    z.object({
      queue: z.string(),
      messages: SendResultSchema.shape.messages,
      /** Messages this queue refused: `backlog_full`, `overloaded`, `message_too_large`, … */
      failed: z.array(z.object({ index: z.number().int(), code: z.string(), detail: z.string() })),
      /** Messages the subscription's filter passed over. */
      filtered: z.array(z.number().int()),
    }),
  ),
});

/** Schedule names follow topic names: 1–80 of A–Z a–z 0–9 - _. */
export const ScheduleNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,80}$/,
    "a schedule name is 1–80 characters of A–Z, a–z, 0–9, '-' and '_'",
  );

/** A scheduled message: a send's message without dedupId, which each fire sets. */
export const ScheduleMessageSchema = MessageInputSchema.refine(
  (message) => message.dedupId === undefined,
  {
    path: ["dedupId"],
    message: "each fire is sent with dedupId schedule:<name>:<fire time>; leave it out",
  },
);

export const PutScheduleBodySchema = z
  .object({
    queue: QueueNameSchema,
    message: ScheduleMessageSchema,
    paused: z.boolean().default(false),
    ...ScheduleTimingSchema.shape,
  })
  .strict()
  .superRefine((body, context) => {
    const { queue: _, message: __, paused: ___, ...timing } = body;
    const checked = ScheduleTimingSchema.safeParse(timing);
    if (!checked.success) for (const issue of checked.error.issues) context.addIssue({ ...issue });
  });

export const ScheduleSchema = z.object({
  name: z.string(),
  queue: z.string(),
  message: ScheduleMessageSchema,
  cron: z.string().optional(),
  timezone: z.string().optional(),
  every: z.number().int().optional(),
  start: z.number().int().optional(),
  end: z.number().int().optional(),
  paused: z.boolean(),
  nextFireAt: z.number().int().nullable(),
  /** The next fire times, up to 5. */
  upcoming: z.array(z.number().int()),
  lastFireAt: z.number().int().nullable(),
  lastOutcome: z
    .union([
      z.object({ ok: z.literal(true), id: z.string(), duplicate: z.boolean() }),
      z.object({ ok: z.literal(false), code: z.string(), detail: z.string(), retry: z.boolean() }),
    ])
    .nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleSchema) });

export type PutScheduleBody = z.output<typeof PutScheduleBodySchema>;
