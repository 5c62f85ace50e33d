/**
 * The dead-letter object of one queue (named by the queue): every message that exhausted its
 * attempts, with the whole history of why, kept until a person redrives or deletes it.
 *
 * Hand-offs come from partition outboxes, which retry until they get an answer, so the same
 * message can arrive more than once: `accept` is idempotent by message id and the first copy
 * wins. A confirmed hand-off is committed to storage before the answer leaves the object.
 */

import { DurableObject } from "cloudflare:workers";
import { createHash } from "node:crypto";
import type {
  ContentType,
  DeadLetter,
  DeadLetterChange,
  DeadLetterEdit,
  DeadLetterFilter,
  DeadLetterPage,
  DeadLetterQuery,
  DeadMessage,
  Failure,
  FailureCluster,
} from "../core/contract.ts";
import { MAX_BATCH } from "../core/contract.ts";
import {
  type NewRedriveJob,
  REDRIVE_DELIVERY_ENTRYPOINT,
  type RedriveDelivery,
  type RedriveJob,
} from "../core/redrive.ts";
import {
  CLUSTERS_MIGRATION,
  type ClusterMember,
  FailureClusters,
  finalReason,
  fingerprintOf,
} from "./dead-letters/clusters.ts";
import { REDRIVE_JOBS_MIGRATION, RedriveJobs } from "./dead-letters/redrive-jobs.ts";
import { type Migration, migrate, type Sql, sqlOf, takeWithin } from "./sql.ts";

/**
 * A page stops early once its messages (body, headers and failures, as stored) add up to this
 * many characters, always holding at least one. A string travels over RPC as at most two bytes
 * a character, so a page stays well inside the 32 MiB an RPC answer may carry, and a page of
 * messages redriven in one send does too.
 */
const PAGE_BUDGET = 8 * 1024 * 1024;

/** Sorts after every real diedAt: the starting point of the first page. */
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

/**
 * Joins the failure reasons in the searchable column. Newlines inside a reason, and in a
 * reason search, become spaces, so a search matches within one reason, never across two.
 */
const REASON_SEPARATOR = "\n";

const MIGRATIONS: readonly Migration[] = [
  // v1: one row per dead message. `reasons` holds every failure reason lowercased so the
  // reason filter is one LIKE; the index serves the newest-first pages and their cursors.
  (sql) => {
    sql`CREATE TABLE dead_messages (
      id TEXT PRIMARY KEY,
      queue TEXT NOT NULL,
      partition INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      body TEXT NOT NULL,
      content_type TEXT NOT NULL,
      headers TEXT NOT NULL,
      key TEXT,
      priority INTEGER NOT NULL,
      sent_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL,
      failures TEXT NOT NULL,
      reasons TEXT NOT NULL,
      died_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX dead_messages_by_death ON dead_messages (died_at, id)`;
  },
  // v2: failure clusters, kept as messages arrive and leave (dead-letters/clusters.ts).
  CLUSTERS_MIGRATION,
  // v3: redrive jobs, run on the alarm (dead-letters/redrive-jobs.ts).
  REDRIVE_JOBS_MIGRATION,
  // v4: the edits made to a dead letter before redriving it (`edit`).
  (sql) => {
    sql`ALTER TABLE dead_messages ADD COLUMN edits TEXT NOT NULL DEFAULT '[]'`;
  },
];

type DeadMessageRow = {
  id: string;
  queue: string;
  partition: number;
  seq: number;
  body: string;
  content_type: string;
  headers: string;
  key: string | null;
  priority: number;
  sent_at: number;
  attempts: number;
  failures: string;
  died_at: number;
  fingerprint: string;
  edits: string;
};

export class DeadLetters extends DurableObject<Env> {
  /** The object's clock, epoch ms; tests replace it. */
  clock: () => number = () => Date.now();
  /**
   * Where redrive jobs send: the Worker's entrypoint, through the loopback binding `ctx.exports`
   * holds for each of the Worker's entrypoints. Tests may replace it.
   */
  delivery: RedriveDelivery = (this.ctx.exports as unknown as Record<string, RedriveDelivery>)[
    REDRIVE_DELIVERY_ENTRYPOINT
  ];
  #sql: Sql;
  #clusters: FailureClusters;
  #jobs: RedriveJobs;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = sqlOf(ctx.storage);
    this.#clusters = new FailureClusters(this.#sql);
    const store = {
      select: (filter: DeadLetterFilter, limit: number) =>
        takeWithin(this.#matching(filter), limit, PAGE_BUDGET, storedSize).taken.map(toDeadMessage),
      count: (filter: DeadLetterFilter) => countOf(this.#matching(filter)),
      remove: (ids: string[]) => this.#remove(ids),
    };
    this.#jobs = new RedriveJobs(this.#sql, store, ctx.id.name ?? "");
    migrate(ctx.storage, MIGRATIONS);
  }

  /**
   * Stores the messages not held yet; a message already held (a retried hand-off) is left
   * as it is. `accepted` counts the given messages now held, `duplicates` those that were
   * held before this call.
   */
  async accept(messages: DeadMessage[]): Promise<{ accepted: number; duplicates: number }> {
    let stored = 0;
    const ids = new Set<string>();
    for (const message of messages) {
      ids.add(message.id);
      const fingerprint = fingerprintOf(message.failures);
      const inserted = this.#sql`
        INSERT INTO dead_messages (id, queue, partition, seq, body, content_type, headers, key,
          priority, sent_at, attempts, failures, reasons, died_at, fingerprint)
        VALUES (${message.id}, ${message.queue}, ${message.partition}, ${message.seq},
          ${message.body}, ${message.contentType}, ${JSON.stringify(message.headers)},
          ${message.key}, ${message.priority}, ${message.sentAt}, ${message.attempts},
          ${JSON.stringify(message.failures)}, ${searchableReasons(message.failures)},
          ${message.diedAt}, ${fingerprint})
        ON CONFLICT (id) DO NOTHING
        RETURNING id`.toArray();
      if (inserted.length === 0) continue;
      stored += 1;
      const member = { fingerprint, key: message.key, died_at: message.diedAt };
      this.#clusters.arrived(member, finalReason(message.failures));
    }
    return { accepted: ids.size, duplicates: ids.size - stored };
  }

  /**
   * Newest death first, ties broken by id, so a cursor names an exact place in the order and
   * pages neither repeat nor skip a message while others arrive or leave. Filters combine
   * with AND. `text` matches the body as stored (base64 for binary bodies); SQLite's LIKE
   * folds case for ASCII letters only, which is what `text` relies on. `cluster` is a
   * fingerprint (`clusters`).
   */
  async list(query: DeadLetterQuery): Promise<DeadLetterPage> {
    const limit = pageLimit(query.limit);
    const after = query.cursor === undefined ? null : decodeDeadLetterCursor(query.cursor);
    if (query.cursor !== undefined && after === null) {
      throw new RangeError("invalid dead-letter cursor; check it with isDeadLetterCursor first");
    }
    const page = takeWithin(this.#matching(query, after), limit, PAGE_BUDGET, storedSize);
    const messages = page.taken.map(toDeadMessage);
    const last = messages[messages.length - 1];
    return { messages, cursor: page.more ? encodeCursor(last.diedAt, last.id) : null };
  }

  /** The messages `filter` matches, newest death first, after the cursor's place if given. */
  #matching(
    filter: DeadLetterFilter,
    after: { diedAt: number; id: string } | null = null,
  ): Iterable<DeadMessageRow> {
    return this.#sql<DeadMessageRow>`
      SELECT * FROM dead_messages
      WHERE (died_at, id) < (${after?.diedAt ?? END_OF_TIME}, ${after?.id ?? ""})
        AND died_at >= ${finiteOr(filter.since, 0)} AND died_at <= ${finiteOr(filter.until, END_OF_TIME)}
        AND reasons LIKE ${containsPattern(filter.reason && searchableReason(filter.reason))} ESCAPE '\\'
        AND body LIKE ${containsPattern(filter.text)} ESCAPE '\\'
        AND (${filter.cluster ?? null} IS NULL OR fingerprint = ${filter.cluster ?? null})
        AND (${filter.key ?? null} IS NULL OR key = ${filter.key ?? null})
      ORDER BY died_at DESC, id DESC`;
  }

  /**
   * Changes a dead letter's body (with its content type) or headers before it is redriven, and
   * keeps the change in its timeline: who, when, and the SHA-256 of the value it replaced.
   * Null when the message is not held.
   */
  async edit(id: string, change: DeadLetterChange, by: string): Promise<DeadLetter | null> {
    const row = this
      .#sql<DeadMessageRow>`SELECT * FROM dead_messages WHERE id = ${id}`.toArray()[0];
    if (row === undefined) return null;
    const at = this.clock();
    const edits: DeadLetterEdit[] = JSON.parse(row.edits);
    if (change.body !== undefined)
      edits.push({ at, by, field: "body", previousSha256: sha256(row.body) });
    const headers = change.headers === undefined ? null : JSON.stringify(change.headers);
    if (headers !== null)
      edits.push({ at, by, field: "headers", previousSha256: sha256(row.headers) });
    const [edited] = this.#sql<DeadMessageRow>`
      UPDATE dead_messages SET body = coalesce(${change.body ?? null}, body),
        content_type = coalesce(${change.contentType ?? null}, content_type),
        headers = coalesce(${headers}, headers), edits = ${JSON.stringify(edits)}
      WHERE id = ${id} RETURNING *`.toArray();
    return toDeadMessage(edited);
  }

  async get(id: string): Promise<DeadLetter | null> {
    const row = this.#sql<DeadMessageRow>`
      SELECT * FROM dead_messages WHERE id = ${id}`.toArray()[0];
    return row ? toDeadMessage(row) : null;
  }

  /**
   * The held messages among `ids`, in the order asked, missing ones left out, within the page
   * budget: `unread` holds the ids not looked at yet, to ask for next (empty when all were).
   */
  async getMany(ids: string[]): Promise<{ messages: DeadLetter[]; unread: string[] }> {
    const wanted = [...new Set(ids)];
    const rows = this.#sql<DeadMessageRow & { position: number }>`
      SELECT dead_messages.*, asked.key AS position
      FROM json_each(${JSON.stringify(wanted)}) AS asked
      JOIN dead_messages ON dead_messages.id = asked.value
      ORDER BY asked.key`;
    const page = takeWithin(rows, wanted.length, PAGE_BUDGET, storedSize);
    const last = page.taken[page.taken.length - 1];
    return {
      messages: page.taken.map(toDeadMessage),
      unread: page.more ? wanted.slice(last.position + 1) : [],
    };
  }

  /** Deletes the given messages (after a redrive, or by hand); unknown ids are ignored. */
  async remove(ids: string[]): Promise<{ removed: number }> {
    return { removed: this.#remove(ids) };
  }

  #remove(ids: string[]): number {
    const removed = this.#sql<ClusterMember>`
      DELETE FROM dead_messages WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
      RETURNING fingerprint, key, died_at`.toArray();
    this.#clusters.left(removed);
    return removed.length;
  }

  /** Deletes every message, or with `cluster` every message of that failure cluster. */
  async purge(cluster?: string): Promise<{ purged: number }> {
    if (cluster !== undefined) {
      const removed = this.#sql<ClusterMember>`
        DELETE FROM dead_messages WHERE fingerprint = ${cluster}
        RETURNING fingerprint, key, died_at`.toArray();
      this.#clusters.left(removed);
      return { purged: removed.length };
    }
    const purged = this.#count();
    this.#sql`DELETE FROM dead_messages`;
    this.#clusters.clear();
    return { purged };
  }

  /**
   * The failure clusters, largest first: dead letters grouped by the fingerprint of their
   * final failure reason (core/failure-fingerprint.ts), counted as they arrived.
   */
  async clusters(limit: number = MAX_BATCH): Promise<FailureCluster[]> {
    return this.#clusters.list(pageLimit(limit));
  }

  // ───────────────────────────── redrive jobs ─────────────────────────────

  /** Starts a job; its first step runs on the alarm at once. `target` is already checked. */
  async createJob(job: NewRedriveJob & { target: string; createdBy: string }): Promise<RedriveJob> {
    const created = this.#jobs.create(job, this.clock());
    await this.#setAlarm();
    return created;
  }

  async getJob(id: string): Promise<RedriveJob | null> {
    return this.#jobs.get(id);
  }

  /** The newest jobs first. */
  async listJobs(): Promise<RedriveJob[]> {
    return this.#jobs.list();
  }

  async cancelJob(id: string): Promise<RedriveJob | null> {
    const job = this.#jobs.cancel(id, this.clock());
    await this.#setAlarm();
    return job;
  }

  /** Runs a step of every due job (idempotent: a step's moves are recorded once). */
  override async alarm(): Promise<void> {
    await this.#jobs.runDue(this.clock(), this.delivery);
    await this.#setAlarm();
  }

  async #setAlarm(): Promise<void> {
    const due = this.#jobs.nextDue();
    if (due === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(due);
  }

  async count(): Promise<number> {
    return this.#count();
  }

  #count(): number {
    return this.#sql<{ n: number }>`SELECT count(*) AS n FROM dead_messages`.one().n;
  }
}

/** Whether `cursor` is one that `list` handed out; the router checks before calling. */
export function isDeadLetterCursor(cursor: string): boolean {
  return decodeDeadLetterCursor(cursor) !== null;
}

/** `diedAt.id`, URL-safe as it stands, so it can go in a query string untouched. */
function encodeCursor(diedAt: number, id: string): string {
  return `${diedAt}.${encodeURIComponent(id)}`;
}

const CURSOR_PATTERN = /^(\d{1,16})\.(.*)$/;

function decodeDeadLetterCursor(cursor: string): { diedAt: number; id: string } | null {
  if (typeof cursor !== "string" || cursor.length > 400) return null;
  const match = CURSOR_PATTERN.exec(cursor);
  if (!match || !Number.isSafeInteger(Number(match[1]))) return null;
  try {
    return { diedAt: Number(match[1]), id: decodeURIComponent(match[2]) };
  } catch {
    return null;
  }
}

/** 1–100 whatever the caller sent; a missing or unreadable limit means the most. */
function pageLimit(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_BATCH;
  return Math.min(MAX_BATCH, Math.max(1, Math.trunc(limit)));
}

/** A LIKE pattern for "contains `text`", with LIKE's own wildcards taken literally. */
function containsPattern(text: string | undefined): string {
  const escaped = (text ?? "").replace(/[\\%_]/g, (c) => `\\${c}`);
  return `%${escaped}%`;
}

function searchableReason(reason: string): string {
  return reason.replaceAll(REASON_SEPARATOR, " ").toLowerCase();
}

function searchableReasons(failures: Failure[]): string {
  return failures.map((f) => searchableReason(f.reason)).join(REASON_SEPARATOR);
}

function countOf(rows: Iterable<unknown>): number {
  let count = 0;
  for (const _ of rows) count++;
  return count;
}

function finiteOr(value: number | undefined, fallback: number): number {
  return Number.isFinite(value) ? (value as number) : fallback;
}

/** What a row weighs against PAGE_BUDGET: the text it carries in an answer. */
function storedSize(row: DeadMessageRow): number {
  return row.body.length + row.headers.length + row.failures.length;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function toDeadMessage(row: DeadMessageRow): DeadLetter {
  return {
    id: row.id,
    queue: row.queue,
    partition: row.partition,
    seq: row.seq,
    body: row.body,
    contentType: row.content_type as ContentType,
    headers: JSON.parse(row.headers),
    key: row.key,
    priority: row.priority,
    sentAt: row.sent_at,
    attempts: row.attempts,
    failures: JSON.parse(row.failures),
    diedAt: row.died_at,
    edits: JSON.parse(row.edits),
  };
}
