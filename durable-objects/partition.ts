/**
 * One partition of a queue: an ordered log of messages in the object's own SQLite database,
 * leased to consumers, retried with backoff, and handed to the queue's dead-letter object when
 * their attempts run out.
 *
 * What a caller may rely on:
 * - A send that answers `ok: true` is committed (the answer waits for `storage.sync()`); a
 *   refused send stored nothing. A batch is stored whole or not at all.
 * - Every operation does all its reads and writes synchronously, in one transaction, so no
 *   other call ever sees half of it. Time-driven changes (lease expiry, a delay passing,
 *   retention) are applied at the start of every operation as well as by the alarm, so a late
 *   alarm changes nothing a caller can observe.
 * - A receipt is honoured only while its lease lasts; anything else is refused per item.
 * - A dying message moves to an outbox in the same transaction and leaves it only once the
 *   dead-letter object has confirmed it: an outage there delays the hand-off, never loses it.
 *
 * The alarm is the one place that runs without a caller: it applies due changes, hands off the
 * outbox, pushes to the queue's endpoint when it has one (push.ts), and re-arms itself at the
 * earliest due time. Push leases and settles through the same steps as pull consumers, so
 * fifo order, backoff and dead-lettering hold for it unchanged.
 */
import { DurableObject } from "cloudflare:workers";
import { retryDelaySeconds } from "../core/backoff.ts";
import {
  type AckOutcome,
  type ContentType,
  type DeadMessage,
  type ExtendOutcome,
  type Failure,
  type ItemFailure,
  type LeasedMessage,
  MAX_BATCH,
  type NackOutcome,
  type NewMessage,
  type PartitionContext,
  type PartitionStats,
  type PeekedMessage,
  type ReceiveOptions,
  type SendOutcome,
  type SentMessage,
} from "../core/contract.ts";
import { messageBytes } from "../core/message-bytes.ts";
import type { QueueConfig, RetryPolicy } from "../core/queue-config.ts";
import { decodeReceipt, encodeReceipt, newLeaseToken, type Receipt } from "../core/receipt.ts";
import { deliver, pushLeaseSeconds, signingKey } from "./push.ts";
import { insertRows, type Migration, migrate, type Sql, sqlOf, takeWithin } from "./sql.ts";

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

/** Backoff between attempts to hand the outbox to an unreachable dead-letter object. */
const HANDOFF_RETRY: RetryPolicy = { initialDelay: 1, maxDelay: 300, multiplier: 2, jitter: true };

/**
 * One hand-off call carries at most this many characters of dead messages (always at least
 * one message), so a batch of 1 MiB bodies stays well inside what one RPC may carry.
 */
const HANDOFF_BUDGET = 8 * 1024 * 1024;

/**
 * A push round ends after this long: its lanes lease no new batch, and the next alarm (due at
 * once while messages wait) carries on. Keeps one alarm well inside the runtime's limit.
 */
const PUSH_ROUND_MS = 60_000;

const MIGRATIONS: readonly Migration[] = [
  // v1: the message log, dedup ids, the dead-letter outbox, counters and the newest context.
  (sql) => {
    // `state` is ready | delayed | leased. `visible_at` is when a delayed message becomes
    // ready, or when a lease ends: the one due time of a message. `grp` is the fifo group
    // and `group_head` marks its oldest message. Group locks are not stored apart: a group
    // is locked while any of its messages is leased or its head is delayed, read straight
    // from the messages, so a lock can never disagree with them.
    sql`CREATE TABLE messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      body TEXT NOT NULL,
      content_type TEXT NOT NULL,
      headers TEXT NOT NULL,
      key TEXT,
      grp TEXT NOT NULL,
      group_head INTEGER NOT NULL,
      priority INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      sent_at INTEGER NOT NULL,
      state TEXT NOT NULL,
      visible_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      lease_token TEXT,
      leased_at INTEGER,
      failures TEXT NOT NULL DEFAULT '[]'
    )`;
    // "Next visible message" is one seek in each ordering mode.
    sql`CREATE INDEX messages_ready ON messages (seq) WHERE state = 'ready'`;
    sql`CREATE INDEX messages_ready_heads ON messages (seq) WHERE state = 'ready' AND group_head = 1`;
    sql`CREATE INDEX messages_ready_by_priority ON messages (priority DESC, seq) WHERE state = 'ready'`;
    // The locked groups: those with a leased message.
    sql`CREATE INDEX messages_leased_groups ON messages (grp) WHERE state = 'leased'`;
    // Due times, for the sweep and the alarm.
    sql`CREATE INDEX messages_leases ON messages (visible_at) WHERE state = 'leased'`;
    sql`CREATE INDEX messages_delays ON messages (visible_at) WHERE state = 'delayed'`;
    sql`CREATE INDEX messages_age ON messages (sent_at)`;
    // A group's messages in order, to take a run of them and to find the next head.
    sql`CREATE INDEX messages_group ON messages (grp, seq)`;

    sql`CREATE TABLE dedup (
      dedup_id TEXT PRIMARY KEY,
      message_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX dedup_expiry ON dedup (expires_at)`;

    sql`CREATE TABLE dead_letter_outbox (
      seq INTEGER PRIMARY KEY,
      message TEXT NOT NULL,
      tries INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX dead_letter_outbox_due ON dead_letter_outbox (next_attempt_at)`;

    // Per-state counts and backlog bytes are kept by triggers, so stats are a few row reads
    // and cannot drift from the messages; the cumulative ones are kept by the operations.
    sql`CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`;
    sql`INSERT INTO counters (name, value) VALUES ('ready', 0), ('delayed', 0), ('leased', 0),
      ('backlog_bytes', 0), ('sent', 0), ('acked', 0), ('nacked', 0), ('expired', 0),
      ('dead_lettered', 0)`;
    sql`CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
      UPDATE counters SET value = value + 1 WHERE name = NEW.state;
      UPDATE counters SET value = value + NEW.bytes WHERE name = 'backlog_bytes';
    END`;
    sql`CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
      UPDATE counters SET value = value - 1 WHERE name = OLD.state;
      UPDATE counters SET value = value - OLD.bytes WHERE name = 'backlog_bytes';
    END`;
    sql`CREATE TRIGGER messages_count_state AFTER UPDATE OF state ON messages
      WHEN OLD.state <> NEW.state BEGIN
      UPDATE counters SET value = value - 1 WHERE name = OLD.state;
      UPDATE counters SET value = value + 1 WHERE name = NEW.state;
    END`;
    // When a group's head leaves, the group's next message becomes its head.
    sql`CREATE TRIGGER messages_next_head AFTER DELETE ON messages WHEN OLD.group_head = 1 BEGIN
      UPDATE messages SET group_head = 1
      WHERE seq = (SELECT min(seq) FROM messages WHERE grp = OLD.grp);
    END`;

    sql`CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`;
  },
];

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

/** A dead message waiting for the dead-letter object; `message` is the DeadMessage as JSON. */
type OutboxRow = { seq: number; message: string; tries: number };

/** What a group-commit round's sends have held and stored so far. */
type RoundTally = { held: number; sent: number };

/** An answer before the partition's stats are attached to it. */
type Unstated<T> = T extends unknown ? Omit<T, "stats"> : never;

type PendingSend = {
  context: PartitionContext;
  messages: NewMessage[];
  resolve: (outcome: SendOutcome) => void;
  reject: (error: unknown) => void;
};

/** How each message of a send is answered, decided before anything is written. */
type SendSlot =
  | { kind: "new" }
  | { kind: "duplicate"; of: SentMessage }
  | { kind: "duplicateInBatch"; index: number };

export class Partition extends DurableObject<Env> {
  /** The time source, epoch ms. Tests move time through runInDurableObject. */
  clock: () => number = () => Date.now();

  /** How push requests leave (push.ts). Tests put an endpoint of their own here. */
  fetcher: typeof fetch = (input, init) => fetch(input, init);

  /**
   * Gather concurrent sends into one transaction and one storage sync. A subclass turns it
   * off to commit every send on its own (the benchmark's baseline).
   */
  protected readonly groupCommit: boolean = true;

  #sql: Sql;
  /** The newest context any call brought; the alarm runs under it. */
  #context: PartitionContext | null;
  #pendingSends: PendingSend[] = [];
  #committing = false;
  #sendTransactions = 0;
  /** Parked long polls: calling one wakes it to look again. */
  #waiters = new Set<() => void>();
  /** Set when a change may have made a message receivable: parked receives look again. */
  #receivableChanged = false;
  /** Set when a message moved to the outbox: the hand-off starts without waiting for the alarm. */
  #deadLettersWaiting = false;
  #handOff: Promise<void> | null = null;
  /** The alarm time this instance last set; undefined when unknown (after a start or an alarm). */
  #alarmAt: number | null | undefined = undefined;
  /** Push lanes at work; each has at most one batch out at a time. */
  #pushLanes = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = sqlOf(ctx.storage);
    migrate(ctx.storage, MIGRATIONS);
    this.#context = this.#storedContext();
  }

  /** Storage transactions written for sends by this instance; shows group commit at work. */
  get sendTransactions(): number {
    return this.#sendTransactions;
  }

  /**
   * Stores a batch of up to MAX_BATCH messages, all or none. Concurrent sends are committed
   * together (group commit); each is still checked on its own, so one refused send does not
   * affect the others.
   */
  async send(context: PartitionContext, messages: NewMessage[]): Promise<SendOutcome> {
    if (messages.length > MAX_BATCH) {
      throw new RangeError(`a send holds at most ${MAX_BATCH} messages, got ${messages.length}`);
    }
    const outcome = new Promise<SendOutcome>((resolve, reject) => {
      this.#pendingSends.push({ context, messages, resolve, reject });
    });
    if (!this.#committing) void this.#commitPendingSends();
    return outcome;
  }

  /**
   * Leases up to `max` visible messages in the queue's order. With `waitMs > 0` and nothing
   * visible, waits for a send, a delay falling due or the timeout, whichever comes first.
   */
  async receive(
    context: PartitionContext,
    options: ReceiveOptions,
  ): Promise<{ messages: LeasedMessage[]; stats: PartitionStats }> {
    const max = clampCount(options.max);
    const waitMs = Number.isFinite(options.waitMs) ? Math.max(0, options.waitMs) : 0;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const answer = this.#operation(context, (now, config) => ({
        messages: this.#lease(
          max,
          options.visibilityTimeout ?? config.visibilityTimeout,
          now,
          config,
        ),
        stats: this.#stats(),
      }));
      const remaining = deadline - Date.now();
      if (answer.messages.length > 0) {
        // Woken parked receives take turns: one that leased wakes the next while messages remain.
        if (answer.stats.ready > 0) this.#wakeOneWaiter();
        return answer;
      }
      if (remaining <= 0) return answer;
      await this.#park(remaining);
    }
  }

  /** Deletes leased messages. */
  async ack(context: PartitionContext, receipts: string[]): Promise<AckOutcome> {
    return this.#operation(context, () => ({ ...this.#ack(receipts), stats: this.#stats() }));
  }

  /**
   * Gives leased messages back as failed attempts: visible again after `delaySeconds`, or
   * after the retry backoff; dead-lettered when their attempts have reached maxAttempts.
   */
  async nack(
    context: PartitionContext,
    receipts: string[],
    options: { delaySeconds?: number; reason?: string },
  ): Promise<NackOutcome> {
    return this.#operation(context, (now, config) => ({
      ...this.#nack(
        receipts,
        { reason: options.reason ?? "nacked", by: "nack" },
        now,
        config,
        options.delaySeconds,
      ),
      stats: this.#stats(),
    }));
  }

  /** Moves the end of leases to `visibilityTimeout` seconds from now. */
  async extend(
    context: PartitionContext,
    receipts: string[],
    visibilityTimeout: number,
  ): Promise<ExtendOutcome> {
    return this.#operation(context, (now) => {
      let extended = 0;
      const failed = this.#settle(receipts, (lease) => {
        this.#sql`UPDATE messages SET visible_at = ${now + visibilityTimeout * 1000}
          WHERE seq = ${lease.seq}`;
        extended++;
      });
      return { extended, failed, stats: this.#stats() };
    });
  }

  /** Messages in send order after seq `after`, without leasing them. */
  async peek(
    context: PartitionContext,
    options: { limit: number; after?: number },
  ): Promise<{ messages: PeekedMessage[]; stats: PartitionStats }> {
    return this.#operation(context, () => {
      const rows = this.#sql<MessageRow>`
        SELECT * FROM messages WHERE seq > ${options.after ?? 0}
        ORDER BY seq LIMIT ${clampCount(options.limit)}`.toArray();
      const messages = rows.map(
        (row): PeekedMessage => ({
          ...this.#describe(row),
          state: row.state,
          visibleAt: row.visible_at,
        }),
      );
      return { messages, stats: this.#stats() };
    });
  }

  /**
   * Drops every message the partition holds, leased ones included. Dead letters waiting in
   * the outbox are not queue messages any more and are still handed off.
   */
  async purge(context: PartitionContext): Promise<{ purged: number; stats: PartitionStats }> {
    return this.#operation(context, () => {
      const purged = this.#sql`DELETE FROM messages RETURNING seq`.toArray().length;
      return { purged, stats: this.#stats() };
    });
  }

  async stats(context: PartitionContext): Promise<PartitionStats> {
    return this.#operation(context, () => this.#stats());
  }

  /** The queue was deleted: drop every row and the alarm. */
  async destroy(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.#context = null;
    this.#alarmAt = null;
    // The instance may live on and be called for a queue of the same name.
    migrate(this.ctx.storage, MIGRATIONS);
  }

  /**
   * Applies what has fallen due, hands the outbox to the dead-letter object, pushes to the
   * queue's endpoint, and sets the alarm to the next due time. Idempotent: a repeated or late
   * alarm finds nothing to do.
   */
  override async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    if (this.#context) this.#operation(this.#context, () => undefined);
    await Promise.all([this.#handOffDeadLetters(), this.#push()]);
    this.#scheduleAlarm();
  }

  // ── operations ─────────────────────────────────────────────────────────────────────────

  /** Keeps the newest context, in memory and in storage for the alarm. */
  #adopt(context: PartitionContext): void {
    if (this.#context && this.#context.configVersion >= context.configVersion) return;
    this.#context = context;
    this.#sql`INSERT INTO meta (name, value) VALUES ('context', ${JSON.stringify(context)})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }

  #storedContext(): PartitionContext | null {
    const row = this.#sql<{ value: string }>`
      SELECT value FROM meta WHERE name = 'context'`.toArray()[0];
    return row ? JSON.parse(row.value) : null;
  }

  /**
   * Runs one operation under the newest context: a transaction that first applies whatever
   * has fallen due, then the operation's own reads and writes. Afterwards the alarm, parked
   * receives and the outbox hear about what changed.
   */
  #operation<T>(context: PartitionContext, work: (now: number, config: QueueConfig) => T): T {
    this.#adopt(context);
    const { config } = this.#requireContext();
    const now = this.clock();
    const result = this.ctx.storage.transactionSync(() => {
      this.#sweep(now, config);
      return work(now, config);
    });
    this.#afterChange();
    return result;
  }

  #afterChange(): void {
    this.#scheduleAlarm();
    if (this.#deadLettersWaiting) {
      this.#deadLettersWaiting = false;
      this.ctx.waitUntil(this.#handOffDeadLetters());
    }
    if (this.#receivableChanged) {
      this.#receivableChanged = false;
      // Most acks and retries leave nothing ready; waking a receive then would only cost it
      // an operation that finds nothing.
      if (this.#waiters.size > 0 && this.#readyCount() > 0) this.#wakeOneWaiter();
    }
  }

  /**
   * The group-commit loop: while sends keep arriving during a storage sync, each round
   * writes all that waited in one transaction and answers them after one sync. An idle
   * partition writes a lone send at once.
   */
  async #commitPendingSends(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pendingSends.length > 0) {
        const round = this.groupCommit
          ? this.#pendingSends.splice(0)
          : this.#pendingSends.splice(0, 1);
        let results: ({ outcome: SendOutcome } | { error: unknown })[];
        try {
          // Each send brought a context: the newest of them is the one that counts.
          for (const send of round) this.#adopt(send.context);
          results = this.#operation(round[0].context, (now, config) => {
            const tally: RoundTally = { held: this.#held(), sent: 0 };
            const written = round.map((send) => {
              try {
                // A nested transaction: a send that throws takes back only its own writes.
                return {
                  outcome: this.ctx.storage.transactionSync(() =>
                    this.#writeSend(send.messages, now, config, tally),
                  ),
                };
              } catch (error) {
                return { error };
              }
            });
            this.#count("sent", tally.sent);
            // Every send of a round is answered at the same moment, so one snapshot serves all.
            const stats = this.#stats();
            return written.map((result) =>
              "outcome" in result
                ? { outcome: { ...result.outcome, stats } as SendOutcome }
                : result,
            );
          });
          this.#sendTransactions++;
          await this.ctx.storage.sync();
        } catch (error) {
          for (const send of round) send.reject(error);
          continue;
        }
        round.forEach((send, i) => {
          const result = results[i];
          if ("outcome" in result) send.resolve(result.outcome);
          else send.reject(result.error);
        });
      }
    } finally {
      this.#committing = false;
    }
  }

  /**
   * Writes one send of a round, or refuses it whole. `tally` carries what the round's earlier
   * sends held and stored, so each send is judged against the backlog they left.
   */
  #writeSend(
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
      const seen = this.#sql<{ message_id: string; seq: number }>`
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
      if (state === "ready") this.#receivableChanged = true;
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
        this.ctx.storage,
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
        this.#sql`INSERT OR REPLACE INTO dedup (dedup_id, message_id, seq, expires_at)
          VALUES (${message.dedupId}, ${id}, ${seq}, ${now + config.dedupWindow * 1000})`;
      }
      return { id, seq, duplicate: false };
    });
  }

  #groupIsEmpty(group: string): boolean {
    return this.#sql`SELECT 1 FROM messages WHERE grp = ${group} LIMIT 1`.toArray().length === 0;
  }

  #lease(
    max: number,
    visibilityTimeout: number,
    now: number,
    config: QueueConfig,
  ): LeasedMessage[] {
    const { ordering } = config;
    if (ordering === "fifo") return this.#leaseFifo(max, visibilityTimeout, now);
    const rows =
      ordering === "priority"
        ? this.#sql<MessageRow>`SELECT * FROM messages WHERE state = 'ready'
            ORDER BY priority DESC, seq LIMIT ${max}`
        : this.#sql<MessageRow>`SELECT * FROM messages WHERE state = 'ready'
            ORDER BY seq LIMIT ${max}`;
    return this.#leaseRows(rows.toArray(), visibilityTimeout, now);
  }

  /**
   * Oldest unlocked group first; from each group its run of ready messages in order (as SQS
   * does), after which the group stays locked until all those leases are settled or end.
   * A ready head in a locked group (its head was given back while later messages of its run
   * are still leased) is passed over, which the leased-groups index makes one probe.
   */
  #leaseFifo(max: number, visibilityTimeout: number, now: number): LeasedMessage[] {
    const leased: LeasedMessage[] = [];
    while (leased.length < max) {
      const head = this.#unlockedHead();
      if (!head) break;
      const run = this.#sql<MessageRow>`
        SELECT * FROM messages WHERE grp = ${head.grp} AND seq >= ${head.seq}
        ORDER BY seq LIMIT ${max - leased.length}`;
      const ready: MessageRow[] = [];
      for (const row of run) {
        if (row.state !== "ready") break;
        ready.push(row);
      }
      leased.push(...this.#leaseRows(ready, visibilityTimeout, now));
    }
    return leased;
  }

  /** The oldest ready head of a group with nothing leased: the next fifo lease starts there. */
  #unlockedHead(): { grp: string; seq: number } | undefined {
    return this.#sql<{ grp: string; seq: number }>`
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
    this.#sql`UPDATE messages SET state = 'leased', lease_token = lease.value ->> 'token',
      leased_at = ${now}, visible_at = ${leaseExpiresAt}, attempts = attempts + 1
      FROM json_each(${JSON.stringify(leases)}) AS lease
      WHERE messages.seq = lease.value ->> 'seq'`;
    return rows.map((row, index) => {
      const message = this.#describe({ ...row, attempts: row.attempts + 1 });
      const receipt = encodeReceipt({
        partition: message.partition,
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
      partition: this.#partition(),
      seq: row.seq,
    };
  }

  /**
   * Resolves each receipt to the lease it names and applies `settle` to it, or answers why
   * not: a receipt this partition did not issue is invalid; one whose lease is over (expired,
   * re-leased, acked, dead-lettered) is stale.
   */
  #settle(receipts: string[], settle: (lease: LeaseRow) => void): ItemFailure[] {
    const failed: ItemFailure[] = [];
    receipts.forEach((text, index) => {
      const receipt = this.#ownReceipt(text);
      if (!receipt) {
        failed.push({ index, code: "receipt_invalid" });
        return;
      }
      const lease = this.#sql<LeaseRow>`
        SELECT seq, attempts, failures, sent_at, leased_at, visible_at FROM messages
        WHERE seq = ${receipt.seq} AND state = 'leased' AND lease_token = ${receipt.token}`.toArray()[0];
      if (lease) settle(lease);
      else failed.push({ index, code: "receipt_stale" });
    });
    return failed;
  }

  /** The receipt `text` names, when this partition issued it. */
  #ownReceipt(text: string): Receipt | null {
    const receipt = decodeReceipt(text);
    return receipt?.partition === this.#partition() ? receipt : null;
  }

  /**
   * Deletes leased messages, all of them in one statement (see #insert on why fewer
   * statements). Answers per receipt as #settle does; a receipt repeated in one call is
   * stale after its first use.
   */
  #ack(receipts: string[]): { acked: number; failed: ItemFailure[] } {
    const failed: ItemFailure[] = [];
    const named = receipts.map((text, index) => {
      const receipt = this.#ownReceipt(text);
      if (!receipt) failed.push({ index, code: "receipt_invalid" });
      return receipt && `${receipt.seq}.${receipt.token}`;
    });
    const leases = named.filter((lease) => lease !== null);
    const seqs = leases.map((lease) => Number(lease.split(".")[0]));
    const deleted = new Set(
      this.#sql<{ lease: string }>`DELETE FROM messages
        WHERE seq IN (SELECT value FROM json_each(${JSON.stringify(seqs)}))
          AND state = 'leased'
          AND seq || '.' || lease_token IN (SELECT value FROM json_each(${JSON.stringify(leases)}))
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
    if (acked > 0) this.#receivableChanged = true;
    return { acked, failed };
  }

  /** Records a failed attempt, for `cause`, on each lease (see #fail). */
  #nack(
    receipts: string[],
    cause: Pick<Failure, "reason" | "by">,
    now: number,
    config: QueueConfig,
    delaySeconds?: number,
  ): { retried: number; deadLettered: number; failed: ItemFailure[] } {
    let retried = 0;
    let deadLettered = 0;
    const failed = this.#settle(receipts, (lease) => {
      const failure: Failure = { at: now, attempt: lease.attempts, ...cause };
      const fate = this.#fail(lease, failure, now, config, delaySeconds);
      if (fate === "retried") retried++;
      else deadLettered++;
    });
    this.#count("nacked", retried + deadLettered);
    return { retried, deadLettered, failed };
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
    this.#sql`UPDATE messages SET state = ${state}, visible_at = ${visibleAt}, lease_token = NULL,
      leased_at = NULL, failures = ${JSON.stringify(failures)}
      WHERE seq = ${lease.seq}`;
    // Even a delayed retry may unlock its fifo group for an earlier message.
    this.#receivableChanged = true;
    return "retried";
  }

  /** Moves a message into the outbox, in the caller's transaction. */
  #deadLetter(seq: number, failures: Failure[], diedAt: number): void {
    const row = this.#sql<MessageRow>`SELECT * FROM messages WHERE seq = ${seq}`.one();
    const context = this.#requireContext();
    const dead: DeadMessage = {
      ...this.#describe(row),
      queue: context.queue,
      failures,
      diedAt,
    };
    this.#sql`INSERT INTO dead_letter_outbox (seq, message, next_attempt_at)
      VALUES (${seq}, ${JSON.stringify(dead)}, ${diedAt})`;
    this.#sql`DELETE FROM messages WHERE seq = ${seq}`;
    this.#count("dead_lettered", 1);
    this.#receivableChanged = true;
    this.#deadLettersWaiting = true;
  }

  // ── time ───────────────────────────────────────────────────────────────────────────────

  /**
   * Applies everything due at `now`, in the order it fell due: leases that ended before
   * their message's retention are failed attempts; delays that passed make messages ready;
   * messages past retention are dropped; old dedup ids are forgotten.
   */
  #sweep(now: number, config: QueueConfig): void {
    const retention = config.retention * 1000;
    const ended = this.#sql<LeaseRow>`
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
    const promoted = this.#sql`UPDATE messages SET state = 'ready'
      WHERE state = 'delayed' AND visible_at <= ${now} RETURNING seq`.toArray().length;
    if (promoted > 0) this.#receivableChanged = true;
    const dropped = this.#sql`DELETE FROM messages WHERE sent_at <= ${now - retention}
      RETURNING seq`.toArray().length;
    if (dropped > 0) {
      this.#count("expired", dropped);
      this.#receivableChanged = true;
    }
    this.#sql`DELETE FROM dedup WHERE expires_at <= ${now}`;
  }

  /** Sets the one alarm to the earliest due time, or clears it when nothing is due. */
  #scheduleAlarm(): void {
    const next = this.#nextDueTime();
    if (next === this.#alarmAt) return;
    this.#alarmAt = next;
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }

  #nextDueTime(): number | null {
    if (!this.#context) return null;
    if (this.#pushWaiting()) return this.clock();
    const retention = this.#context.config.retention * 1000;
    const { due } = this.#sql<{ due: number | null }>`
      SELECT min(due) AS due FROM (
        SELECT min(visible_at) AS due FROM messages WHERE state = 'leased'
        UNION ALL SELECT min(visible_at) FROM messages WHERE state = 'delayed'
        UNION ALL SELECT min(sent_at) + ${retention} FROM messages
        UNION ALL SELECT min(next_attempt_at) FROM dead_letter_outbox
      )`.one();
    return due;
  }

  /** Waits until woken by a change or until `ms` pass. */
  /**
   * Wakes the longest-parked receive. Waking all of them for one new message would make each
   * run a whole operation to find nothing; the woken one wakes the next if it leaves any.
   */
  #wakeOneWaiter(): void {
    const [wake] = this.#waiters;
    wake?.();
  }

  #park(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  // ── push delivery ──────────────────────────────────────────────────────────────────────

  /** A push queue with a free lane and a message it could lease has push work due now. */
  #pushWaiting(): boolean {
    const config = this.#context?.config;
    if (!config?.push || this.#pushLanes >= config.push.concurrency) return false;
    if (config.ordering === "fifo") return this.#unlockedHead() !== undefined;
    return this.#sql`SELECT 1 FROM messages WHERE state = 'ready' LIMIT 1`.toArray().length > 0;
  }

  /**
   * Starts lanes up to push.concurrency and waits for them. A lane leases a batch as a pull
   * consumer would (so a fifo group stays locked while its batch is out), delivers it
   * (push.ts) and acks or fails it by the answer, until nothing is left or the round is over.
   */
  async #push(): Promise<void> {
    const push = this.#context?.config.push;
    if (!push) return;
    const until = Date.now() + PUSH_ROUND_MS;
    const lanes: Promise<void>[] = [];
    while (this.#pushLanes < push.concurrency) {
      this.#pushLanes++;
      lanes.push(
        this.#pushLane(until).finally(() => {
          this.#pushLanes--;
        }),
      );
    }
    await Promise.all(lanes);
  }

  async #pushLane(until: number): Promise<void> {
    while (Date.now() < until) {
      const context = this.#context;
      const push = context?.config.push;
      if (!context || !push) return;
      const messages = this.#operation(context, (now, config) =>
        this.#lease(push.batchSize, pushLeaseSeconds(push), now, config),
      );
      if (messages.length === 0) return;
      const batch = { queue: context.queue, partition: context.partition, messages };
      const result = await deliver(push, batch, signingKey(this.env), this.fetcher);
      // The queue may have been deleted meanwhile; its receipts are then stale anyway.
      if (!this.#context) return;
      const receipts = messages.map((message) => message.receipt);
      this.#operation(this.#context, (now, config) => {
        if (result.ok) this.#ack(receipts);
        else this.#nack(receipts, { reason: result.reason, by: "push" }, now, config);
      });
    }
  }

  // ── dead-letter hand-off ───────────────────────────────────────────────────────────────

  /** One hand-off at a time: a caller arriving during one waits for it. */
  #handOffDeadLetters(): Promise<void> {
    this.#handOff ??= this.#deliverOutbox().finally(() => {
      this.#handOff = null;
    });
    return this.#handOff;
  }

  /**
   * Hands due outbox rows to the dead-letter object, deleting them only once it confirmed.
   * A failed call leaves them for a later alarm, with backoff. Never throws.
   */
  async #deliverOutbox(): Promise<void> {
    const context = this.#context;
    if (!context) return;
    const deadLetters = this.env.DEAD_LETTERS.getByName(context.queue);
    for (;;) {
      const batch = this.#dueOutbox(this.clock());
      if (batch.length === 0) return;
      const seqs = JSON.stringify(batch.map((row) => row.seq));
      try {
        await deadLetters.accept(batch.map((row) => JSON.parse(row.message) as DeadMessage));
      } catch (error) {
        console.error(
          `Partition ${context.queue}/${context.partition}: dead-letter hand-off failed; kept in the outbox`,
          error,
        );
        const now = this.clock();
        for (const row of batch) {
          const retryAt = now + Math.round(retryDelaySeconds(HANDOFF_RETRY, row.tries + 1) * 1000);
          this.#sql`UPDATE dead_letter_outbox SET tries = tries + 1, next_attempt_at = ${retryAt}
            WHERE seq = ${row.seq}`;
        }
        this.#scheduleAlarm();
        return;
      }
      this.#sql`DELETE FROM dead_letter_outbox
        WHERE seq IN (SELECT value FROM json_each(${seqs}))`;
      this.#scheduleAlarm();
    }
  }

  #dueOutbox(now: number): OutboxRow[] {
    const rows = this.#sql<OutboxRow>`
      SELECT seq, message, tries FROM dead_letter_outbox WHERE next_attempt_at <= ${now}
      ORDER BY seq LIMIT ${MAX_BATCH}`;
    return takeWithin(rows, MAX_BATCH, HANDOFF_BUDGET, (row) => row.message.length).taken;
  }

  // ── counters ───────────────────────────────────────────────────────────────────────────

  #count(name: "sent" | "acked" | "nacked" | "expired" | "dead_lettered", by: number): void {
    if (by > 0) this.#sql`UPDATE counters SET value = value + ${by} WHERE name = ${name}`;
  }

  #readyCount(): number {
    return this.#sql<{ value: number }>`SELECT value FROM counters WHERE name = 'ready'`.one()
      .value;
  }

  /** Messages held: ready, delayed and leased. */
  #held(): number {
    return this.#sql<{ held: number }>`
      SELECT sum(value) AS held FROM counters WHERE name IN ('ready', 'delayed', 'leased')`.one()
      .held;
  }

  #stats(): PartitionStats {
    const counters = new Map(
      this.#sql<{ name: string; value: number }>`SELECT name, value FROM counters`
        .toArray()
        .map((row) => [row.name, row.value]),
    );
    const { oldest } = this.#sql<{ oldest: number | null }>`
      SELECT min(sent_at) AS oldest FROM messages`.one();
    const { pending } = this.#sql<{ pending: number }>`
      SELECT count(*) AS pending FROM dead_letter_outbox`.one();
    const counter = (name: string) => counters.get(name) ?? 0;
    return {
      partition: this.#partition(),
      ready: counter("ready"),
      leased: counter("leased"),
      delayed: counter("delayed"),
      backlogBytes: counter("backlog_bytes"),
      oldestSentAt: oldest,
      deadLettered: counter("dead_lettered"),
      pendingDeadLetters: pending,
      sent: counter("sent"),
      acked: counter("acked"),
      nacked: counter("nacked"),
      expired: counter("expired"),
    };
  }

  // ── context ────────────────────────────────────────────────────────────────────────────

  #requireContext(): PartitionContext {
    if (!this.#context) {
      throw new Error("a partition operation ran before any call brought a context");
    }
    return this.#context;
  }

  #partition(): number {
    return this.#requireContext().partition;
  }
}

/** 1–MAX_BATCH whatever the caller sent. */
function clampCount(count: number): number {
  if (!Number.isFinite(count)) return 1;
  return Math.min(MAX_BATCH, Math.max(1, Math.trunc(count)));
}
