/**
 * Redrive jobs: what a job is, and the contract between the dead-letter object that runs it on
 * its alarm (durable-objects/dead-letters/redrive-jobs.ts) and the Worker that sends for it
 * (worker/redrive-jobs.ts `RedriveDelivery`, reached through `ctx.exports`). See
 * docs/architecture.md, "Redrive jobs".
 */
import { z } from "zod";
import type { DeadLetterFilter, DeadMessage } from "./contract.ts";
import { MAX_FINGERPRINT_LENGTH } from "./failure-fingerprint.ts";
import { QueueNameSchema } from "./queue-config.ts";

/** The Worker entrypoint a dead-letter object sends through (reached by `ctx.exports`). */
export const REDRIVE_DELIVERY_ENTRYPOINT = "RedriveDelivery";

export const MAX_REDRIVE_RATE = 1_000;
export const MAX_CANARY = 100;
export const DEFAULT_REDRIVE_RATE = 50;

const FilterText = z.string().min(1).max(200);

/** Which dead letters a job moves; the fields combine with AND, as the dead-letter list's do. */
export const RedriveFilterSchema = z
  .object({
    cluster: z.string().max(MAX_FINGERPRINT_LENGTH).optional(),
    reason: FilterText.optional(),
    text: FilterText.optional(),
    since: z.number().int().min(0).optional(),
    until: z.number().int().min(0).optional(),
    key: z.string().min(1).max(256).optional(),
  })
  .strict();

export const NewRedriveJobSchema = z
  .object({
    filter: RedriveFilterSchema.default({}),
    /** Default: the queue the dead letters came from. */
    target: QueueNameSchema.optional(),
    /** Messages per second. */
    rate: z.number().int().min(1).max(MAX_REDRIVE_RATE).default(DEFAULT_REDRIVE_RATE),
    /** Move this many first, and go on only once every one of them was acked at the target. */
    canary: z.number().int().min(1).max(MAX_CANARY).optional(),
  })
  .strict();

export type NewRedriveJob = z.output<typeof NewRedriveJobSchema>;

/**
 * - `canary`: moving the canary, or waiting for every canary message to be acked at the target;
 * - `running`: moving the rest at the job's rate;
 * - `done`: nothing matching is left; `cancelled`: stopped by a person;
 * - `canary_failed`: a canary message failed again (nacked, its lease expired, or dead-lettered),
 *   nothing more was moved; `failed`: the target refused for good (deleted, a message too large).
 */
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
  filter: DeadLetterFilter;
  rate: number;
  state: RedriveJobState;
  /** Why the job stopped or is waiting, in words; null while all is well. */
  detail: string | null;
  /** Messages moved so far (sent to the target and deleted here). */
  moved: number;
  /** Dead letters that match the filter and died before the job was created, still here. */
  remaining: number;
  /** Moved messages known to have failed again: canaries, and any that died again here. */
  failedAgain: number;
  canary: { size: number; moved: number; acked: number; failed: number } | null;
  /** The API key that created the job, or `admin`. */
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

/** The dedupId a dead letter is moved with: a move retried after a crash stores nothing new. */
export function redriveDedupId(jobId: string, messageId: string): string {
  return `redrive:${jobId}:${messageId}`;
}

/** Where one moved message landed at the target. */
export interface Landing {
  /** The dead letter's id. */
  source: string;
  id: string;
  partition: number;
  seq: number;
}

export type MoveOutcome =
  /** `landed`: the messages the target stored (or had stored: a retried move); the rest wait. */
  | { ok: true; landed: Landing[] }
  /** `retry`: the target refused for now (full, overloaded); false: for good. */
  | { ok: false; code: string; detail: string; retry: boolean };

/**
 * What became of a canary message at the target: still `pending` (waiting or leased), `acked`
 * (gone, not dead-lettered, no dead letter left to hand off), or `failed` (given back by a nack
 * or an expired lease, or dead-lettered).
 */
export type CanaryFate =
  | { state: "pending" }
  | { state: "acked" }
  | { state: "failed"; detail: string };

export interface RedriveDelivery {
  move(jobId: string, target: string, messages: DeadMessage[]): Promise<MoveOutcome>;
  fates(target: string, landings: Landing[]): Promise<CanaryFate[]>;
}
