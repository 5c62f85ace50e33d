/**
 * One partition of a queue (the object named `<queue>/<index>`): an ordered log of messages in
 * its own SQLite database, leased to consumers, retried with backoff, and handed to the queue's
 * dead-letter object when their attempts run out. What a caller may rely on:
 * - A send answered `ok: true` is committed (the answer waits for `storage.sync()`); a refused
 *   send stored nothing. A batch is stored whole or not at all.
 * - Every operation does its reads and writes synchronously, in one transaction. Time-driven
 *   changes (lease ends, delays, retention) are applied at the start of every operation as well
 *   as by the alarm, so a late alarm changes nothing a caller can observe.
 * - A lease is honoured only while it lasts; anything else is refused per item.
 * - A dying message moves to an outbox in the same transaction and leaves it only once the
 *   dead-letter object has confirmed it.
 * This file is the shell (RPC methods, `#operation`, the alarm); the concerns are modules in
 * partition/, each reporting when it is next due, and the alarm is set to the earliest.
 */
import { DurableObject } from "cloudflare:workers";
import {
  type AckOutcome,
  clampBatch,
  type ExtendOutcome,
  type LeaseRef,
  MAX_BATCH,
  type NackOutcome,
  type NewMessage,
  type PartitionContext,
  type PartitionStats,
  type PeekedMessage,
  type Received,
  type ReceiveOptions,
  type SendOutcome,
} from "../core/contract.ts";
import type { FlowAnswer, FlowChange } from "../core/flow.ts";
import type { QueueConfig } from "../core/queue-config.ts";
import { NewestContext } from "./partition/context.ts";
import { type CommitPolicy, GroupCommit, type RoundResult } from "./partition/group-commit.ts";
import { earliest, type Identity, identityOf, MessageLog } from "./partition/log.ts";
import { LongPolls } from "./partition/long-polls.ts";
import { DeadLetterOutbox } from "./partition/outbox.ts";
import { PushLanes } from "./partition/push-lanes.ts";
import { type Answer, GROUP_COMMIT, runRound, type Work } from "./partition/rounds.ts";
import { MIGRATIONS } from "./partition/schema.ts";
import { migrate, type Sql, SqlMeter, sqlOf } from "./sql.ts";

export class Partition extends DurableObject<Env> {
  /** The time source, epoch ms. Tests move time through runInDurableObject. */
  clock: () => number = () => Date.now();

  /** How push requests leave (push.ts). Tests put an endpoint of their own here. */
  fetcher: typeof fetch = (input, init) => fetch(input, init);

  readonly #identity: Identity;
  readonly #meter = new SqlMeter();
  readonly #sql: Sql;
  readonly #log: MessageLog;
  readonly #outbox: DeadLetterOutbox;
  readonly #rounds: GroupCommit<Work, Answer>;
  readonly #push: PushLanes;
  readonly #polls = new LongPolls();
  /** RPC calls and alarms since the object started. */
  #requests = 0;
  readonly #contexts: NewestContext;
  /** The alarm time this instance last set; undefined when unknown (after a start or an alarm). */
  #alarmAt: number | null | undefined = undefined;

  /** `rounds` decides how commit rounds form (the bench passes its own). */
  constructor(ctx: DurableObjectState, env: Env, rounds: CommitPolicy<Work> = GROUP_COMMIT) {
    super(ctx, env);
    this.#identity = identityOf(ctx.id.name);
    this.#sql = sqlOf(ctx.storage, this.#meter);
    migrate(ctx.storage, MIGRATIONS, this.#sql);
    this.#contexts = new NewestContext(this.#sql);
    this.#outbox = new DeadLetterOutbox(this.#sql, String(ctx.id.name));
    this.#log = new MessageLog(this.#sql, this.#identity, this.#outbox);
    this.#log.load(this.clock());
    this.#rounds = new GroupCommit(
      rounds,
      (round) => this.#writeRound(round),
      () => ctx.storage.sync(),
    );
    this.#push = new PushLanes({
      push: () => this.#contexts.current?.config.push ?? null,
      receivable: () =>
        this.#contexts.current !== null && this.#log.receivable(this.#contexts.current.config),
      changes: () => this.#log.changes,
      lease: (max, seconds) =>
        this.#contexts.current
          ? this.#operation(null, (now, config) => this.#log.lease(max, seconds, now, config))
          : [],
      // The queue may have been deleted meanwhile; its leases are then stale anyway.
      settle: (leases, result) => {
        if (!this.#contexts.current) return;
        this.#operation(null, (now, config) => {
          if (result.ok) this.#log.ack(leases, now);
          else this.#log.nack(leases, { reason: result.reason, by: "push" }, now, config);
        });
      },
      identity: this.#identity,
      env: () => this.env,
      fetcher: (input, init) => this.fetcher(input, init),
    });
  }

  /**
   * Stores a batch of up to MAX_BATCH messages, all or none. Concurrent sends are committed
   * together (group commit); each is still checked on its own, so one refused send does not
   * affect the others.
   */
  async send(context: PartitionContext, messages: NewMessage[]): Promise<SendOutcome> {
    this.#requests++;
    if (messages.length > MAX_BATCH) {
      throw new RangeError(`a send holds at most ${MAX_BATCH} messages, got ${messages.length}`);
    }
    return this.#rounds.submit({ kind: "send", context, messages }) as Promise<SendOutcome>;
  }

  /**
   * Leases up to `max` visible messages in the queue's order. With `waitMs > 0` and nothing
   * visible, waits for a send, a delay falling due or the timeout (on the partition's clock),
   * whichever comes first. Concurrent receives are answered from one lease (partition/rounds.ts).
   * `ack` is settled in the first round, before its lease, and answered whatever was leased.
   */
  async receive(context: PartitionContext, options: ReceiveOptions): Promise<Received> {
    this.#requests++;
    const max = clampBatch(options.max);
    const waitMs = Number.isFinite(options.waitMs) ? Math.max(0, options.waitMs) : 0;
    const deadline = this.clock() + waitMs;
    const work: Work = {
      kind: "receive",
      context,
      max,
      visibilityTimeout: options.visibilityTimeout,
      ack: options.ack,
    };
    let acked: Received["ack"];
    const answered = (answer: Received) => (acked ? { ...answer, ack: acked } : answer);
    for (;;) {
      const answer = (await this.#rounds.submit(work)) as Received;
      // Settled once: a receive that parks and tries again carries no acks.
      if (work.ack) [acked, work.ack] = [answer.ack, undefined];
      if (answer.messages.length > 0) {
        // Woken parked receives take turns: one that leased wakes the next while messages remain.
        if (answer.stats.ready > 0) this.#polls.wakeOne();
        return answered(answer);
      }
      const remaining = deadline - this.clock();
      // `signals` as of this receive's round: a later round's signal ends the wait at once.
      if (remaining <= 0 || !(await this.#polls.park(remaining, work.signals ?? 0))) {
        return answered(answer);
      }
    }
  }

  /** Deletes leased messages. */
  async ack(context: PartitionContext, leases: LeaseRef[]): Promise<AckOutcome> {
    this.#requests++;
    return this.#rounds.submit({ kind: "ack", context, leases }) as Promise<AckOutcome>;
  }

  /**
   * Gives leased messages back as failed attempts: visible again after `delaySeconds`, or
   * after the retry backoff; dead-lettered when their attempts have reached maxAttempts.
   */
  async nack(
    context: PartitionContext,
    leases: LeaseRef[],
    options: { delaySeconds?: number; reason?: string },
  ): Promise<NackOutcome> {
    this.#requests++;
    const cause = { reason: options.reason ?? "nacked", by: "nack" } as const;
    return this.#operation(context, (now, config) => ({
      ...this.#log.nack(leases, cause, now, config, options.delaySeconds),
      stats: this.#stats(),
    }));
  }

  /** Moves the end of leases to `visibilityTimeout` seconds from now. */
  async extend(
    context: PartitionContext,
    leases: LeaseRef[],
    visibilityTimeout: number,
  ): Promise<ExtendOutcome> {
    this.#requests++;
    return this.#operation(context, (now) => ({
      ...this.#log.extend(leases, visibilityTimeout, now),
      stats: this.#stats(),
    }));
  }

  /** Messages in send order after seq `after`, without leasing them. */
  async peek(
    context: PartitionContext,
    options: { limit: number; after?: number },
  ): Promise<{ messages: PeekedMessage[]; stats: PartitionStats }> {
    this.#requests++;
    return this.#operation(context, (now) => ({
      messages: this.#log.peek(clampBatch(options.limit), options.after ?? 0, now),
      stats: this.#stats(),
    }));
  }

  /**
   * Drops every message the partition holds, leased ones included. Dead letters waiting in
   * the outbox are not queue messages any more and are still handed off.
   */
  async purge(context: PartitionContext): Promise<{ purged: number; stats: PartitionStats }> {
    this.#requests++;
    return this.#operation(context, (now) => ({
      purged: this.#log.purge(now),
      stats: this.#stats(),
    }));
  }

  async stats(context: PartitionContext, range?: [number, number]): Promise<PartitionStats> {
    this.#requests++;
    return this.#operation(context, () => ({ ...this.#stats(), ...this.#log.history.of(range) }));
  }

  /** Pauses, resumes or sets a key's limits (partition/flow.ts); answers the state after. */
  async flow(context: PartitionContext, change: FlowChange): Promise<FlowAnswer> {
    this.#requests++;
    return this.#operation(context, (now, config) => this.#log.changeFlow(change, now, config));
  }

  /** The queue was deleted: drop every row and the alarm. */
  async destroy(): Promise<void> {
    this.#requests++;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.#contexts.clear();
    this.#alarmAt = null;
    // The instance may live on and be called for a queue of the same name.
    migrate(this.ctx.storage, MIGRATIONS, this.#sql);
    this.#log.load(this.clock());
    this.#outbox.load();
  }

  /**
   * Applies what has fallen due, hands the outbox to the dead-letter object, pushes to the
   * queue's endpoint, and sets the alarm to the next due time. Idempotent: a repeated or late
   * alarm finds nothing to do.
   */
  override async alarm(): Promise<void> {
    this.#requests++;
    this.#alarmAt = undefined;
    if (this.#contexts.current) this.#operation(null, () => undefined);
    await Promise.all([this.#handOff(), this.#push.run()]);
    // Last, so it also covers what the hand-off and push lanes did.
    if (this.#contexts.current) this.#operation(null, (now) => this.#log.cleanup(now));
    this.#scheduleAlarm();
  }

  // ── operations ─────────────────────────────────────────────────────────────────────────

  /**
   * Runs one operation under the newest context (`context` adopted first, when the call brought
   * one): a transaction that first applies whatever has fallen due, then the operation's own
   * reads and writes. Afterwards the alarm, parked receives and the outbox hear about what
   * changed.
   */
  #operation<T>(
    context: PartitionContext | null,
    work: (now: number, config: QueueConfig) => T,
  ): T {
    if (context) this.#contexts.adopt(context);
    if (!this.#contexts.current)
      throw new Error("a partition operation ran before any call brought a context");
    const { config } = this.#contexts.current;
    const now = this.clock();
    let result: T;
    try {
      result = this.ctx.storage.transactionSync(() => {
        this.#log.sweep(now, config);
        return work(now, config);
      });
    } catch (error) {
      // The transaction's writes were taken back: so is what memory kept of them.
      this.#log.load(now);
      this.#outbox.load();
      throw error;
    }
    this.#afterChange();
    return result;
  }

  /** One group-commit round in one transaction (what it does: partition/rounds.ts). */
  #writeRound(work: Work[]): RoundResult<Answer>[] {
    // Each call brought a context: the newest of them is the one that counts.
    for (const item of work) this.#contexts.adopt(item.context);
    const answers = this.#operation(null, (now, config) => {
      const answers = runRound(this.#log, work, now, config);
      // Everything in a round is answered at the same moment, so one snapshot serves all.
      const stats = this.#stats();
      return answers.map((answer) =>
        "outcome" in answer ? { outcome: { ...answer.outcome, stats } as Answer } : answer,
      );
    });
    for (const item of work) if (item.kind === "receive") item.signals = this.#polls.signals;
    return answers;
  }

  #afterChange(): void {
    this.#scheduleAlarm();
    if (this.#log.deadLettered) {
      this.#log.deadLettered = false;
      this.ctx.waitUntil(this.#handOff());
    }
    if (this.#log.receivableChanged) {
      this.#log.receivableChanged = false;
      // Most acks and retries leave nothing ready: a woken receive would find nothing.
      if (this.#log.readyCount() > 0) this.#polls.signal();
    }
  }

  #handOff(): Promise<void> {
    if (!this.#contexts.current) return Promise.resolve();
    const sink = this.env.DEAD_LETTERS.getByName(this.#identity.queue);
    return this.#outbox.handOff(sink, this.clock, () => this.#scheduleAlarm());
  }

  /** Sets the one alarm to the earliest any concern reports, or clears it when none is due. */
  #scheduleAlarm(): void {
    const config = this.#contexts.current?.config;
    const due = config && [this.#push.nextAlarm(this.clock()), this.#log.nextAlarm(config)];
    const next = due ? earliest([...due, this.#outbox.nextAlarm()]) : null;
    if (next === this.#alarmAt) return;
    this.#alarmAt = next;
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }

  #stats(): PartitionStats {
    return {
      ...this.#log.stats(),
      pendingDeadLetters: this.#outbox.pending(),
      usage: { requests: this.#requests, ...this.#meter.usage },
    };
  }
}
