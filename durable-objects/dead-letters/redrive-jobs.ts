/**
 * Redrive jobs of a dead-letter object: filtered moves of dead letters back to a queue, at a
 * rate, optionally behind a canary, run on the object's alarm (docs/architecture.md, "Redrive
 * jobs").
 *
 * Guarantee: a job never moves a message twice and never loses one. A move is send-then-delete:
 * the Worker sends the dead letter (`RedriveDelivery.move`) with a dedupId derived from the job
 * and the message (core/redrive.ts `redriveDedupId`), and only then, in one synchronous step,
 * is the dead letter deleted and the move recorded. If the object stops between the two, the
 * next alarm sends the same message again with the same dedupId, the target answers with the
 * first copy (`duplicate`), and the move is recorded once. That holds while the retry comes
 * within the target's `dedupWindow` (alarms retry within seconds; a target with `dedupWindow: 0`
 * gives no such promise). A job moves only dead letters that died before it was created, so a
 * moved message that dies again is not moved again by the same job.
 */
import type { DeadLetterFilter, DeadMessage } from "../../core/contract.ts";
import type {
  CanaryFate,
  Landing,
  NewRedriveJob,
  RedriveDelivery,
  RedriveJob,
  RedriveJobState,
} from "../../core/redrive.ts";
import type { Migration, Sql } from "../sql.ts";

/** Most messages one move sends. */
const MOVE_BATCH = 100;
/** How often a job waiting for its canary asks the target again. */
export const CANARY_POLL_MS = 2_000;
/** How long a job waits after the target refused for now (full, overloaded) or did not answer. */
export const RETRY_MS = 5_000;
/** Jobs listed, newest first. */
const LISTED_JOBS = 50;

/** What a job needs of the dead letters it moves. */
export interface DeadLetterStore {
  /** At most `limit` messages that `filter` matches (within the object's page budget). */
  select(filter: DeadLetterFilter, limit: number): DeadMessage[];
  count(filter: DeadLetterFilter): number;
  /** Deletes the messages; answers how many were held. */
  remove(ids: string[]): number;
}

/** Schema step: the jobs and the moves each made (a canary's with what became of it). */
export const REDRIVE_JOBS_MIGRATION: Migration = (sql) => {
  sql`CREATE TABLE redrive_jobs (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    filter TEXT NOT NULL,
    rate INTEGER NOT NULL,
    canary INTEGER,
    state TEXT NOT NULL,
    detail TEXT,
    moved INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    due_at INTEGER
  )`;
  sql`CREATE TABLE redrive_moves (
    job TEXT NOT NULL,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    canary INTEGER NOT NULL,
    fate TEXT,
    PRIMARY KEY (job, source)
  ) WITHOUT ROWID`;
};

type JobRow = {
  id: string;
  target: string;
  filter: string;
  rate: number;
  canary: number | null;
  state: RedriveJobState;
  detail: string | null;
  moved: number;
  created_by: string;
  created_at: number;
  updated_at: number;
  due_at: number | null;
};

type MoveRow = {
  source: string;
  id: string;
  partition: number;
  seq: number;
  fate: string | null;
};

export class RedriveJobs {
  readonly #sql: Sql;
  readonly #store: DeadLetterStore;
  readonly #queue: string;

  constructor(sql: Sql, store: DeadLetterStore, queue: string) {
    this.#sql = sql;
    this.#store = store;
    this.#queue = queue;
  }

  create(job: NewRedriveJob & { target: string; createdBy: string }, now: number): RedriveJob {
    const id = `job_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
    this.#sql`
      INSERT INTO redrive_jobs (id, target, filter, rate, canary, state, detail, moved,
        created_by, created_at, updated_at, due_at)
      VALUES (${id}, ${job.target}, ${JSON.stringify(job.filter)}, ${job.rate},
        ${job.canary ?? null}, ${job.canary === undefined ? "running" : "canary"}, NULL, 0,
        ${job.createdBy}, ${now}, ${now}, ${now})`;
    return this.get(id) as RedriveJob;
  }

  get(id: string): RedriveJob | null {
    const row = this.#row(id);
    return row === null ? null : this.#view(row);
  }

  list(): RedriveJob[] {
    return this.#sql<JobRow>`
      SELECT * FROM redrive_jobs ORDER BY created_at DESC, id DESC LIMIT ${LISTED_JOBS}`
      .toArray()
      .map((row) => this.#view(row));
  }

  /** Stops a job that has not ended; a move already sent is still recorded when it answers. */
  cancel(id: string, now: number): RedriveJob | null {
    this.#sql`
      UPDATE redrive_jobs SET state = 'cancelled', due_at = NULL,
        updated_at = max(${now}, updated_at + 1)
      WHERE id = ${id} AND state IN ('canary', 'running')`;
    return this.get(id);
  }

  /** When the alarm must next run a job, or null when none is under way. */
  nextDue(): number | null {
    return this.#sql<{ at: number | null }>`SELECT min(due_at) AS at FROM redrive_jobs`.one().at;
  }

  /** Runs one step of every job that is due. */
  async runDue(now: number, delivery: RedriveDelivery): Promise<void> {
    const due = this.#sql<JobRow>`
      SELECT * FROM redrive_jobs WHERE due_at IS NOT NULL AND due_at <= ${now}
      ORDER BY due_at`.toArray();
    for (const job of due) await this.#step(job, now, delivery);
  }

  async #step(job: JobRow, now: number, delivery: RedriveDelivery): Promise<void> {
    const filter = this.#filter(job);
    const perStep = Math.min(MOVE_BATCH, job.rate);
    if (job.state === "running") {
      const batch = this.#store.select(filter, perStep);
      if (batch.length === 0) return this.#settle(job, "done", null, null, now);
      return this.#move(job, batch, false, now, delivery);
    }
    // The canary: move `canary` messages, then wait until each was acked at the target.
    const canary = job.canary as number;
    const canaries = this.#moves(job.id, true);
    if (canaries.length < canary) {
      const batch = this.#store.select(filter, Math.min(perStep, canary - canaries.length));
      if (batch.length > 0) return this.#move(job, batch, true, now, delivery);
      if (canaries.length === 0) return this.#settle(job, "done", null, null, now);
    }
    const pending = canaries.filter((move) => move.fate === null);
    let fates: CanaryFate[] = [];
    try {
      if (pending.length > 0) fates = await delivery.fates(job.target, pending.map(landingOf));
    } catch (error) {
      return this.#wait(job, `the target did not answer about the canary: ${error}`, now);
    }
    if (this.#row(job.id)?.updated_at !== job.updated_at) return;
    let failure: string | null = null;
    for (const [index, move] of pending.entries()) {
      const fate = fates[index];
      if (fate.state === "pending") continue;
      this.#sql`UPDATE redrive_moves SET fate = ${fate.state}
        WHERE job = ${job.id} AND source = ${move.source}`;
      if (fate.state === "failed") {
        failure ??= `canary message ${move.id} (dead letter ${move.source}) failed again at '${job.target}': ${fate.detail}`;
      }
    }
    if (failure !== null) return this.#settle(job, "canary_failed", failure, null, now);
    if (fates.every((fate) => fate.state === "acked")) {
      return this.#settle(job, "running", null, now, now);
    }
    this.#settle(
      job,
      "canary",
      "waiting for every canary message to be acked",
      now + CANARY_POLL_MS,
      now,
    );
  }

  /**
   * Sends `batch` through the Worker, then deletes what landed and records the moves, in one
   * synchronous step (see the module's guarantee). The moves are recorded even when the job was
   * cancelled meanwhile: they happened.
   */
  async #move(
    job: JobRow,
    batch: DeadMessage[],
    canary: boolean,
    now: number,
    delivery: RedriveDelivery,
  ): Promise<void> {
    let outcome: Awaited<ReturnType<RedriveDelivery["move"]>>;
    try {
      outcome = await delivery.move(job.id, job.target, batch);
    } catch (error) {
      return this.#wait(job, `the target did not answer: ${error}`, now);
    }
    const landed = outcome.ok ? outcome.landed : [];
    if (landed.length > 0) {
      this.#store.remove(landed.map((landing) => landing.source));
      this.#sql`
        INSERT OR IGNORE INTO redrive_moves (job, source, id, partition, seq, canary, fate)
        SELECT ${job.id}, l.value ->> 'source', l.value ->> 'id', l.value ->> 'partition',
          l.value ->> 'seq', ${canary ? 1 : 0}, NULL
        FROM json_each(${JSON.stringify(landed)}) AS l`;
      this.#sql`UPDATE redrive_jobs SET moved = moved + ${landed.length} WHERE id = ${job.id}`;
    }
    const current = this.#row(job.id);
    if (current === null || current.updated_at !== job.updated_at) return;
    if (!outcome.ok && !outcome.retry) {
      return this.#settle(
        current,
        "failed",
        `'${job.target}' refused: ${outcome.detail}`,
        null,
        now,
      );
    }
    if (!outcome.ok)
      return this.#wait(current, `'${job.target}' refused for now: ${outcome.detail}`, now);
    const interval = Math.ceil((batch.length / job.rate) * 1000);
    this.#settle(current, job.state, null, now + interval, now);
  }

  #wait(job: JobRow, detail: string, now: number): void {
    if (this.#row(job.id)?.updated_at !== job.updated_at) return;
    this.#settle(job, job.state, detail, now + RETRY_MS, now);
  }

  #settle(
    job: JobRow,
    state: RedriveJobState,
    detail: string | null,
    dueAt: number | null,
    now: number,
  ): void {
    this.#sql`UPDATE redrive_jobs SET state = ${state}, detail = ${detail}, due_at = ${dueAt},
      updated_at = ${Math.max(now, job.updated_at + 1)} WHERE id = ${job.id}`;
  }

  /** The job's filter, bounded to the dead letters that died before the job was created. */
  #filter(job: JobRow): DeadLetterFilter {
    const filter: DeadLetterFilter = JSON.parse(job.filter);
    return { ...filter, until: Math.min(filter.until ?? job.created_at, job.created_at) };
  }

  #moves(job: string, canary: boolean): MoveRow[] {
    return this.#sql<MoveRow>`
      SELECT source, id, partition, seq, fate FROM redrive_moves
      WHERE job = ${job} AND canary = ${canary ? 1 : 0}`.toArray();
  }

  #row(id: string): JobRow | null {
    return this.#sql<JobRow>`SELECT * FROM redrive_jobs WHERE id = ${id}`.toArray()[0] ?? null;
  }

  #view(row: JobRow): RedriveJob {
    const canaries = row.canary === null ? [] : this.#moves(row.id, true);
    const sameQueue = row.target === this.#queue ? 1 : 0;
    // A moved message failed again: a canary seen failing, or one that died here again.
    const { failed } = this.#sql<{ failed: number }>`
      SELECT count(*) AS failed FROM redrive_moves AS m
      WHERE m.job = ${row.id} AND (m.fate = 'failed'
        OR (${sameQueue} = 1 AND EXISTS (SELECT 1 FROM dead_messages AS d WHERE d.id = m.id)))`.one();
    return {
      id: row.id,
      queue: this.#queue,
      target: row.target,
      filter: JSON.parse(row.filter),
      rate: row.rate,
      state: row.state,
      detail: row.detail,
      moved: row.moved,
      remaining: this.#store.count(this.#filter(row)),
      failedAgain: failed,
      canary:
        row.canary === null
          ? null
          : {
              size: row.canary,
              moved: canaries.length,
              acked: canaries.filter((move) => move.fate === "acked").length,
              failed: canaries.filter((move) => move.fate === "failed").length,
            },
      createdBy: row.created_by,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

function landingOf(move: MoveRow): Landing {
  return { source: move.source, id: move.id, partition: move.partition, seq: move.seq };
}
