/**
 * Redrive jobs on the Worker's side: the service calls that create, list, follow and cancel a
 * job (the dead-letter object runs it, durable-objects/dead-letters/redrive-jobs.ts), and the
 * `RedriveDelivery` entrypoint the object calls back through `ctx.exports` to send into a
 * queue and to ask what became of a canary message (core/redrive.ts; docs/architecture.md,
 * "Redrive jobs").
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type { DeadMessage, NewMessage } from "../core/contract.ts";
import {
  type CanaryFate,
  type RedriveDelivery as Delivery,
  type Landing,
  type MoveOutcome,
  type NewRedriveJob,
  type RedriveJob,
  redriveDedupId,
} from "../core/redrive.ts";
import { actorOf, allows, denial, type Principal } from "./auth.ts";
import { type Outcome, type Refusal, refuse } from "./outcome.ts";
import { RETRYABLE } from "./schedules.ts";
import { asFreshMessage, getDeadLetter, queueDefinition, sendStoredMessages } from "./service.ts";

/** The object's calls back into the Worker act for the job, whose creator's access was checked. */
const JOB: Principal = { kind: "admin" };

function deadLetters(env: Env, queue: string) {
  return env.DEAD_LETTERS.getByName(queue);
}

function jobNotFound(queue: string, id: string): Refusal {
  return refuse("redrive_job_not_found", `queue '${queue}' has no redrive job with id '${id}'`);
}

/**
 * Starts a job on the queue's dead letters. The table checked admin on the source; a target
 * named in the body also needs produce there, as a redrive's does.
 */
export async function createRedriveJob(
  env: Env,
  principal: Principal,
  name: string,
  input: NewRedriveJob,
): Promise<Outcome<{ job: RedriveJob }>> {
  const source = await queueDefinition(env, principal, name);
  if (!source.ok) return source;
  const target = input.target ?? name;
  if (target !== name) {
    if (!allows(principal, "produce", target)) {
      return refuse("forbidden", denial(principal, "produce", target));
    }
    const stored = await queueDefinition(env, principal, target);
    if (!stored.ok) return stored;
  }
  const createdBy = actorOf(principal);
  const job = await deadLetters(env, name).createJob({ ...input, target, createdBy });
  return { ok: true, job };
}

export async function listRedriveJobs(
  env: Env,
  principal: Principal,
  name: string,
): Promise<Outcome<{ jobs: RedriveJob[] }>> {
  const source = await queueDefinition(env, principal, name);
  if (!source.ok) return source;
  return { ok: true, jobs: await deadLetters(env, name).listJobs() };
}

/** A job of the queue `name`, read or changed by `act`, or `redrive_job_not_found`. */
async function oneJob(
  env: Env,
  principal: Principal,
  name: string,
  id: string,
  act: (dead: ReturnType<typeof deadLetters>) => Promise<RedriveJob | null>,
): Promise<Outcome<{ job: RedriveJob }>> {
  const source = await queueDefinition(env, principal, name);
  if (!source.ok) return source;
  const job = await act(deadLetters(env, name));
  return job === null ? jobNotFound(name, id) : { ok: true, job };
}

export function getRedriveJob(env: Env, principal: Principal, name: string, id: string) {
  return oneJob(env, principal, name, id, (dead) => dead.getJob(id));
}

/** Stops the job; one that already ended is answered as it is. */
export function cancelRedriveJob(env: Env, principal: Principal, name: string, id: string) {
  return oneJob(env, principal, name, id, (dead) => dead.cancelJob(id));
}

/** A dead letter sent again, in its stored form, with the move's derived dedupId. */
function moved(jobId: string, message: DeadMessage): NewMessage {
  return { ...asFreshMessage(message), dedupId: redriveDedupId(jobId, message.id) };
}

export class RedriveDelivery extends WorkerEntrypoint<Env> implements Delivery {
  async move(jobId: string, target: string, messages: DeadMessage[]): Promise<MoveOutcome> {
    const sent = await sendStoredMessages(
      this.env,
      target,
      messages.map((message) => moved(jobId, message)),
    );
    if (!sent.ok) {
      return { ok: false, code: sent.code, detail: sent.detail, retry: RETRYABLE.has(sent.code) };
    }
    const landed = sent.messages.map(
      (stored): Landing => ({
        source: messages[stored.index].id,
        id: stored.id,
        partition: stored.partition,
        seq: stored.seq,
      }),
    );
    return { ok: true, landed };
  }

  /**
   * What became of each canary message at `target`. Its partition answers whether it still
   * holds the message (a peek at its seq): held and never given back is pending; held after a
   * nack or an expired lease has failed. A message the partition no longer holds was acked,
   * or dead-lettered: the target's dead-letter object holds it then, or the partition still
   * has a hand-off to make (pending until it is made).
   */
  async fates(target: string, landings: Landing[]): Promise<CanaryFate[]> {
    const queue = await queueDefinition(this.env, JOB, target);
    if (!queue.ok) {
      return landings.map(() => ({ state: "failed", detail: queue.detail }));
    }
    const { config, version } = queue.record;
    return Promise.all(
      landings.map(async (landing): Promise<CanaryFate> => {
        const partition = this.env.PARTITION.getByName(`${target}/${landing.partition}`);
        const page = await partition.peek(
          { config, configVersion: version },
          { limit: 1, after: landing.seq - 1 },
        );
        const [held] = page.messages;
        if (held?.seq === landing.seq) {
          const givenBack = held.attempts >= 2 || (held.attempts === 1 && held.state !== "leased");
          if (!givenBack) return { state: "pending" };
          return {
            state: "failed",
            detail: `given back after attempt ${held.attempts} (nacked, or its lease expired)`,
          };
        }
        const dead = await getDeadLetter(this.env, target, landing.id);
        if (dead.ok) {
          const reason = dead.message.failures.at(-1)?.reason ?? "";
          return { state: "failed", detail: `dead-lettered: ${reason}` };
        }
        if (page.stats.pendingDeadLetters > 0) return { state: "pending" };
        return { state: "acked" };
      }),
    );
  }
}
