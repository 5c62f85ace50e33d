/**
 * When a schedule fires, and the contract between the scheduler object that keeps the time
 * (durable-objects/scheduler.ts) and the Worker that sends (worker/schedules.ts).
 *
 * A schedule fires on a 5-field cron expression read in an IANA timezone, or every N seconds
 * from its start. Cron expressions are evaluated by croner, which treats daylight-saving
 * changes as Vixie cron does: a time skipped by a spring-forward fires once, when the clock
 * jumps past it (02:30 on a night that goes from 02:00 to 03:00 fires at 03:00), and a time
 * repeated by a fall-back fires once, the first time. Intervals are exact in UTC.
 */
import { Cron } from "croner";
import { z } from "zod";

/** Most fire times `GET /v1/schedules/:name` lists. */
export const UPCOMING_FIRES = 5;
/** The shortest interval: one fire per second at most. */
export const MIN_EVERY_SECONDS = 1;
export const MAX_EVERY_SECONDS = 366 * 86_400;
/** The last moment a schedule may name (the end of year 9999), epoch ms. */
const LATEST_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Null when croner reads the expression as 5 fields that match some date; else why not. */
function cronProblem(expression: string): string | null {
  try {
    if (cronOf(expression, "UTC").nextRun() === null) return "no date matches it";
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export const ScheduleTimingSchema = z
  .object({
    /** Minute, hour, day of month, month, day of week, as crontab(5) reads them. */
    cron: z.string().min(1).max(200).optional(),
    /** The IANA timezone `cron` is read in, such as Europe/Berlin [UTC]. */
    timezone: z.string().min(1).max(64).optional(),
    every: z.number().int().min(MIN_EVERY_SECONDS).max(MAX_EVERY_SECONDS).optional(),
    /** Epoch ms: no fire before it; `every` counts from it. */
    start: z.number().int().min(0).max(LATEST_TIME).optional(),
    /** Epoch ms: no fire at or after it. */
    end: z.number().int().min(0).max(LATEST_TIME).optional(),
  })
  .strict()
  .superRefine((timing, context) => {
    const issue = (path: string, message: string) =>
      context.addIssue({ code: "custom", path: [path], message });
    if ((timing.cron === undefined) === (timing.every === undefined)) {
      issue("cron", "give either cron (5 fields, with timezone) or every (seconds), not both");
    }
    if (timing.cron !== undefined) {
      const problem = cronProblem(timing.cron);
      if (problem !== null) issue("cron", `is not a 5-field cron expression: ${problem}`);
    }
    if (timing.timezone !== undefined) {
      if (timing.every !== undefined)
        issue("timezone", "applies to cron only; every is in seconds");
      else if (!isTimeZone(timing.timezone)) {
        issue("timezone", "is not an IANA timezone name, such as Europe/Berlin or UTC");
      }
    }
    if (timing.start !== undefined && timing.end !== undefined && timing.end <= timing.start) {
      issue("end", "must be after start");
    }
  });

export type ScheduleTiming = z.output<typeof ScheduleTimingSchema>;

function cronOf(expression: string, timezone: string): Cron {
  // domAndDow false: a day-of-month and a day-of-week both given match either, as in crontab.
  return new Cron(expression, { timezone, mode: "5-part", domAndDow: false });
}

/**
 * The first `count` fire times strictly after `after`, within start and end. `anchor` is
 * where `every` counts from when the schedule has no start (its creation time).
 */
export function fireTimesAfter(
  timing: ScheduleTiming,
  anchor: number,
  after: number,
  count: number,
): number[] {
  const from = Math.max(after, (timing.start ?? Number.NEGATIVE_INFINITY) - 1);
  let times: number[];
  if (timing.every !== undefined) {
    const step = timing.every * 1000;
    const origin = timing.start ?? anchor;
    const first = origin + Math.max(0, Math.floor((from - origin) / step) + 1) * step;
    times = Array.from({ length: count }, (_, i) => first + i * step);
  } else {
    const cron = cronOf(timing.cron as string, timing.timezone ?? "UTC");
    times = cron.nextRuns(count, new Date(from)).map((date) => date.getTime());
  }
  return times.filter((time) => timing.end === undefined || time < timing.end);
}

/** The next fire time strictly after `after`, or null when the schedule has ended. */
export function nextFireAfter(
  timing: ScheduleTiming,
  anchor: number,
  after: number,
): number | null {
  return fireTimesAfter(timing, anchor, after, 1)[0] ?? null;
}

/**
 * The latest fire time at or before `now` and not before `due` (the earliest unsent fire),
 * which is what a late alarm sends: one fire for however many were missed.
 */
export function latestFireBy(timing: ScheduleTiming, due: number, now: number): number {
  if (timing.every !== undefined) {
    const step = timing.every * 1000;
    return due + Math.max(0, Math.floor((now - due) / step)) * step;
  }
  const cron = cronOf(timing.cron as string, timing.timezone ?? "UTC");
  const [latest] = cron.previousRuns(1, new Date(now + 1)).map((date) => date.getTime());
  return latest !== undefined && latest >= due && latest <= now ? latest : due;
}

// ───────────────────── the object ⇄ Worker contract ─────────────────────

/** The Worker entrypoint the scheduler object sends through (reached by `ctx.exports`). */
export const SCHEDULE_DELIVERY_ENTRYPOINT = "ScheduleDelivery";

/** One fire of a schedule, as the scheduler object hands it to the Worker to send. */
export interface ScheduleFire {
  schedule: string;
  queue: string;
  /** The message as JSON text, opaque to the object (validated by the Worker when saved). */
  message: string;
  fireAt: number;
}

export type FireOutcome =
  | { ok: true; id: string; duplicate: boolean }
  /** `retry`: the queue refused for now (full, overloaded); the same fire is tried again. */
  | { ok: false; code: string; detail: string; retry: boolean };

export interface ScheduleDelivery {
  deliver(fire: ScheduleFire): Promise<FireOutcome>;
}

/** The dedupId a fire is sent with: a repeated or retried fire of one slot stores nothing new. */
export function scheduleDedupId(schedule: string, fireAt: number): string {
  return `schedule:${schedule}:${fireAt}`;
}
