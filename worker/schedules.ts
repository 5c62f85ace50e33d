/**
 * Schedules: a message sent to a queue on a cron expression (in an IANA timezone) or every N
 * seconds, like QStash schedules. The scheduler object (durable-objects/scheduler.ts) keeps
 * the definitions and the time; the `ScheduleDelivery` entrypoint below is how its alarm
 * sends, through the same service layer as every door.
 *
 * Access follows the target queue: `admin` on it to create, change, pause, resume or delete a
 * schedule, any scope on it to read one. A fire is sent with the scheduler's authority, so
 * revoking the key that made a schedule does not stop it: delete or pause the schedule.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import {
  type ScheduleDelivery as Delivery,
  type FireOutcome,
  type ScheduleFire,
  scheduleDedupId,
} from "../core/schedule.ts";
import type { ScheduleRecord } from "../durable-objects/scheduler.ts";
import { allows, denial, type Permission, type Principal } from "./auth.ts";
import { type Outcome, type Refusal, refuse } from "./outcome.ts";
import { type MessageInput, MessageInputSchema, type PutScheduleBody } from "./schemas.ts";
import { sendMessages } from "./service.ts";

/** The codes a queue answers when a fire may succeed later: the fire is tried again. */
export const RETRYABLE = new Set(["backlog_full", "overloaded", "inflight_limit"]);

/** A schedule as the API shows it: its timing fields inline, its message parsed. */
export type ScheduleView = Omit<ScheduleRecord, "timing" | "message"> &
  ScheduleRecord["timing"] & { message: MessageInput };

function scheduler(env: Env) {
  return env.SCHEDULER.getByName("scheduler");
}

function viewOf({ timing, message, ...record }: ScheduleRecord): ScheduleView {
  return { ...record, ...timing, message: JSON.parse(message) };
}

function scheduleNotFound(name: string): Refusal {
  return refuse("schedule_not_found", `no schedule named '${name}'`);
}

/** The schedule, once the principal holds `permission` on its queue. */
async function resolve(
  env: Env,
  principal: Principal,
  permission: Permission,
  name: string,
): Promise<{ ok: true; schedule: ScheduleRecord } | Refusal> {
  const schedule = await scheduler(env).get(name);
  if (schedule === null) return scheduleNotFound(name);
  if (!allows(principal, permission, schedule.queue)) {
    return refuse("forbidden", denial(principal, permission, schedule.queue));
  }
  return { ok: true, schedule };
}

/**
 * Creates the schedule or replaces it. The queue must exist, and the principal needs `admin`
 * on it (and on the queue the schedule sent to before, when that changes).
 */
export async function putSchedule(
  env: Env,
  principal: Principal,
  name: string,
  body: PutScheduleBody,
): Promise<Outcome<{ created: boolean; schedule: ScheduleView }>> {
  const { queue, message, paused, ...timing } = body;
  if (!allows(principal, "admin", queue))
    return refuse("forbidden", denial(principal, "admin", queue));
  const existing = await scheduler(env).get(name);
  if (existing && !allows(principal, "admin", existing.queue)) {
    return refuse("forbidden", denial(principal, "admin", existing.queue));
  }
  if ((await env.CATALOG.getByName("catalog").getQueue(queue)) === null) {
    return refuse(
      "queue_not_found",
      `no queue named '${queue}'; create it before scheduling to it`,
    );
  }
  const outcome = await scheduler(env).put(name, {
    queue,
    message: JSON.stringify(message),
    timing,
    paused,
  });
  if (!outcome.ok) return refuse(outcome.code, outcome.detail);
  return { ok: true, created: outcome.created, schedule: viewOf(outcome.schedule) };
}

/** The schedules whose queue the principal holds any scope on. */
export async function listSchedules(
  env: Env,
  principal: Principal,
): Promise<Outcome<{ schedules: ScheduleView[] }>> {
  const schedules = (await scheduler(env).list()).filter((schedule) =>
    allows(principal, "read", schedule.queue),
  );
  return { ok: true, schedules: schedules.map(viewOf) };
}

export async function getSchedule(
  env: Env,
  principal: Principal,
  name: string,
): Promise<Outcome<{ schedule: ScheduleView }>> {
  const resolved = await resolve(env, principal, "read", name);
  return resolved.ok ? { ok: true, schedule: viewOf(resolved.schedule) } : resolved;
}

export async function deleteSchedule(
  env: Env,
  principal: Principal,
  name: string,
): Promise<Outcome<object>> {
  const resolved = await resolve(env, principal, "admin", name);
  if (!resolved.ok) return resolved;
  return (await scheduler(env).delete(name)) ? { ok: true } : scheduleNotFound(name);
}

/** Pauses (`paused: true`) or resumes a schedule; a resumed one does not catch up. */
export async function pauseSchedule(
  env: Env,
  principal: Principal,
  name: string,
  paused: boolean,
): Promise<Outcome<{ schedule: ScheduleView }>> {
  const resolved = await resolve(env, principal, "admin", name);
  if (!resolved.ok) return resolved;
  const schedule = await scheduler(env).setPaused(name, paused);
  return schedule === null ? scheduleNotFound(name) : { ok: true, schedule: viewOf(schedule) };
}

/**
 * How the scheduler object sends a fire: reached only through its `ctx.exports` loopback
 * (and by Workers of the same account that bind to it, who can reach the objects anyway).
 */
export class ScheduleDelivery extends WorkerEntrypoint<Env> implements Delivery {
  async deliver(fire: ScheduleFire): Promise<FireOutcome> {
    const parsed = MessageInputSchema.safeParse({
      ...JSON.parse(fire.message),
      dedupId: scheduleDedupId(fire.schedule, fire.fireAt),
    });
    if (!parsed.success) {
      return { ok: false, code: "invalid_schedule", detail: parsed.error.message, retry: false };
    }
    const message: MessageInput = parsed.data;
    const sent = await sendMessages(this.env, fire.queue, [message]);
    if (!sent.ok) {
      return { ok: false, code: sent.code, detail: sent.detail, retry: RETRYABLE.has(sent.code) };
    }
    const [stored] = sent.messages;
    if (stored === undefined) {
      const [failure] = sent.failed;
      return { ok: false, code: failure.code, detail: failure.detail, retry: true };
    }
    return { ok: true, id: stored.id, duplicate: stored.duplicate };
  }
}
