/**
 * The input of each SQS action as the JSON protocol carries it (member names as in the SQS
 * API reference), checked with zod. A missing member is `MissingParameter`, a wrong one
 * `InvalidParameterValue`, each naming the member. Unknown members are ignored, as AWS
 * services do, so newer SDKs keep working. What SQS checks per batch entry (bodies,
 * attributes, FIFO rules) is checked by the actions, so one bad entry fails alone.
 */
import { z } from "zod";
import { untakable } from "../../request.ts";
import { MAX_LEASE_SECONDS, MAX_WAIT_SECONDS } from "../../schemas.ts";
import { sqsError } from "./errors.ts";

/** SQS's per-message delay limit: 15 minutes. */
export const MAX_SQS_DELAY_SECONDS = 900;
/** SQS's batch and receive limit. */
export const MAX_SQS_BATCH = 10;

export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The characters SQS allows in bodies and attribute values (XML 1.0's). */
const MESSAGE_TEXT = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

export function isMessageText(text: string): boolean {
  return MESSAGE_TEXT.test(text);
}

const QueueUrl = z.string().min(1);
const ReceiptHandle = z.string().min(1).max(1024);
const AttributeMap = z.record(z.string(), z.string());

const MessageAttributeValueSchema = z.object({
  DataType: z.string(),
  StringValue: z.string().optional(),
  BinaryValue: z.string().optional(),
  StringListValues: z.array(z.string()).optional(),
  BinaryListValues: z.array(z.string()).optional(),
});

const SendFields = {
  MessageBody: z.string(),
  DelaySeconds: z.number().int().min(0).max(MAX_SQS_DELAY_SECONDS).optional(),
  MessageAttributes: z.record(z.string(), MessageAttributeValueSchema).optional(),
  MessageSystemAttributes: z.record(z.string(), MessageAttributeValueSchema).optional(),
  MessageDeduplicationId: z.string().optional(),
  MessageGroupId: z.string().optional(),
};

/** Batch entry ids; what SQS checks of them is checked by `batchEntries`. */
const EntryId = z.string();

export const CreateQueueSchema = z.object({
  QueueName: z.string(),
  Attributes: AttributeMap.optional(),
  tags: AttributeMap.optional(),
});

export const GetQueueUrlSchema = z.object({
  QueueName: z.string(),
  QueueOwnerAWSAccountId: z.string().optional(),
});

export const ListQueuesSchema = z.object({
  QueueNamePrefix: z.string().optional(),
  NextToken: z.string().optional(),
  MaxResults: z.number().int().min(1).max(1000).optional(),
});

export const QueueUrlSchema = z.object({ QueueUrl });

export const GetQueueAttributesSchema = z.object({
  QueueUrl,
  AttributeNames: z.array(z.string()).optional(),
});

export const SetQueueAttributesSchema = z.object({ QueueUrl, Attributes: AttributeMap });

export const SendMessageSchema = z.object({ QueueUrl, ...SendFields });

export const SendMessageBatchSchema = z.object({
  QueueUrl,
  Entries: z.array(z.object({ Id: EntryId, ...SendFields })),
});

export const ReceiveMessageSchema = z.object({
  QueueUrl,
  AttributeNames: z.array(z.string()).optional(),
  MessageSystemAttributeNames: z.array(z.string()).optional(),
  MessageAttributeNames: z.array(z.string()).optional(),
  MaxNumberOfMessages: z.number().int().min(1).max(MAX_SQS_BATCH).optional(),
  VisibilityTimeout: z.number().int().min(0).max(MAX_LEASE_SECONDS).optional(),
  WaitTimeSeconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).optional(),
  ReceiveRequestAttemptId: z.string().optional(),
});

export const DeleteMessageSchema = z.object({ QueueUrl, ReceiptHandle });

export const DeleteMessageBatchSchema = z.object({
  QueueUrl,
  Entries: z.array(z.object({ Id: EntryId, ReceiptHandle })),
});

const VisibilityTimeout = z.number().int().min(0).max(MAX_LEASE_SECONDS);

export const ChangeMessageVisibilitySchema = z.object({
  QueueUrl,
  ReceiptHandle,
  VisibilityTimeout,
});

export const ChangeMessageVisibilityBatchSchema = z.object({
  QueueUrl,
  Entries: z.array(z.object({ Id: EntryId, ReceiptHandle, VisibilityTimeout })),
});

export type SendEntry = z.infer<typeof SendMessageSchema>;

/** `Entries[1].MessageBody` */
function memberPath(path: PropertyKey[]): string {
  return path
    .map((segment, index) =>
      typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`,
    )
    .join("");
}

/**
 * The input, checked against the action's schema, or the SQS error that says what is wrong.
 * Input the schema could not take as sent is refused first: a member (such as a message
 * attribute) named `__proto__` would be dropped silently, and very deep nesting would
 * overflow the validator's stack.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const untaken = untakable(input);
  if (untaken !== null) throw sqsError("InvalidParameterValue", `the request ${untaken}`);
  const parsed = schema.safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const member = memberPath(issue.path) || "the request";
  const missing = "input" in issue && issue.input === undefined;
  throw missing
    ? sqsError("MissingParameter", `the request must contain the parameter ${member}`)
    : sqsError(
        "InvalidParameterValue",
        `the value for parameter ${member} is invalid: ${issue.message}`,
      );
}

/**
 * The checks SQS makes of a batch as a whole: 1–10 entries whose ids are distinct and
 * 1–80 of A–Z a–z 0–9 - _.
 */
export function checkBatch(entries: { Id: string }[]): void {
  if (entries.length === 0) {
    throw sqsError("EmptyBatchRequest", "there should be at least one entry in the request");
  }
  if (entries.length > MAX_SQS_BATCH) {
    throw sqsError(
      "TooManyEntriesInBatchRequest",
      `a batch holds at most ${MAX_SQS_BATCH} entries; this one has ${entries.length}`,
    );
  }
  const seen = new Set<string>();
  for (const { Id } of entries) {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(Id)) {
      throw sqsError(
        "InvalidBatchEntryId",
        `batch entry id '${Id}' is invalid: use 1–80 of A–Z a–z 0–9 - _`,
      );
    }
    if (seen.has(Id)) {
      throw sqsError("BatchEntryIdsNotDistinct", `batch entry id '${Id}' is used more than once`);
    }
    seen.add(Id);
  }
}
