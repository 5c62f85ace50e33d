/**
 * The message log: what a partition holds and how it moves. It inserts sends (deduplicated
 * within the window), leases in the queue's order, settles leases (ack, nack, extend), applies
 * what falls due (lease ends, delays, retention, dedup windows) and reports when that is next.
 *
 * Contract: every method runs synchronously inside the caller's transaction, so no other call
 * sees half of one. A lease is honoured only while it lasts; anything else is refused per item.
 * A message whose attempts run out goes to the dead-letter outbox in the same transaction.
 * An answer carries at most RPC_ANSWER_BUDGET characters of messages (always at least one), and
 * only what it carries is leased.
 */
import { retryDelaySeconds } from "../../core/backoff.ts";
import type {
  ContentType,
  DeadMessage,
  Failure,
  ItemFailure,
  LeasedMessage,
  LeaseRef,
  NewMessage,
  PartitionStats,
  PeekedMessage,
  SendOutcome,
  SentMessage,
} from "../../core/contract.ts";
import { messageBytes } from "../../core/message-bytes.ts";
import type { QueueConfig } from "../../core/queue-config.ts";
import { encodeReceipt, newLeaseToken } from "../../core/receipt.ts";
import { insertRows, type Sql, takeWithin } from "../sql.ts";
import type { DeadLetterOutbox } from "./outbox.ts";

/**
 * The fifo group of messages sent without a key. A key equal to it shares that group, which
 * only costs parallelism, never order.
 */
const KEYLESS_GROUP = "";

/**
 * A full partition drains at the speed of its consumers, which it cannot predict; a few
 * seconds keeps refused producers from hammering it meanwhile.
 */
const BACKLOG_RETRY_AFTER_SECONDS = 5;

/**
 * Characters of bodies and headers one answer may carry. An RPC answer is limited to 32 MiB,
 * and a string travels as at most two bytes a character, so this leaves room for the rest.
 */
export const RPC_ANSWER_BUDGET = 15 * 1024 * 1024;

type MessageState = "ready" | "delayed" | "leased";

type MessageRow = {
  seq: number;
  id: string;
  body: string;
  content_type: string;
  headers: string;
  key: string | null;
  priority: number;
  sent_at: number;
  state: MessageState;
  visible_at: number;
  attempts: number;
  failures: string;
};

/** What settling a lease needs to know, without the body. */
type LeaseRow = {
  seq: number;
  attempts: number;
  failures: string;
  sent_at: number;
  leased_at: number;
  visible_at: number;
};

/** What a group-commit round's sends have held and stored so far. */
export type RoundTally = { held: number; sent: number };

/** An answer before the partition's stats are attached to it. */
export type Unstated<T> = T extends unknown ? Omit<T, "stats"> : never;

/** How each message of a send is answered, decided before anything is written. */
type SendSlot =
  | { kind: "new" }
  | { kind: "duplicate"; of: SentMessage }
  | { kind: "duplicateInBatch"; index: number };

/** The partition a log belongs to, from the object's name. */
export interface Identity {
  queue: string;
  partition: number;
}

/** The partition's queue and index from its name, `<queue>/<index>`. */
export function identityOf(name: string | undefined): Identity {
  const slash = name?.lastIndexOf("/") ?? -1;
  const partition = Number(name?.slice(slash + 1));
  if (!name || slash <= 0 || !Number.isInteger(partition) || partition < 0) {
    throw new Error(`a partition is named "<queue>/<index>", not ${JSON.stringify(name)}`);
  }
  return { queue: name.slice(0, slash), partition };
}

const LEASE_TOKEN = /^[0-9a-f]{32}$/;

/** The size that counts against RPC_ANSWER_BUDGET. */
function answerSize(row: { body: string; headers: string }): number {
  return row.body.length + row.headers.length;
}

export class MessageLog {
  /** Set when a change may have made a message receivable: parked receives look again. */
  receivableChanged = false;
  /** Set when a message moved to the outbox: the hand-off starts without waiting for the alarm. */
  deadLettered = false;

  constructor(
    private readonly sql: Sql,
    private readonly identity: Identity,
    private readonly outbox: DeadLetterOutbox,
  ) {}

  // ── sending ────────────────────────────────────────────────────────────────────────────

  /** A round's starting tally: what the partition holds before the round. */
  startRound(): RoundTally {
    return { held: this.#held(), sent: 0 };
  }

  /** Records what a round stored, once per round. */
  endRound(tally: RoundTally): void {
    this.#count("sent", tally.sent);
  }

  /**
   * Writes one send of a round, or refuses it whole. `tally` carries what the round's earlier
   * sends held and stored, so each send is judged against the backlog they left.
   */
  writeSend(
    messages: NewMessage[],
    now: number,
    config: QueueConfig,
    tally: RoundTally,
  ): Unstated<SendOutcome> {
    const slots = this.#dedupSlots(messages, now, config);
    const added = slots.filter((slot) => slot.kind === "new").length;
    if (added > 0 && tally.held + added > config.backlog.hard) {
      return { ok: false, code: "backlog_full", retryAfterSeconds: BACKLOG_RETRY_AFTER_SECONDS };
    }
    const stored = this.#insert(
      messages.filter((_, index) => slots[index].kind === "new"),
      now,
      config,
    ).values();
    const sent: SentMessage[] = [];
    slots.forEach((slot) => {
      if (slot.kind === "new") sent.push(stored.next().value as SentMessage);
      else if (slot.kind === "duplicate") sent.push(slot.of);
      else sent.push({ ...sent[slot.index], duplicate: true });
    });
    tally.held += added;
    tally.sent += added;
    return { ok: true, messages: sent, backpressure: tally.held > config.backlog.soft };
  }

  /** Which messages repeat a dedupId seen in the window, in storage or earlier in the batch. */
  #dedupSlots(messages: NewMessage[], now: number, config: QueueConfig): SendSlot[] {
    const firstInBatch = new Map<string, number>();
    return messages.map((message, index): SendSlot => {
      const dedupId = config.dedupWindow > 0 ? message.dedupId : undefined;
      if (dedupId === undefined) return { kind: "new" };
      const earlier = firstInBatch.get(dedupId);
      if (earlier !== undefined) return { kind: "duplicateInBatch", index: earlier };
      const seen = this.sql<{ message_id: string; seq: number }>`
        SELECT message_id, seq FROM dedup
        WHERE dedup_id = ${dedupId} AND expires_at > ${now}`.toArray()[0];
      if (seen) {
        return { kind: "duplicate", of: { id: seen.message_id, seq: seen.seq, duplicate: true } };
      }
      firstInBatch.set(dedupId, index);
      return { kind: "new" };
    });
  }

  /**
   * Stores new messages in send order, several rows per INSERT: a statement inside a
   * transaction journals every page it touches, so one statement per message wrote most
   * pages many times over. A group's first message here is its head when the partition
   * holds none of that group yet.
   */
  #insert(messages: NewMessage[], now: number, config: QueueConfig): SentMessage[] {
    const groups = new Set<string>();
    const rows = messages.map((message) => {
      const group = message.key ?? KEYLESS_GROUP;
      const head = !groups.has(group) && this.#groupIsEmpty(group);
      groups.add(group);
      const visibleAt = now + (message.delaySeconds ?? 0) * 1000;
      const state: MessageState = visibleAt > now ? "delayed" : "ready";
      if (state === "ready") this.receivableChanged = true;
      return [
        crypto.randomUUID(),
        message.body,
        message.contentType,
        JSON.stringify(message.headers),
        message.key ?? null,
        group,
        head ? 1 : 0,
        message.priority ?? 0,
        messageBytes(message),
        now,
        state,
        visibleAt,
      ];
    });
    const seqs = new Map(
      insertRows<{ id: string; seq: number }>(
        this.sql,
        `INSERT INTO messages (id, body, content_type, headers, key, grp, group_head, priority,
          bytes, sent_at, state, visible_at)`,
        rows,
        "RETURNING id, seq",
      ).map((row) => [row.id, row.seq]),
    );
    return messages.map((message, index) => {
      const id = rows[index][0] as string;
      const seq = seqs.get(id) as number;
      if (message.dedupId !== undefined && config.dedupWindow > 0) {
        this.sql`INSERT OR REPLACE INTO dedup (dedup_id, message_id, seq, expires_at)
          VALUES (${message.dedupId}, ${id}, ${seq}, ${now + config.dedupWindow * 1000})`;
      }
      return { id, seq, duplicate: false };
    });
  }

  #groupIsEmpty(group: string): boolean {
    return this.sql`SELECT 1 FROM messages WHERE grp = ${group} LIMIT 1`.toArray().length === 0;
  }

  // ── leasing ────────────────────────────────────────────────────────────────────────────

  /** Leases up to `max` visible messages in the queue's order, within the answer budget. */
  lease(max: number, visibilityTimeout: number, now: number, config: QueueConfig): LeasedMessage[] {
    const { ordering } = config;
    if (ordering === "fifo") return this.#leaseFifo(max, visibilityTimeout, now);
    const rows =
      ordering === "priority"
        ? this.sql<MessageRow>`SELECT * FROM messages WHERE state = 'ready'
            ORDER BY priority DESC, seq LIMIT ${max}`
        : this.sql<MessageRow>`SELECT * FROM messages WHERE state = 'ready'
            ORDER BY seq LIMIT ${max}`;
    const { taken } = takeWithin(rows, max, RPC_ANSWER_BUDGET, answerSize);
    return this.#leaseRows(taken, visibilityTimeout, now);
  }

  /** Whether a lease would find a message now. */
  receivable(config: QueueConfig): boolean {
    if (config.ordering === "fifo") return this.#unlockedHead() !== undefined;
    return this.sql`SELECT 1 FROM messages WHERE state = 'ready' LIMIT 1`.toArray().length > 0;
  }

  /**
   * Oldest unlocked group first; from each group its run of ready messages in order (as SQS
   * does), after which the group stays locked until all those leases are settled or end.
   * A ready head in a locked group (its head was given back while later messages of its run
   * are still leased) is passed over, which the leased-groups index makes one probe.
   */
  #leaseFifo(max: number, visibilityTimeout: number, now: number): LeasedMessage[] {
    const leased: LeasedMessage[] = [];
    let budget = RPC_ANSWER_BUDGET;
    while (leased.length < max) {
      const head = this.#unlockedHead();
      if (!head) break;
      const run = this.sql<MessageRow>`
        SELECT * FROM messages WHERE grp = ${head.grp} AND seq >= ${head.seq}
        ORDER BY seq LIMIT ${max - leased.length}`;
      const ready: MessageRow[] = [];
      for (const row of run) {
        if (row.state !== "ready") break;
        const size = answerSize(row);
        if (size > budget && (leased.length > 0 || ready.length > 0)) break;
        budget -= size;
        ready.push(row);
      }
      if (ready.length === 0) break;
      leased.push(...this.#leaseRows(ready, visibilityTimeout, now));
      if (budget <= 0) break;
    }
    return leased;
  }

  /** The oldest ready head of a group with nothing leased: the next fifo lease starts there. */
  #unlockedHead(): { grp: string; seq: number } | undefined {
    return this.sql<{ grp: string; seq: number }>`
      SELECT grp, seq FROM messages AS head
      WHERE state = 'ready' AND group_head = 1
        AND NOT EXISTS (SELECT 1 FROM messages WHERE grp = head.grp AND state = 'leased')
      ORDER BY seq LIMIT 1`.toArray()[0];
  }

  /** Leases `rows`, each with its own token, in one statement (see #insert on why). */
  #leaseRows(rows: MessageRow[], visibilityTimeout: number, now: number): LeasedMessage[] {
    if (rows.length === 0) return [];
    const leaseExpiresAt = now + visibilityTimeout * 1000;
    const tokens = rows.map(() => newLeaseToken());
    const leases = rows.map((row, index) => ({ seq: row.seq, token: tokens[index] }));
    this.sql`UPDATE messages SET state = 'leased', lease_token = lease.value ->> 'token',
      leased_at = ${now}, visible_at = ${leaseExpiresAt}, attempts = attempts + 1
      FROM json_each(${JSON.stringify(leases)}) AS lease
      WHERE messages.seq = lease.value ->> 'seq'`;
    return rows.map((row, index) => {
      const message = this.#describe({ ...row, attempts: row.attempts + 1 });
      const receipt = encodeReceipt({
        partition: this.identity.partition,
        seq: row.seq,
        token: tokens[index],
      });
      return { ...message, receipt, leaseExpiresAt };
    });
  }

  #describe(row: MessageRow): Omit<LeasedMessage, "receipt" | "leaseExpiresAt"> {
    return {
      id: row.id,
      body: row.body,
      contentType: row.content_type as ContentType,
      headers: JSON.parse(row.headers),
      key: row.key,
      priority: row.priority,
      attempts: row.attempts,
      sentAt: row.sent_at,
      partition: this.identity.partition,
      seq: row.seq,
    };
  }

  // ── settling ───────────────────────────────────────────────────────────────────────────

  /**
   * Resolves each lease reference to the lease it names and applies `settle` to it, or
   * answers why not: a reference that is not one is invalid; one whose lease is over
   * (expired, re-leased, acked, dead-lettered) is stale.
   */
  #settle(leases: LeaseRef[], settle: (lease: LeaseRow) => void): ItemFailure[] {
    const failed: ItemFailure[] = [];
    leases.forEach((ref, index) => {
      if (!isLeaseRef(ref)) {
        failed.push({ index, code: "receipt_invalid" });
        return;
      }
      const lease = this.sql<LeaseRow>`
        SELECT seq, attempts, failures, sent_at, leased_at, visible_at FROM messages
        WHERE seq = ${ref.seq} AND state = 'leased' AND lease_token = ${ref.token}`.toArray()[0];
      if (lease) settle(lease);
      else failed.push({ index, code: "receipt_stale" });
    });
    return failed;
  }

  /**
   * Deletes leased messages, all of them in one statement (see #insert on why fewer
   * statements). Answers per lease as #settle does; a lease repeated in one call is stale
   * after its first use.
   */
  ack(leases: LeaseRef[]): { acked: number; failed: ItemFailure[] } {
    const failed: ItemFailure[] = [];
    const named = leases.map((ref, index) => {
      if (isLeaseRef(ref)) return `${ref.seq}.${ref.token}`;
      failed.push({ index, code: "receipt_invalid" });
      return null;
    });
    const valid = named.filter((lease) => lease !== null);
    const seqs = valid.map((lease) => Number(lease.split(".")[0]));
    const deleted = new Set(
      this.sql<{ lease: string }>`DELETE FROM messages
        WHERE seq IN (SELECT value FROM json_each(${JSON.stringify(seqs)}))
          AND state = 'leased'
          AND seq || '.' || lease_token IN (SELECT value FROM json_each(${JSON.stringify(valid)}))
        RETURNING seq || '.' || lease_token AS lease`
        .toArray()
        .map((row) => row.lease),
    );
    let acked = 0;
    named.forEach((lease, index) => {
      if (lease === null) return;
      if (deleted.delete(lease)) acked++;
      else failed.push({ index, code: "receipt_stale" });
    });
    failed.sort((a, b) => a.index - b.index);
    this.#count("acked", acked);
    // An acked group head lets the group's next message go.
    if (acked > 0) this.receivableChanged = true;
    return { acked, failed };
  }

  /** Records a failed attempt, for `cause`, on each lease (see #fail). */
  nack(
    leases: LeaseRef[],
    cause: Pick<Failure, "reason" | "by">,
    now: number,
    config: QueueConfig,
    delaySeconds?: number,
  ): { retried: number; deadLettered: number; failed: ItemFailure[] } {
    let retried = 0;
    let deadLettered = 0;
    const failed = this.#settle(leases, (lease) => {
      const failure: Failure = { at: now, attempt: lease.attempts, ...cause };
      const fate = this.#fail(lease, failure, now, config, delaySeconds);
      if (fate === "retried") retried++;
      else deadLettered++;
    });
    this.#count("nacked", retried + deadLettered);
    return { retried, deadLettered, failed };
  }

  /** Moves the end of leases to `visibilityTimeout` seconds from now. */
  extend(
    leases: LeaseRef[],
    visibilityTimeout: number,
    now: number,
  ): { extended: number; failed: ItemFailure[] } {
    let extended = 0;
    const failed = this.#settle(leases, (lease) => {
      this.sql`UPDATE messages SET visible_at = ${now + visibilityTimeout * 1000}
        WHERE seq = ${lease.seq}`;
      extended++;
    });
    return { extended, failed };
  }

  /**
   * Records a failed attempt. The message dies when its attempts have reached maxAttempts;
   * otherwise it is visible again after `delaySeconds`, or after the retry backoff, counted
   * from the failure (not from when it was noticed, so a late alarm changes nothing).
   */
  #fail(
    lease: LeaseRow,
    failure: Failure,
    now: number,
    config: QueueConfig,
    delaySeconds?: number,
  ): "retried" | "deadLettered" {
    const failures: Failure[] = [...JSON.parse(lease.failures), failure];
    if (lease.attempts >= config.maxAttempts) {
      this.#deadLetter(lease.seq, failures, failure.at);
      return "deadLettered";
    }
    const delay = delaySeconds ?? retryDelaySeconds(config.retry, lease.attempts);
    const visibleAt = failure.at + Math.round(delay * 1000);
    const state: MessageState = visibleAt > now ? "delayed" : "ready";
    this.sql`UPDATE messages SET state = ${state}, visible_at = ${visibleAt}, lease_token = NULL,
      leased_at = NULL, failures = ${JSON.stringify(failures)}
      WHERE seq = ${lease.seq}`;
    // Even a delayed retry may unlock its fifo group for an earlier message.
    this.receivableChanged = true;
    return "retried";
  }

  /** Moves a message into the outbox, in the caller's transaction. */
  #deadLetter(seq: number, failures: Failure[], diedAt: number): void {
    const row = this.sql<MessageRow>`SELECT * FROM messages WHERE seq = ${seq}`.one();
    const dead: DeadMessage = {
      ...this.#describe(row),
      queue: this.identity.queue,
      failures,
      diedAt,
    };
    this.outbox.add(dead);
    this.sql`DELETE FROM messages WHERE seq = ${seq}`;
    this.#count("dead_lettered", 1);
    this.receivableChanged = true;
    this.deadLettered = true;
  }

  // ── looking and dropping ───────────────────────────────────────────────────────────────

  /** Messages in send order after seq `after`, without leasing them, within the budget. */
  peek(limit: number, after: number): PeekedMessage[] {
    const rows = this.sql<MessageRow>`SELECT * FROM messages WHERE seq > ${after}
      ORDER BY seq LIMIT ${limit}`;
    return takeWithin(rows, limit, RPC_ANSWER_BUDGET, answerSize).taken.map((row) => ({
      ...this.#describe(row),
      state: row.state,
      visibleAt: row.visible_at,
    }));
  }

  /** Drops every message, leased ones too; seqs keep counting. Answers how many. */
  purge(): number {
    const purged = this.sql`DELETE FROM messages RETURNING seq`.toArray().length;
    if (purged > 0) this.receivableChanged = true;
    return purged;
  }

  // ── time ───────────────────────────────────────────────────────────────────────────────

  /**
   * Applies everything due at `now`, in the order it fell due: leases that ended before
   * their message's retention are failed attempts; delays that passed make messages ready;
   * messages past retention are dropped; old dedup ids are forgotten.
   */
  sweep(now: number, config: QueueConfig): void {
    const retention = config.retention * 1000;
    const ended = this.sql<LeaseRow>`
      SELECT seq, attempts, failures, sent_at, leased_at, visible_at FROM messages
      WHERE state = 'leased' AND visible_at <= ${now}
      ORDER BY visible_at`.toArray();
    for (const lease of ended) {
      if (lease.visible_at >= lease.sent_at + retention) continue;
      const seconds = (lease.visible_at - lease.leased_at) / 1000;
      this.#fail(
        lease,
        {
          at: lease.visible_at,
          attempt: lease.attempts,
          reason: `lease expired after ${seconds} s`,
          by: "expiry",
        },
        now,
        config,
      );
    }
    const promoted = this.sql`UPDATE messages SET state = 'ready'
      WHERE state = 'delayed' AND visible_at <= ${now} RETURNING seq`.toArray().length;
    if (promoted > 0) this.receivableChanged = true;
    const dropped = this.sql`DELETE FROM messages WHERE sent_at <= ${now - retention}
      RETURNING seq`.toArray().length;
    if (dropped > 0) {
      this.#count("expired", dropped);
      this.receivableChanged = true;
    }
    this.sql`DELETE FROM dedup WHERE expires_at <= ${now}`;
  }

  /** When something in the log next falls due (a lease end, a delay, a retention), or null. */
  nextAlarm(config: QueueConfig): number | null {
    const retention = config.retention * 1000;
    return this.sql<{ due: number | null }>`
      SELECT min(due) AS due FROM (
        SELECT min(visible_at) AS due FROM messages WHERE state = 'leased'
        UNION ALL SELECT min(visible_at) FROM messages WHERE state = 'delayed'
        UNION ALL SELECT min(sent_at) + ${retention} FROM messages
      )`.one().due;
  }

  // ── counters ───────────────────────────────────────────────────────────────────────────

  #count(name: "sent" | "acked" | "nacked" | "expired" | "dead_lettered", by: number): void {
    if (by > 0) this.sql`UPDATE counters SET value = value + ${by} WHERE name = ${name}`;
  }

  readyCount(): number {
    return this.sql<{ value: number }>`SELECT value FROM counters WHERE name = 'ready'`.one().value;
  }

  /** Messages held: ready, delayed and leased. */
  #held(): number {
    return this.sql<{ held: number }>`
      SELECT sum(value) AS held FROM counters WHERE name IN ('ready', 'delayed', 'leased')`.one()
      .held;
  }

  /** The log's part of the partition's stats. */
  stats(): Omit<PartitionStats, "pendingDeadLetters" | "usage"> {
    const counters = new Map(
      this.sql<{ name: string; value: number }>`SELECT name, value FROM counters`
        .toArray()
        .map((row) => [row.name, row.value]),
    );
    const { oldest } = this.sql<{ oldest: number | null }>`
      SELECT min(sent_at) AS oldest FROM messages`.one();
    const counter = (name: string) => counters.get(name) ?? 0;
    return {
      partition: this.identity.partition,
      ready: counter("ready"),
      leased: counter("leased"),
      delayed: counter("delayed"),
      backlogBytes: counter("backlog_bytes"),
      oldestSentAt: oldest,
      deadLettered: counter("dead_lettered"),
      sent: counter("sent"),
      acked: counter("acked"),
      nacked: counter("nacked"),
      expired: counter("expired"),
    };
  }
}

/** Whether `ref` is a lease reference this service could have issued. */
function isLeaseRef(ref: LeaseRef): boolean {
  return (
    typeof ref === "object" &&
    ref !== null &&
    Number.isSafeInteger(ref.seq) &&
    ref.seq > 0 &&
    typeof ref.token === "string" &&
    LEASE_TOKEN.test(ref.token)
  );
}
