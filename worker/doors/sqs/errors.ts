/**
 * SQS refusals in the JSON protocol's shape, as the AWS SDKs read them: a body
 * `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}` and the header
 * `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`. SQS is "query
 * compatible": current SDKs name the error after the header's code and fall back on `__type`,
 * so both are sent. Statuses are those of the SQS model (most client errors 400); every
 * authentication failure is 403.
 */
import type { Refusal, RefusalCode } from "../../outcome.ts";

interface ErrorShape {
  /** The code of `x-amzn-query-error`, which SDKs report as the error's name. */
  query: string;
  status: number;
  /** Who is at fault when the status does not say it (4xx: Sender, 5xx: Receiver). */
  fault?: "Sender" | "Receiver";
}

const ERRORS = {
  // Errors of the SQS model: the shape's name in `__type`, its query code in the header.
  QueueDoesNotExist: { query: "AWS.SimpleQueueService.NonExistentQueue", status: 400 },
  QueueNameExists: { query: "QueueAlreadyExists", status: 400 },
  ReceiptHandleIsInvalid: { query: "ReceiptHandleIsInvalid", status: 404 },
  MessageNotInflight: { query: "AWS.SimpleQueueService.MessageNotInflight", status: 400 },
  InvalidAddress: { query: "InvalidAddress", status: 404 },
  InvalidAttributeName: { query: "InvalidAttributeName", status: 400 },
  InvalidAttributeValue: { query: "InvalidAttributeValue", status: 400 },
  InvalidMessageContents: { query: "InvalidMessageContents", status: 400 },
  EmptyBatchRequest: { query: "AWS.SimpleQueueService.EmptyBatchRequest", status: 400 },
  TooManyEntriesInBatchRequest: {
    query: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    status: 400,
  },
  BatchEntryIdsNotDistinct: {
    query: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    status: 400,
  },
  InvalidBatchEntryId: { query: "AWS.SimpleQueueService.InvalidBatchEntryId", status: 400 },
  UnsupportedOperation: { query: "AWS.SimpleQueueService.UnsupportedOperation", status: 400 },
  // A full backlog is no fault of the request: the same request succeeds later.
  RequestThrottled: { query: "RequestThrottled", status: 403, fault: "Receiver" },
  // Errors common to AWS services.
  InvalidParameterValue: { query: "InvalidParameterValue", status: 400 },
  MissingParameter: { query: "MissingParameter", status: 400 },
  InvalidAction: { query: "InvalidAction", status: 400 },
  SerializationException: { query: "SerializationException", status: 400 },
  RequestEntityTooLarge: { query: "RequestEntityTooLarge", status: 413 },
  RequestTimeout: { query: "RequestTimeout", status: 408 },
  AccessDenied: { query: "AccessDenied", status: 403 },
  MissingAuthenticationToken: { query: "MissingAuthenticationToken", status: 403 },
  IncompleteSignature: { query: "IncompleteSignature", status: 403 },
  InvalidClientTokenId: { query: "InvalidClientTokenId", status: 403 },
  SignatureDoesNotMatch: { query: "SignatureDoesNotMatch", status: 403 },
  RequestExpired: { query: "RequestExpired", status: 403 },
  ServiceUnavailable: { query: "ServiceUnavailable", status: 503 },
  InternalFailure: { query: "InternalFailure", status: 500 },
} satisfies Record<string, ErrorShape>;

export type SqsErrorCode = keyof typeof ERRORS;

export class SqsError extends Error {
  constructor(
    readonly code: SqsErrorCode,
    message: string,
    /** Present when trying again later can succeed. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "SqsError";
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  /** Whether the caller (Sender) or the service (Receiver) is at fault, as SQS says it. */
  get fault(): "Sender" | "Receiver" {
    const shape: ErrorShape = ERRORS[this.code];
    return shape.fault ?? (this.status >= 500 ? "Receiver" : "Sender");
  }
}

export function sqsError(code: SqsErrorCode, message: string, retryAfterSeconds?: number) {
  return new SqsError(code, message, retryAfterSeconds);
}

/** The error an SQS client gets for a refusal of the service layer. */
const REFUSAL_ERRORS: Record<RefusalCode, SqsErrorCode> = {
  forbidden: "AccessDenied",
  queue_not_found: "QueueDoesNotExist",
  dead_letter_not_found: "InvalidParameterValue",
  redrive_job_not_found: "InvalidParameterValue",
  key_not_found: "InvalidParameterValue",
  invalid_config: "InvalidAttributeValue",
  partition_out_of_range: "InvalidParameterValue",
  partitions_shrink: "InvalidAttributeValue",
  push_queue: "UnsupportedOperation",
  message_too_large: "InvalidParameterValue",
  backlog_full: "RequestThrottled",
  overloaded: "ServiceUnavailable",
  inflight_limit: "ServiceUnavailable",
  // Topics and schedules have no SQS action; listed so every refusal has an error.
  topic_not_found: "InvalidParameterValue",
  invalid_topic: "InvalidParameterValue",
  schedule_not_found: "InvalidParameterValue",
  invalid_schedule: "InvalidParameterValue",
  delay_beyond_retention: "InvalidParameterValue",
};

export function fromRefusal(refusal: Refusal): SqsError {
  return sqsError(REFUSAL_ERRORS[refusal.code], refusal.detail, refusal.retryAfterSeconds);
}

/** Unwraps a service-layer outcome: its value, or the refusal thrown as an SQS error. */
export function expectOk<T extends { ok: true }>(outcome: T | Refusal): T {
  if (!outcome.ok) throw fromRefusal(outcome);
  return outcome;
}

export function errorBody(error: SqsError): { __type: string; message: string } {
  return { __type: `com.amazonaws.sqs#${error.code}`, message: error.message };
}

export function errorHeaders(error: SqsError): Record<string, string> {
  const headers: Record<string, string> = {
    "x-amzn-query-error": `${ERRORS[error.code].query};${error.fault}`,
  };
  if (error.retryAfterSeconds !== undefined) {
    headers["Retry-After"] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  }
  return headers;
}

/** An entry of a batch answer's `Failed` list. */
export interface BatchFailure {
  Id: string;
  SenderFault: boolean;
  Code: string;
  Message: string;
}

export function batchFailure(id: string, error: SqsError): BatchFailure {
  return {
    Id: id,
    SenderFault: error.fault === "Sender",
    Code: error.code,
    Message: error.message,
  };
}
