/**
 * The scheduler (one object, named "scheduler"): every schedule's definition and when it next
 * fires, with one alarm set at the earliest due fire. Guarantee: each fire time of a schedule
 * is sent at most once per queue's dedup window and at least once while the queue accepts it;
 * fires missed while nothing ran (a deploy, an outage) are sent once, as the latest of them.
 *
 * The object keeps time; the Worker sends. On its alarm it hands each due fire to the
 * Worker's `ScheduleDelivery` entrypoint (core/schedule.ts, reached through `ctx.exports`, so
 * no binding is configured), which sends through the same service layer as every door with
 * `dedupId = schedule:<name>:<fire time>`. Only after the Worker answers does the object move
 * the schedule on, so a fire cut short by an eviction is sent again and recognised as a
 * duplicate. This keeps the object free of the router's code (objects import only core/) and
 * the send path in one place.
 */
import { DurableObject } from "cloudflare:workers";
import { describeIssues } from "../core/issues.ts";
import {
  type FireOutcome,
  fireTimesAfter,
  latestFireBy,
  nextFireAfter,
  SCHEDULE_DELIVERY_ENTRYPOINT,
  type ScheduleDelivery,
  type ScheduleTiming,
  ScheduleTimingSchema,
  UPCOMING_FIRES,
} from "../core/schedule.ts";
import { type Migration, migrate, type Sql, sqlOf } from "./sql.ts";

/** How long a fire the queue refused for now waits before it is tried again. */
const RETRY_DELAY_MS = 30_000;
/** Most fires one alarm sends; the rest follow at once in the next alarm. */
const FIRES_PER_ALARM = 50;

export interface ScheduleInput {
  queue: string;
  /** The message as JSON text: the object stores and hands it back, never reads it. */
  message: string;
  timing: ScheduleTiming;
  paused: boolean;
}

export interface ScheduleRecord extends ScheduleInput {
  name: string;
  /** When the next fire is due, or null when paused or ended. */
  nextFireAt: number | null;
  /** The next fire times (up to 5), the first being `nextFireAt`. */
  upcoming: number[];
  lastFireAt: number | null;
  /** What the Worker answered for the last fire tried. */
  lastOutcome: FireOutcome | null;
  createdAt: number;
  updatedAt: number;
}

export type PutScheduleOutcome =
  | { ok: true; created: boolean; schedule: ScheduleRecord }
  | { ok: false; code: "invalid_schedule"; detail: string };

const MIGRATIONS: readonly Migration[] = [
  // v1: one row per schedule; attempt_at is when the alarm next looks at it (its next fire,
  // or later when the queue refused the fire for now).
  (sql) => {
    sql`CREATE TABLE schedules (
      name TEXT PRIMARY KEY,
      queue TEXT NOT NULL,
      message TEXT NOT NULL,
      timing TEXT NOT NULL,
      paused INTEGER NOT NULL,
      next_fire_at INTEGER,
      attempt_at INTEGER,
      last_fire_at INTEGER,
      last_outcome TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX schedules_by_attempt ON schedules (attempt_at) WHERE attempt_at IS NOT NULL`;
  },
];

type ScheduleRow = {
  name: string;
  queue: string;
  message: string;
  timing: string;
  paused: number;
  next_fire_at: number | null;
  attempt_at: number | null;
  last_fire_at: number | null;
  last_outcome: string | null;
  created_at: number;
  updated_at: number;
};

export class Scheduler extends DurableObject<Env> {
  /** The object's clock, epoch ms; tests replace it. */
  clock: () => number = () => Date.now();
  /**
   * Where fires are sent: the Worker's entrypoint, through the loopback binding `ctx.exports`
   * holds for each of the Worker's entrypoints. Tests may replace it.
   */
  delivery: ScheduleDelivery = (this.ctx.exports as unknown as Record<string, ScheduleDelivery>)[
    SCHEDULE_DELIVERY_ENTRYPOINT
  ];
  #sql: Sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = sqlOf(ctx.storage);
    migrate(ctx.storage, MIGRATIONS);
  }

  /**
   * Creates the schedule or replaces its definition. The next fire is counted from now: a
   * change never fires at once for a time already past.
   */
  async put(name: string, input: ScheduleInput): Promise<PutScheduleOutcome> {
    const timing = ScheduleTimingSchema.safeParse(input.timing);
    if (!timing.success)
      return {
        ok: false,
        code: "invalid_schedule",
        detail: describeIssues(timing.error, "timing"),
      };
    const now = this.clock();
    const current = this.#row(name);
    const createdAt = current?.created_at ?? now;
    const next = input.paused ? null : nextFireAfter(timing.data, createdAt, now);
    this.#sql`INSERT INTO schedules (name, queue, message, timing, paused, next_fire_at,
        attempt_at, created_at, updated_at)
      VALUES (${name}, ${input.queue}, ${input.message},
        ${JSON.stringify(timing.data)}, ${input.paused ? 1 : 0}, ${next}, ${next}, ${now}, ${now})
      ON CONFLICT (name) DO UPDATE SET queue = excluded.queue, message = excluded.message,
        timing = excluded.timing, paused = excluded.paused, next_fire_at = excluded.next_fire_at,
        attempt_at = excluded.attempt_at, updated_at = excluded.updated_at`;
    await this.#setAlarm();
    return { ok: true, created: current === null, schedule: this.#record(name) as ScheduleRecord };
  }

  async get(name: string): Promise<ScheduleRecord | null> {
    return this.#record(name);
  }

  async list(): Promise<ScheduleRecord[]> {
    return this.#sql<ScheduleRow>`SELECT * FROM schedules ORDER BY name`
      .toArray()
      .map((row) => toRecord(row));
  }

  async delete(name: string): Promise<boolean> {
    const deleted = this.#sql`DELETE FROM schedules WHERE name = ${name} RETURNING name`.toArray();
    await this.#setAlarm();
    return deleted.length > 0;
  }

  /**
   * Pauses or resumes. A resumed schedule fires from its next time after now: what it would
   * have sent while paused is not caught up.
   */
  async setPaused(name: string, paused: boolean): Promise<ScheduleRecord | null> {
    const row = this.#row(name);
    if (row === null) return null;
    if (Boolean(row.paused) !== paused) {
      const now = this.clock();
      const next = paused ? null : nextFireAfter(JSON.parse(row.timing), row.created_at, now);
      this.#sql`UPDATE schedules SET paused = ${paused ? 1 : 0}, next_fire_at = ${next},
        attempt_at = ${next}, updated_at = ${now} WHERE name = ${name}`;
      await this.#setAlarm();
    }
    return this.#record(name);
  }

  /** Sends every due fire through the Worker, one per schedule however many were missed. */
  override async alarm(): Promise<void> {
    const now = this.clock();
    const due = this.#sql<ScheduleRow>`SELECT * FROM schedules
      WHERE attempt_at IS NOT NULL AND attempt_at <= ${now}
      ORDER BY attempt_at LIMIT ${FIRES_PER_ALARM}`.toArray();
    for (const row of due) await this.#fire(row, now);
    await this.#setAlarm();
  }

  async #fire(row: ScheduleRow, now: number): Promise<void> {
    const timing: ScheduleTiming = JSON.parse(row.timing);
    const fireAt = latestFireBy(timing, row.next_fire_at as number, now);
    let outcome: FireOutcome;
    try {
      outcome = await this.delivery.deliver({
        schedule: row.name,
        queue: row.queue,
        message: row.message,
        fireAt,
      });
    } catch (error) {
      console.error(`Scheduler: the fire of '${row.name}' at ${fireAt} failed`, error);
      outcome = { ok: false, code: "internal", detail: String(error), retry: true };
    }
    // The definition may have changed while the Worker sent: only the row as it was moves on.
    const current = this.#row(row.name);
    if (current === null || current.updated_at !== row.updated_at) return;
    if (!outcome.ok && outcome.retry) {
      this.#sql`UPDATE schedules SET attempt_at = ${now + RETRY_DELAY_MS},
        last_outcome = ${JSON.stringify(outcome)} WHERE name = ${row.name}`;
      return;
    }
    const next = nextFireAfter(timing, row.created_at, Math.max(now, fireAt));
    this.#sql`UPDATE schedules SET next_fire_at = ${next}, attempt_at = ${next},
      last_fire_at = ${fireAt}, last_outcome = ${JSON.stringify(outcome)}
      WHERE name = ${row.name}`;
  }

  /** One alarm, at the earliest time any schedule needs looking at. */
  async #setAlarm(): Promise<void> {
    const [earliest] = this.#sql<{ at: number | null }>`
      SELECT MIN(attempt_at) AS at FROM schedules`.toArray();
    if (earliest?.at == null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(earliest.at);
  }

  #row(name: string): ScheduleRow | null {
    return (
      this.#sql<ScheduleRow>`SELECT * FROM schedules WHERE name = ${name}`.toArray()[0] ?? null
    );
  }

  #record(name: string): ScheduleRecord | null {
    const row = this.#row(name);
    return row ? toRecord(row) : null;
  }
}

function toRecord(row: ScheduleRow): ScheduleRecord {
  const timing: ScheduleTiming = JSON.parse(row.timing);
  const upcoming =
    row.next_fire_at === null
      ? []
      : [
          row.next_fire_at,
          ...fireTimesAfter(timing, row.created_at, row.next_fire_at, UPCOMING_FIRES - 1),
        ];
  return {
    name: row.name,
    queue: row.queue,
    message: row.message,
    timing,
    paused: row.paused === 1,
    nextFireAt: row.next_fire_at,
    upcoming,
    lastFireAt: row.last_fire_at,
    lastOutcome: row.last_outcome === null ? null : JSON.parse(row.last_outcome),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
