/**
 * The dead-letter outbox: a dying message is written here in the same transaction that takes
 * it out of the log, and leaves only once the queue's dead-letter object has confirmed it. A
 * failed hand-off keeps it, with backoff, for a later alarm: an outage there delays the
 * hand-off, never loses a message. One hand-off runs at a time; a caller arriving during one
 * waits for it.
 */
import { retryDelaySeconds } from "../../core/backoff.ts";
import { type DeadMessage, MAX_BATCH } from "../../core/contract.ts";
import type { RetryPolicy } from "../../core/queue-config.ts";
import { insertJson, type Sql, takeWithin } from "../sql.ts";

/** Backoff between attempts to hand the outbox to an unreachable dead-letter object. */
const HANDOFF_RETRY: RetryPolicy = { initialDelay: 1, maxDelay: 300, multiplier: 2, jitter: true };

/**
 * One hand-off call carries at most this many characters of dead messages (always at least
 * one message), so a batch of 1 MiB bodies stays well inside what one RPC may carry.
 */
const HANDOFF_BUDGET = 8 * 1024 * 1024;

const OUTBOX_COLUMNS = ["seq", "message", "next_attempt_at"] as const;

/** A dead message waiting for the dead-letter object; `message` is the DeadMessage as JSON. */
type OutboxRow = { seq: number; message: string; tries: number };

/** Where dead messages go: the queue's dead-letter object. */
export interface DeadLetterSink {
  accept(messages: DeadMessage[]): Promise<unknown>;
}

export class DeadLetterOutbox {
  #handOff: Promise<void> | null = null;
  /** How many wait and when the next is due, kept in memory (read once on start). */
  #pending = 0;
  #nextDue: number | null = null;

  constructor(
    private readonly sql: Sql,
    /** Names the partition in log lines. */
    private readonly label: string,
  ) {
    this.load();
  }

  /** Reads what waits, after a start or a transaction that was taken back. */
  load(): void {
    const row = this.sql<{ pending: number; due: number | null }>`
      SELECT count(*) AS pending, min(next_attempt_at) AS due FROM dead_letter_outbox`.one();
    this.#pending = row.pending;
    this.#nextDue = row.due;
  }

  /** Adds dead messages, in the caller's transaction, in one statement. */
  add(dead: DeadMessage[]): void {
    if (dead.length === 0) return;
    const rows = dead.map((message) => ({
      seq: message.seq,
      message: JSON.stringify(message),
      next_attempt_at: message.diedAt,
    }));
    insertJson(this.sql, "INSERT", "dead_letter_outbox", OUTBOX_COLUMNS, rows);
    this.#pending += dead.length;
    for (const message of dead) {
      if (this.#nextDue === null || message.diedAt < this.#nextDue) this.#nextDue = message.diedAt;
    }
  }

  /** Dead messages waiting for the dead-letter object to confirm them. */
  pending(): number {
    return this.#pending;
  }

  /** When the next hand-off is due, or null with nothing waiting. */
  nextAlarm(): number | null {
    return this.#nextDue;
  }

  /**
   * Hands what is due to `sink`, deleting rows only once it confirmed; `changed` runs after
   * each change to the outbox (the partition re-arms its alarm). Never throws.
   */
  handOff(sink: DeadLetterSink, clock: () => number, changed: () => void): Promise<void> {
    this.#handOff ??= this.#deliver(sink, clock, changed).finally(() => {
      this.#handOff = null;
    });
    return this.#handOff;
  }

  async #deliver(sink: DeadLetterSink, clock: () => number, changed: () => void): Promise<void> {
    for (;;) {
      const batch = this.#due(clock());
      if (batch.length === 0) return;
      try {
        await sink.accept(batch.map((row) => JSON.parse(row.message) as DeadMessage));
      } catch (error) {
        console.error(
          `Partition ${this.label}: dead-letter hand-off failed; kept in the outbox`,
          error,
        );
        const now = clock();
        const retries = batch.map((row) => ({
          seq: row.seq,
          at: now + Math.round(retryDelaySeconds(HANDOFF_RETRY, row.tries + 1) * 1000),
        }));
        this
          .sql`UPDATE dead_letter_outbox SET tries = tries + 1, next_attempt_at = retry.value ->> 'at'
          FROM json_each(${JSON.stringify(retries)}) AS retry
          WHERE dead_letter_outbox.seq = retry.value ->> 'seq'`;
        this.load();
        changed();
        return;
      }
      this.sql`DELETE FROM dead_letter_outbox
        WHERE seq IN (SELECT value FROM json_each(${JSON.stringify(batch.map((row) => row.seq))}))`;
      this.load();
      changed();
    }
  }

  #due(now: number): OutboxRow[] {
    const rows = this.sql<OutboxRow>`
      SELECT seq, message, tries FROM dead_letter_outbox WHERE next_attempt_at <= ${now}
      ORDER BY seq LIMIT ${MAX_BATCH}`;
    return takeWithin(rows, MAX_BATCH, HANDOFF_BUDGET, (row) => row.message.length).taken;
  }
}
