/**
 * Queue configuration: one zod schema gives validation, defaults, the TypeScript type and
 * the OpenAPI description. Times are seconds, sizes bytes, counts messages.
 */
import { z } from "zod";

export const MAX_PARTITIONS = 64;

export const RetryPolicySchema = z
  .object({
    initialDelay: z.number().min(0).max(43_200).default(1),
    maxDelay: z.number().min(0).max(43_200).default(300),
    multiplier: z.number().min(1).max(10).default(2),
    jitter: z.boolean().default(true),
  })
  .strict()
  .refine((r) => r.maxDelay >= r.initialDelay, {
    message: "retry.maxDelay must be at least retry.initialDelay",
  });

export const BacklogLimitsSchema = z
  .object({
    soft: z.number().int().min(1).max(100_000_000).default(100_000),
    hard: z.number().int().min(1).max(100_000_000).default(1_000_000),
  })
  .strict()
  .refine((b) => b.hard >= b.soft, { message: "backlog.hard must be at least backlog.soft" });

export const PushConfigSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    batchSize: z.number().int().min(1).max(100).default(10),
    timeout: z.number().min(1).max(300).default(30),
    concurrency: z.number().int().min(1).max(32).default(1),
  })
  .strict();

/**
 * Queue attributes only the SQS door reads (docs/sqs.md): SQS keeps them per queue and Sluice
 * has no field of its own for them. The v1 API stores and shows them; a patch replaces the
 * whole object.
 */
export const SqsAttributesSchema = z
  .object({
    /** Default delay of a SendMessage that gives none (SQS DelaySeconds). */
    delaySeconds: z.number().int().min(0).max(900),
    /** Default wait of a ReceiveMessage that gives none (ReceiveMessageWaitTimeSeconds). */
    receiveWaitSeconds: z.number().int().min(0).max(20),
    /** A .fifo send without MessageDeduplicationId is deduplicated by its body's SHA-256. */
    contentBasedDeduplication: z.boolean(),
    /** RedrivePolicy's target, kept to be reported back; dead letters stay in this queue's own. */
    deadLetterTargetArn: z.string().min(1).max(256),
  })
  .strict()
  .partial();

export const QueueConfigSchema = z
  .object({
    partitions: z.number().int().min(1).max(MAX_PARTITIONS).default(1),
    ordering: z.enum(["fifo", "unordered", "priority"]).default("fifo"),
    visibilityTimeout: z.number().int().min(1).max(43_200).default(30),
    maxAttempts: z.number().int().min(1).max(100).default(5),
    retry: RetryPolicySchema.prefault({}),
    retention: z
      .number()
      .int()
      .min(60)
      .max(14 * 86_400)
      .default(4 * 86_400),
    maxMessageBytes: z.number().int().min(1).max(1_048_576).default(262_144),
    dedupWindow: z.number().int().min(0).max(86_400).default(300),
    backlog: BacklogLimitsSchema.prefault({}),
    push: PushConfigSchema.optional(),
    sqs: SqsAttributesSchema.optional(),
  })
  .strict();

export type QueueConfig = z.infer<typeof QueueConfigSchema>;
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;
export type SqsAttributes = z.infer<typeof SqsAttributesSchema>;
export type Ordering = QueueConfig["ordering"];

/** A partial configuration as a client sends it: every field optional, nested ones too. */
export const QueueConfigPatchSchema = z
  .object({
    partitions: z.number().int().min(1).max(MAX_PARTITIONS),
    ordering: z.enum(["fifo", "unordered", "priority"]),
    visibilityTimeout: z.number().int().min(1).max(43_200),
    maxAttempts: z.number().int().min(1).max(100),
    retry: z
      .object({
        initialDelay: z.number().min(0).max(43_200),
        maxDelay: z.number().min(0).max(43_200),
        multiplier: z.number().min(1).max(10),
        jitter: z.boolean(),
      })
      .strict()
      .partial(),
    retention: z
      .number()
      .int()
      .min(60)
      .max(14 * 86_400),
    maxMessageBytes: z.number().int().min(1).max(1_048_576),
    dedupWindow: z.number().int().min(0).max(86_400),
    backlog: z
      .object({
        soft: z.number().int().min(1).max(100_000_000),
        hard: z.number().int().min(1).max(100_000_000),
      })
      .strict()
      .partial(),
    push: PushConfigSchema.nullable(),
    sqs: SqsAttributesSchema,
  })
  .strict()
  .partial();

export type QueueConfigPatch = z.infer<typeof QueueConfigPatchSchema>;

/** Applies a patch to a configuration (or to the defaults) and validates the result. */
export function applyConfigPatch(
  current: QueueConfig | undefined,
  patch: QueueConfigPatch,
): ReturnType<typeof QueueConfigSchema.safeParse> {
  const { push, ...rest } = patch;
  const merged = {
    ...current,
    ...rest,
    retry: { ...current?.retry, ...patch.retry },
    backlog: { ...current?.backlog, ...patch.backlog },
    push: push === null ? undefined : (push ?? current?.push),
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
