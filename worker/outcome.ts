/**
 * What the service layer answers: a value tagged `ok: true`, or a refusal that says why.
 * Refusals are the expected failures; every door (HTTP, RPC, SQS) maps them to its own
 * wire form. A thrown error means a bug or an overloaded Durable Object.
 */
export type RefusalCode =
  | "forbidden"
  | "queue_not_found"
  | "topic_not_found"
  | "schedule_not_found"
  | "dead_letter_not_found"
  | "redrive_job_not_found"
  | "key_not_found"
  | "invalid_config"
  | "invalid_topic"
  | "invalid_schedule"
  | "partition_out_of_range"
  | "partitions_shrink"
  | "push_queue"
  | "message_too_large"
  | "delay_beyond_retention"
  | "backlog_full"
  | "overloaded"
  | "inflight_limit";

export interface Refusal {
  ok: false;
  code: RefusalCode;
  detail: string;
  /** Present when trying again later can succeed. */
  retryAfterSeconds?: number;
}

export type Outcome<T> = ({ ok: true } & T) | Refusal;

export function refuse(code: RefusalCode, detail: string, retryAfterSeconds?: number): Refusal {
  return retryAfterSeconds === undefined
    ? { ok: false, code, detail }
    : { ok: false, code, detail, retryAfterSeconds };
}
