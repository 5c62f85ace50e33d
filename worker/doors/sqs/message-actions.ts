/**
 * The SQS actions on messages: SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch),
 * ChangeMessageVisibility(Batch), over the service layer (`service.ts`).
 *
 * - A body is stored as text/plain; a message sent through the HTTP API is received with its
 *   body as stored (JSON text, the text, or base64 for bytes), which the MD5s are taken of.
 * - MessageGroupId is the message's `key`, MessageDeduplicationId its `dedupId` (a .fifo
 *   queue with ContentBasedDeduplication uses the SHA-256 of the body).
 * - Deleting is an ack. ChangeMessageVisibility extends the lease, or with 0 gives the message
 *   back (a nack with no delay), which counts as a receive that failed.
 * - A receipt whose lease has ended is refused (ReceiptHandleIsInvalid, MessageNotInflight),
 *   as SQS FIFO queues do: the message will be delivered again.
 * - In a batch, an entry SQS would refuse fails alone, in `Failed`; so does an entry whose
 *   partition is full or overloaded, with SenderFault false: send or settle it again.
 */

import type { LeasedMessage } from "../../../core/contract.ts";
import { sha256Hex } from "../../../core/hex.ts";
import { messageBytes } from "../../../core/message-bytes.ts";
import type { QueueRecord } from "../../../core/queue-config.ts";
import { park } from "../../admission.ts";
import { accessDenied, invoke, operations } from "../../operations.ts";
import type { Outcome } from "../../outcome.ts";
import type { MessageInput, ReceiptFailure } from "../../schemas.ts";
import { queueDefinition } from "../../service.ts";
import type { SqsCall } from "./call.ts";
import { md5OfAttributes, md5OfBody } from "./checksums.ts";
import {
  type BatchFailure,
  batchFailure,
  expectOk,
  fromRefusal,
  type SqsError,
  sqsError,
} from "./errors.ts";
import {
  attributesFrom,
  attributesProblem,
  headersOf,
  selectAttributes,
} from "./message-attributes.ts";
import { isFifoName, queueNameOf } from "./queue-attributes.ts";
import {
  ChangeMessageVisibilityBatchSchema,
  ChangeMessageVisibilitySchema,
  checkBatch,
  DeleteMessageBatchSchema,
  DeleteMessageSchema,
  isMessageText,
  parseInput,
  ReceiveMessageSchema,
  type SendEntry,
  SendMessageBatchSchema,
  SendMessageSchema,
} from "./schemas.ts";

/** MessageGroupId and MessageDeduplicationId: 1–128 printable ASCII characters. */
const GROUP_OR_DEDUP_ID = /^[\x21-\x7e]{1,128}$/;

type SendFields = Omit<SendEntry, "QueueUrl">;

/** What SQS refuses in a message, checked before anything of the request is stored. */
function messageProblem(record: QueueRecord, entry: SendFields): SqsError | null {
  const { MessageBody, MessageGroupId, MessageDeduplicationId } = entry;
  if (MessageBody === "") {
    return sqsError("MissingParameter", "the request must contain the parameter MessageBody");
  }
  if (!isMessageText(MessageBody)) {
    return sqsError(
      "InvalidMessageContents",
      "the message body holds characters SQS does not allow (controls other than tab, newline and carriage return, or unpaired surrogates)",
    );
  }
  const attributesRefusal = attributesProblem(entry.MessageAttributes ?? {});
  if (attributesRefusal !== null) return attributesRefusal;
  const bytes = messageBytes(toStoredParts(entry));
  if (bytes > record.config.maxMessageBytes) {
    return sqsError(
      "InvalidParameterValue",
      `the message (body and attributes) is ${bytes} bytes; queue '${record.name}' takes at most ${record.config.maxMessageBytes} (MaximumMessageSize)`,
    );
  }
  for (const [member, id] of Object.entries({ MessageGroupId, MessageDeduplicationId })) {
    if (id !== undefined && !GROUP_OR_DEDUP_ID.test(id)) {
      return sqsError("InvalidParameterValue", `${member} is 1–128 printable ASCII characters`);
    }
  }
  const system = entry.MessageSystemAttributes ?? {};
  const unknownSystem = Object.keys(system).find((name) => name !== "AWSTraceHeader");
  if (unknownSystem !== undefined) {
    return sqsError(
      "InvalidParameterValue",
      `message system attribute '${unknownSystem}' is not supported; only AWSTraceHeader is`,
    );
  }
  if (
    system.AWSTraceHeader !== undefined &&
    (system.AWSTraceHeader.DataType !== "String" || !system.AWSTraceHeader.StringValue)
  ) {
    return sqsError("InvalidParameterValue", "AWSTraceHeader is a String with a StringValue");
  }
  if (isFifoName(record.name)) {
    if (MessageGroupId === undefined) {
      return sqsError("MissingParameter", "the request must contain the parameter MessageGroupId");
    }
    if (MessageDeduplicationId === undefined && !record.config.sqs?.contentBasedDeduplication) {
      return sqsError(
        "InvalidParameterValue",
        "the queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
      );
    }
  }
  return null;
}

/** The body and headers a message is stored with: what its size is counted over. */
function toStoredParts(entry: SendFields) {
  return {
    body: entry.MessageBody,
    contentType: "text/plain" as const,
    headers: headersOf(
      entry.MessageAttributes ?? {},
      entry.MessageSystemAttributes?.AWSTraceHeader?.StringValue,
    ),
  };
}

async function toMessageInput(record: QueueRecord, entry: SendFields): Promise<MessageInput> {
  const { MessageBody, MessageGroupId, MessageDeduplicationId } = entry;
  const contentBased =
    isFifoName(record.name) && MessageDeduplicationId === undefined
      ? await sha256Hex(MessageBody)
      : undefined;
  const dedupId = MessageDeduplicationId ?? contentBased;
  const delaySeconds = entry.DelaySeconds ?? record.config.sqs?.delaySeconds ?? 0;
  return {
    ...toStoredParts(entry),
    ...(MessageGroupId === undefined ? {} : { key: MessageGroupId }),
    ...(dedupId === undefined ? {} : { dedupId }),
    ...(delaySeconds > 0 ? { delaySeconds } : {}),
  };
}

/** The checksums and ids SQS answers for a stored message. */
async function sendReceipt(
  record: QueueRecord,
  entry: SendFields,
  sent: { id: string; seq: number },
) {
  const attributes = await md5OfAttributes(entry.MessageAttributes ?? {});
  const trace = entry.MessageSystemAttributes?.AWSTraceHeader;
  const system = trace === undefined ? undefined : await md5OfAttributes({ AWSTraceHeader: trace });
  return {
    MessageId: sent.id,
    MD5OfMessageBody: await md5OfBody(entry.MessageBody),
    ...(attributes === undefined ? {} : { MD5OfMessageAttributes: attributes }),
    ...(system === undefined ? {} : { MD5OfMessageSystemAttributes: system }),
    ...(isFifoName(record.name) ? { SequenceNumber: String(sent.seq) } : {}),
  };
}

async function queueOf({ env, principal }: SqsCall, url: string): Promise<QueueRecord> {
  return expectOk(await queueDefinition(env, principal, queueNameOf(url))).record;
}

/**
 * The queue a send goes to, once the caller is known to have the produce scope on it: no
 * message or attribute of a caller that may not send is ever looked at.
 */
async function sendTarget(call: SqsCall, url: string): Promise<QueueRecord> {
  const record = await queueOf(call, url);
  const refused = accessDenied(operations.send, call.principal, [record.name]);
  if (refused !== null) throw sqsError("AccessDenied", refused.detail);
  return record;
}

export async function sendMessage(call: SqsCall, input: unknown) {
  const { QueueUrl, ...entry } = parseInput(SendMessageSchema, input);
  const record = await sendTarget(call, QueueUrl);
  const problem = messageProblem(record, entry);
  if (problem !== null) throw problem;
  const message = await toMessageInput(record, entry);
  const sent = expectOk(
    await invoke(operations.send, call.env, call.principal, record.name, [message]),
  );
  return sendReceipt(record, entry, sent.messages[0]);
}

export async function sendMessageBatch(call: SqsCall, input: unknown) {
  const { QueueUrl, Entries } = parseInput(SendMessageBatchSchema, input);
  checkBatch(Entries);
  const record = await sendTarget(call, QueueUrl);
  const Failed: BatchFailure[] = [];
  const valid: typeof Entries = [];
  for (const entry of Entries) {
    const problem = messageProblem(record, entry);
    if (problem === null) valid.push(entry);
    else Failed.push(batchFailure(entry.Id, problem));
  }
  const Successful: ({ Id: string } & Awaited<ReturnType<typeof sendReceipt>>)[] = [];
  if (valid.length > 0) {
    const messages = await Promise.all(valid.map((entry) => toMessageInput(record, entry)));
    const outcome = await invoke(operations.send, call.env, call.principal, record.name, messages);
    // A full or overloaded partition fails its entries; any other refusal fails the request.
    if (!outcome.ok && outcome.code !== "backlog_full" && outcome.code !== "overloaded") {
      throw fromRefusal(outcome);
    }
    const sent = outcome.ok ? outcome.messages : [];
    for (const message of sent) {
      const entry = valid[message.index];
      Successful.push({ Id: entry.Id, ...(await sendReceipt(record, entry, message)) });
    }
    const failures = outcome.ok
      ? outcome.failed
      : valid.map((_, index) => ({ index, code: outcome.code, detail: outcome.detail }));
    for (const { index, code, detail } of failures) {
      Failed.push(batchFailure(valid[index].Id, fromRefusal({ ok: false, code, detail })));
    }
  }
  return { Successful, Failed };
}

interface Asked {
  /** System attribute names (MessageSystemAttributeNames and the older AttributeNames). */
  system: string[];
  /** MessageAttributeNames. */
  attributes: string[];
  visibilityTimeout: number;
}

/**
 * The system attributes asked for that the message has. ApproximateFirstReceiveTimestamp is
 * known only on the first receive (it is this lease's start): Sluice does not keep it.
 */
function systemAttributes(
  message: LeasedMessage,
  record: QueueRecord,
  asked: Asked,
  traceHeader: string | undefined,
): Record<string, string> {
  const values: Record<string, string | undefined> = {
    ApproximateReceiveCount: String(message.attempts),
    ApproximateFirstReceiveTimestamp:
      message.attempts === 1
        ? String(message.leaseExpiresAt - asked.visibilityTimeout * 1000)
        : undefined,
    SentTimestamp: String(message.sentAt),
    MessageGroupId: message.key ?? undefined,
    SequenceNumber: isFifoName(record.name) ? String(message.seq) : undefined,
    AWSTraceHeader: traceHeader,
  };
  const wanted = (name: string) => asked.system.includes("All") || asked.system.includes(name);
  return Object.fromEntries(
    Object.entries(values).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && wanted(entry[0]),
    ),
  );
}

/** A received message as SQS answers it, with the checksums of what is answered. */
async function toSqsMessage(message: LeasedMessage, record: QueueRecord, asked: Asked) {
  // The body as stored (JSON text, the text, or base64 for bytes), as the service passes it on.
  const Body = message.body;
  const { attributes, traceHeader } = attributesFrom(message.headers);
  const system = systemAttributes(message, record, asked, traceHeader);
  const selected = selectAttributes(attributes, asked.attributes);
  const md5OfSelected = await md5OfAttributes(selected);
  return {
    MessageId: message.id,
    ReceiptHandle: message.receipt,
    MD5OfBody: await md5OfBody(Body),
    Body,
    ...(Object.keys(system).length > 0 ? { Attributes: system } : {}),
    ...(md5OfSelected === undefined
      ? {}
      : { MessageAttributes: selected, MD5OfMessageAttributes: md5OfSelected }),
  };
}

export async function receiveMessage(call: SqsCall, input: unknown) {
  const receive = parseInput(ReceiveMessageSchema, input);
  const record = await queueOf(call, receive.QueueUrl);
  if (receive.VisibilityTimeout === 0) {
    throw sqsError(
      "InvalidParameterValue",
      "VisibilityTimeout 0 is not supported: Sluice leases a received message for 1–43200 seconds",
    );
  }
  const asked: Asked = {
    system: [...(receive.AttributeNames ?? []), ...(receive.MessageSystemAttributeNames ?? [])],
    attributes: receive.MessageAttributeNames ?? [],
    visibilityTimeout: receive.VisibilityTimeout ?? record.config.visibilityTimeout,
  };
  const wait = receive.WaitTimeSeconds ?? record.config.sqs?.receiveWaitSeconds ?? 0;
  const parked = wait > 0 ? park(call.env, call.ticket, call.principal) : null;
  if (parked !== null) throw fromRefusal(parked);
  const { messages } = expectOk(
    await invoke(operations.receive, call.env, call.principal, record.name, {
      max: receive.MaxNumberOfMessages ?? 1,
      visibilityTimeout: asked.visibilityTimeout,
      wait,
    }),
  );
  const Messages = await Promise.all(
    messages.map((message) => toSqsMessage(message, record, asked)),
  );
  return Messages.length > 0 ? { Messages } : {};
}

type SettleKind = "delete" | "visibility";

/** Why a receipt was not settled, in SQS's words. */
function receiptError(code: ReceiptFailure["code"], receipt: string, kind: SettleKind): SqsError {
  if (code === "overloaded") {
    return sqsError(
      "ServiceUnavailable",
      "the message's partition is overloaded; retry shortly",
      1,
    );
  }
  if (code === "receipt_invalid") {
    return sqsError(
      "ReceiptHandleIsInvalid",
      `the receipt handle '${receipt}' is not one this queue issued`,
    );
  }
  return kind === "delete"
    ? sqsError(
        "ReceiptHandleIsInvalid",
        "the receipt handle has expired: the message's lease ended (it was deleted, or its visibility timeout passed) and it will be delivered again",
      )
    : sqsError(
        "MessageNotInflight",
        "the message is not in flight under this receipt handle: its lease ended (it was deleted, or its visibility timeout passed)",
      );
}

type Settle = (receipts: string[]) => Promise<Outcome<{ failed: ReceiptFailure[] }>>;

type SettledEntries = { settled: string[]; failed: { Id: string; error: SqsError }[] };

/** Settles each entry's receipt (each distinct receipt once) and splits the entries by outcome. */
async function settleEntries(
  entries: { Id: string; ReceiptHandle: string }[],
  kind: SettleKind,
  settle: Settle,
): Promise<SettledEntries> {
  const receipts = [...new Set(entries.map((entry) => entry.ReceiptHandle))];
  const failures = new Map(
    expectOk(await settle(receipts)).failed.map((failure) => [failure.receipt, failure.code]),
  );
  const result: SettledEntries = { settled: [], failed: [] };
  for (const { Id, ReceiptHandle } of entries) {
    const code = failures.get(ReceiptHandle);
    if (code === undefined) result.settled.push(Id);
    else result.failed.push({ Id, error: receiptError(code, ReceiptHandle, kind) });
  }
  return result;
}

function batchAnswer(results: SettledEntries[]) {
  return {
    Successful: results.flatMap(({ settled }) => settled.map((Id) => ({ Id }))),
    Failed: results.flatMap(({ failed }) => failed.map(({ Id, error }) => batchFailure(Id, error))),
  };
}

async function settleOne(receipt: string, kind: SettleKind, settle: Settle): Promise<object> {
  const { failed } = await settleEntries([{ Id: "single", ReceiptHandle: receipt }], kind, settle);
  if (failed.length > 0) throw failed[0].error;
  return {};
}

function deleting({ env, principal }: SqsCall, name: string): Settle {
  return (receipts) => invoke(operations.ack, env, principal, name, receipts);
}

/** A visibility timeout of 0 gives the message back at once; any other extends the lease. */
function changingVisibility({ env, principal }: SqsCall, name: string, seconds: number): Settle {
  return (receipts) =>
    seconds === 0
      ? invoke(operations.nack, env, principal, name, receipts, {
          delaySeconds: 0,
          reason: "visibility timeout set to 0 (SQS ChangeMessageVisibility)",
        })
      : invoke(operations.extend, env, principal, name, receipts, seconds);
}

export async function deleteMessage(call: SqsCall, input: unknown) {
  const { QueueUrl, ReceiptHandle } = parseInput(DeleteMessageSchema, input);
  return settleOne(ReceiptHandle, "delete", deleting(call, queueNameOf(QueueUrl)));
}

export async function deleteMessageBatch(call: SqsCall, input: unknown) {
  const { QueueUrl, Entries } = parseInput(DeleteMessageBatchSchema, input);
  checkBatch(Entries);
  return batchAnswer([
    await settleEntries(Entries, "delete", deleting(call, queueNameOf(QueueUrl))),
  ]);
}

export async function changeMessageVisibility(call: SqsCall, input: unknown) {
  const { QueueUrl, ReceiptHandle, VisibilityTimeout } = parseInput(
    ChangeMessageVisibilitySchema,
    input,
  );
  const name = queueNameOf(QueueUrl);
  return settleOne(ReceiptHandle, "visibility", changingVisibility(call, name, VisibilityTimeout));
}

/** One call per distinct timeout among the entries. */
export async function changeMessageVisibilityBatch(call: SqsCall, input: unknown) {
  const { QueueUrl, Entries } = parseInput(ChangeMessageVisibilityBatchSchema, input);
  checkBatch(Entries);
  const name = queueNameOf(QueueUrl);
  const timeouts = [...new Set(Entries.map((entry) => entry.VisibilityTimeout))];
  return batchAnswer(
    await Promise.all(
      timeouts.map((seconds) =>
        settleEntries(
          Entries.filter((entry) => entry.VisibilityTimeout === seconds),
          "visibility",
          changingVisibility(call, name, seconds),
        ),
      ),
    ),
  );
}
