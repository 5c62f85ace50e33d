/**
 * Queue configuration: one zod schema gives validation, defaults, the TypeScript type and
 * the OpenAPI description. Times are seconds, sizes bytes, counts messages.
 */
import { z } from "zod";

export const MAX_PARTITIONS = 64;

/** A number's bounds, both included. */
export interface Limit {
  min: number;
  max: number;
}

/**
 * The bounds of every number in a queue's configuration, by field (times in seconds, sizes in
 * bytes, counts in messages). The configuration schema, the patch schema and the SQS door's
 * attributes (worker/doors/sqs/queue-attributes.ts) are all built from these.
 */
export const LIMITS = {
  partitions: { min: 1, max: MAX_PARTITIONS },
  visibilityTimeout: { min: 1, max: 43_200 },
  maxAttempts: { min: 1, max: 100 },
  retention: { min: 60, max: 14 * 86_400 },
  maxMessageBytes: { min: 1, max: 1_048_576 },
  dedupWindow: { min: 0, max: 86_400 },
  retryDelay: { min: 0, max: 43_200 },
  retryMultiplier: { min: 1, max: 10 },
  backlog: { min: 1, max: 100_000_000 },
  pushBatchSize: { min: 1, max: 100 },
  pushTimeout: { min: 1, max: 300 },
  pushConcurrency: { min: 1, max: 32 },
  sqsDelaySeconds: { min: 0, max: 900 },
  sqsReceiveWaitSeconds: { min: 0, max: 20 },
  keyRate: { min: 0.001, max: 100_000 },
  keyBurst: { min: 1, max: 100_000 },
  keyConcurrency: { min: 1, max: 100_000 },
  maxInFlight: { min: 1, max: 10_000_000 },
} as const satisfies Record<string, Limit>;

const whole = ({ min, max }: Limit) => z.number().int().min(min).max(max);
const amount = ({ min, max }: Limit) => z.number().min(min).max(max);

/** What a new queue gets for each field it does not set (the README's table). */
const DEFAULTS = {
  partitions: 1,
  ordering: "fifo",
  visibilityTimeout: 30,
  maxAttempts: 5,
  retention: 4 * 86_400,
  maxMessageBytes: 262_144,
  dedupWindow: 300,
} as const;
const DEFAULT_RETRY = { initialDelay: 1, maxDelay: 300, multiplier: 2, jitter: true };
const DEFAULT_BACKLOG = { soft: 100_000, hard: 1_000_000 };

/** Each field once, without its default: the patch takes them as they are. */
const FIELDS = {
  partitions: whole(LIMITS.partitions),
  ordering: z.enum(["fifo", "unordered", "priority"]),
  visibilityTimeout: whole(LIMITS.visibilityTimeout),
  maxAttempts: whole(LIMITS.maxAttempts),
  retention: whole(LIMITS.retention),
  maxMessageBytes: whole(LIMITS.maxMessageBytes),
  dedupWindow: whole(LIMITS.dedupWindow),
};
const RETRY_FIELDS = {
  initialDelay: amount(LIMITS.retryDelay),
  maxDelay: amount(LIMITS.retryDelay),
  multiplier: amount(LIMITS.retryMultiplier),
  jitter: z.boolean(),
};
const BACKLOG_FIELDS = { soft: whole(LIMITS.backlog), hard: whole(LIMITS.backlog) };

/** The fields with their defaults, for the full configuration. */
function withDefaults<F extends Record<string, z.ZodType>>(
  fields: F,
  defaults: { [K in keyof F]: z.output<F[K]> },
): { [K in keyof F]: z.ZodDefault<F[K]> } {
  return Object.fromEntries(
    Object.entries(fields).map(([name, field]) => [name, field.default(defaults[name])]),
  ) as { [K in keyof F]: z.ZodDefault<F[K]> };
}

export const RetryPolicySchema = z
  .object(withDefaults(RETRY_FIELDS, DEFAULT_RETRY))
  .strict()
  .refine((r) => r.maxDelay >= r.initialDelay, {
    message: "retry.maxDelay must be at least retry.initialDelay",
  });

export const BacklogLimitsSchema = z
  .object(withDefaults(BACKLOG_FIELDS, DEFAULT_BACKLOG))
  .strict()
  .refine((b) => b.hard >= b.soft, { message: "backlog.hard must be at least backlog.soft" });

export const PushConfigSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    batchSize: whole(LIMITS.pushBatchSize).default(10),
    timeout: amount(LIMITS.pushTimeout).default(30),
    concurrency: whole(LIMITS.pushConcurrency).default(1),
  })
  .strict();

/**
 * How fast one key's messages may be delivered (docs/architecture.md, "Flow control"): `rate`
 * per second as a token bucket holding `burst` (default: the rate rounded up), `concurrency`
 * leased at once. A queue's `keyLimits` are every key's defaults; a key's own limits
 * (PUT /v1/queues/:q/keys/:key) override them field by field.
 */
export const KeyLimitsSchema = z
  .object({
    rate: amount(LIMITS.keyRate).describe(
      "deliveries (leases, retries included) of the key per second, as a token bucket",
    ),
    burst: whole(LIMITS.keyBurst).describe(
      "what the bucket holds: deliveries at once after a quiet spell (default: rate rounded up)",
    ),
    concurrency: whole(LIMITS.keyConcurrency).describe(
      "at most this many of the key's messages leased at once",
    ),
  })
  .strict()
  .partial()
  .refine((limits) => limits.burst === undefined || limits.rate !== undefined, {
    message: "keyLimits.burst needs a rate: it is the size of the rate's token bucket",
  });

export type KeyLimits = z.infer<typeof KeyLimitsSchema>;

/**
 * Queue attributes only the SQS door reads (docs/sqs.md): SQS keeps them per queue and Sluice
 * has no field of its own for them. The v1 API stores and shows them; a patch replaces the
 * whole object.
 */
export const SqsAttributesSchema = z
  .object({
    /** Default delay of a SendMessage that gives none (SQS DelaySeconds). */
    delaySeconds: whole(LIMITS.sqsDelaySeconds),
    /** Default wait of a ReceiveMessage that gives none (ReceiveMessageWaitTimeSeconds). */
    receiveWaitSeconds: whole(LIMITS.sqsReceiveWaitSeconds),
    /** A .fifo send without MessageDeduplicationId is deduplicated by its body's SHA-256. */
    contentBasedDeduplication: z.boolean(),
    /** RedrivePolicy's target, kept to be reported back; dead letters stay in this queue's own. */
    deadLetterTargetArn: z.string().min(1).max(256),
  })
  .strict()
  .partial();

const defaulted = withDefaults(FIELDS, DEFAULTS);

export const QueueConfigSchema = z
  .object({
    partitions: defaulted.partitions,
    ordering: defaulted.ordering,
    visibilityTimeout: defaulted.visibilityTimeout,
    maxAttempts: defaulted.maxAttempts,
    retry: RetryPolicySchema.prefault({}),
    retention: defaulted.retention,
    maxMessageBytes: defaulted.maxMessageBytes,
    dedupWindow: defaulted.dedupWindow,
    backlog: BacklogLimitsSchema.prefault({}),
    push: PushConfigSchema.optional(),
    sqs: SqsAttributesSchema.optional(),
    /** "keys": ready messages are handed out round-robin over keys, not oldest first. */
    fairness: z
      .enum(["oldest", "keys"])
      .default("oldest")
      .describe('"keys": ready messages are handed out round-robin over keys, not oldest first'),
    /** At most this many messages leased at once over the whole queue (split over partitions). */
    maxInFlight: whole(LIMITS.maxInFlight)
      .optional()
      .describe(
        "at most this many of the queue's messages leased at once; partition i of P may lease floor(N/P), one more if i < N mod P",
      ),
    keyLimits: KeyLimitsSchema.optional().describe(
      "every key's delivery limits, unless the key has its own (PUT /v1/queues/:q/keys/:key)",
    ),
  })
  .strict()
  .refine((c) => c.maxInFlight === undefined || c.maxInFlight >= c.partitions, {
    message:
      "maxInFlight must be at least partitions: it is split over the partitions, each taking at least one",
  })
  .refine((c) => c.fairness === "oldest" || c.ordering !== "priority", {
    message:
      'fairness "keys" rotates over keys, which would override priority: use it with fifo or unordered',
  });

export type QueueConfig = z.infer<typeof QueueConfigSchema>;
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;
export type SqsAttributes = z.infer<typeof SqsAttributesSchema>;

/** A partial configuration as a client sends it: every field optional, nested ones too. */
export const QueueConfigPatchSchema = z
  .object({
    partitions: FIELDS.partitions,
    ordering: FIELDS.ordering,
    visibilityTimeout: FIELDS.visibilityTimeout,
    maxAttempts: FIELDS.maxAttempts,
    retry: z.object(RETRY_FIELDS).strict().partial(),
    retention: FIELDS.retention,
    maxMessageBytes: FIELDS.maxMessageBytes,
    dedupWindow: FIELDS.dedupWindow,
    backlog: z.object(BACKLOG_FIELDS).strict().partial(),
    push: PushConfigSchema.nullable(),
    sqs: SqsAttributesSchema,
    fairness: z.enum(["oldest", "keys"]),
    maxInFlight: whole(LIMITS.maxInFlight).nullable(),
    keyLimits: KeyLimitsSchema.nullable(),
  })
  .strict()
  .partial();

export type QueueConfigPatch = z.infer<typeof QueueConfigPatchSchema>;

/** A queue as the catalog stores it. */
export interface QueueRecord {
  name: string;
  config: QueueConfig;
  /** Increases on every change; partitions keep the newest they have seen. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** Applies a patch to a configuration (or to the defaults) and validates the result. */
export function applyConfigPatch(
  current: QueueConfig | undefined,
  patch: QueueConfigPatch,
): ReturnType<typeof QueueConfigSchema.safeParse> {
  const { push, maxInFlight, keyLimits, ...rest } = patch;
  // null clears an optional field; absent keeps it.
  const merged = {
    ...current,
    ...rest,
    retry: { ...current?.retry, ...patch.retry },
    backlog: { ...current?.backlog, ...patch.backlog },
    push: push === null ? undefined : (push ?? current?.push),
    maxInFlight: maxInFlight === null ? undefined : (maxInFlight ?? current?.maxInFlight),
    keyLimits: keyLimits === null ? undefined : (keyLimits ?? current?.keyLimits),
  };
  return QueueConfigSchema.safeParse(merged);
}

export const DEFAULT_QUEUE_CONFIG: QueueConfig = QueueConfigSchema.parse({});

/** Queue names follow SQS: 1–80 of A–Z a–z 0–9 - _, optionally ending in `.fifo`. */
export const QueueNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,75}(\.fifo)?$|^[A-Za-z0-9_-]{1,80}$/,
    "a queue name is 1–80 characters of A–Z, a–z, 0–9, '-' and '_', optionally ending in '.fifo'",
  )
  .refine((name) => name.length <= 80, "a queue name is at most 80 characters");
