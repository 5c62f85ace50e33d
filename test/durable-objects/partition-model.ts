/**
 * A plain in-memory model of one partition's semantics, for the model-based test: the same
 * operations as the object, written the obvious way (arrays and loops, no SQL, no indexes),
 * so that any disagreement points at a bug in one of them.
 *
 * The model cannot guess random ids and lease tokens: it names a message by its seq and a
 * lease by the seq and how many times the message had been leased. The test translates.
 */
import type { Failure, ItemFailure, NewMessage, PartitionStats } from "../../core/contract.ts";
import type { FlowStats, Pause } from "../../core/flow.ts";
import type { KeyLimits, QueueConfig } from "../../core/queue-config.ts";

export interface ModelMessage {
  seq: number;
  body: string;
  key: string | null;
  priority: number;
  bytes: number;
  sentAt: number;
  state: "ready" | "delayed" | "leased";
  visibleAt: number;
  attempts: number;
  /** How many leases the message has had: names the current one. */
  leases: number;
  leasedAt: number;
  failures: Failure[];
}

export interface ModelDeadMessage {
  seq: number;
  attempts: number;
  failures: Failure[];
  diedAt: number;
}

/** A receipt as the model sees it: a lease of a message, or something it never issued. */
export type ModelReceipt = { seq: number; lease: number } | "invalid";

export type ModelSendOutcome =
  | { ok: true; messages: { seq: number; duplicate: boolean }[]; backpressure: boolean }
  | { ok: false };

const utf8 = new TextEncoder();

export class PartitionModel {
  messages: ModelMessage[] = [];
  dead: ModelDeadMessage[] = [];
  #dedup = new Map<string, { seq: number; expiresAt: number }>();
  #lastSeq = 0;
  #counts = { sent: 0, acked: 0, nacked: 0, expired: 0 };
  /** Flow control: the queue's pause, keys' own pauses and limits, and keys' token buckets. */
  paused: Pause | null = null;
  keyPauses = new Map<string, Pause>();
  keyLimits = new Map<string, KeyLimits>();
  #tat = new Map<string, number>();
  /** Fairness: the receive (turn) that last served each key. */
  #served = new Map<string, number>();
  #turn = 0;

  constructor(
    readonly config: QueueConfig,
    public now: number,
  ) {}

  send(batch: NewMessage[]): ModelSendOutcome {
    this.sweep();
    const { dedupWindow } = this.config;
    const answers: ({ seq: number; duplicate: boolean } | "new")[] = [];
    const firstInBatch = new Map<string, number>();
    for (const [index, message] of batch.entries()) {
      const dedupId = dedupWindow > 0 ? message.dedupId : undefined;
      const seen = dedupId === undefined ? undefined : this.#dedup.get(dedupId);
      const earlier = dedupId === undefined ? undefined : firstInBatch.get(dedupId);
      if (earlier !== undefined) answers.push({ seq: -1 - earlier, duplicate: true });
      else if (seen) answers.push({ seq: seen.seq, duplicate: true });
      else {
        if (dedupId !== undefined) firstInBatch.set(dedupId, index);
        answers.push("new");
      }
    }
    const added = answers.filter((a) => a === "new").length;
    const held = this.messages.length;
    if (added > 0 && held + added > this.config.backlog.hard) return { ok: false };

    const sent: { seq: number; duplicate: boolean }[] = [];
    for (const [index, message] of batch.entries()) {
      const answer = answers[index];
      if (answer === "new") sent.push({ seq: this.#insert(message), duplicate: false });
      else if (answer.seq < 0) sent.push({ seq: sent[-1 - answer.seq].seq, duplicate: true });
      else sent.push(answer);
    }
    this.#counts.sent += added;
    return { ok: true, messages: sent, backpressure: held + added > this.config.backlog.soft };
  }

  #insert(message: NewMessage): number {
    const seq = ++this.#lastSeq;
    const visibleAt = this.now + (message.delaySeconds ?? 0) * 1000;
    this.messages.push({
      seq,
      body: message.body,
      key: message.key ?? null,
      priority: message.priority ?? 0,
      bytes: utf8.encode(message.body).byteLength,
      sentAt: this.now,
      state: visibleAt > this.now ? "delayed" : "ready",
      visibleAt,
      attempts: 0,
      leases: 0,
      leasedAt: 0,
      failures: [],
    });
    if (message.dedupId !== undefined && this.config.dedupWindow > 0) {
      this.#dedup.set(message.dedupId, {
        seq,
        expiresAt: this.now + this.config.dedupWindow * 1000,
      });
    }
    return seq;
  }

  /** Leases and returns the messages a receive gets, in the order it gets them. */
  receive(max: number, visibilityTimeout = this.config.visibilityTimeout): ModelMessage[] {
    this.sweep();
    const chosen = this.#choose(max);
    for (const message of chosen) {
      message.state = "leased";
      message.attempts++;
      message.leases++;
      message.leasedAt = this.now;
      message.visibleAt = this.now + visibilityTimeout * 1000;
    }
    return chosen;
  }

  #choose(requested: number): ModelMessage[] {
    if (this.#over(this.paused)) this.paused = null;
    if (this.paused) return [];
    const leased = this.messages.filter((m) => m.state === "leased");
    const cap = this.config.maxInFlight ?? Number.POSITIVE_INFINITY;
    const max = Math.min(requested, cap - leased.length);
    if (max <= 0) return [];
    // Per key: how many are out (leased before, or taken by this receive).
    const out = new Map<string, number>();
    for (const m of leased) if (m.key !== null) out.set(m.key, (out.get(m.key) ?? 0) + 1);
    /** Whether `count` more of the key may be delivered now. */
    const allows = (key: string | null, count: number): boolean => {
      if (key === null) return true;
      const pause = this.keyPauses.get(key);
      if (pause && this.#over(pause)) this.keyPauses.delete(key);
      else if (pause) return false;
      const limits = this.limitsOf(key);
      const taken = out.get(key) ?? 0;
      if (limits.concurrency !== undefined && taken + count > limits.concurrency) return false;
      if (limits.rate === undefined) return true;
      const interval = 1000 / limits.rate;
      const burst = limits.burst ?? Math.max(1, Math.ceil(limits.rate));
      const tat = Math.max(this.#tat.get(key) ?? this.now, this.now) + (count - 1) * interval;
      return tat - this.now <= (burst - 1) * interval + 1e-6;
    };
    const admit = (message: ModelMessage): boolean => {
      const { key } = message;
      if (!allows(key, 1)) return false;
      if (key === null) return true;
      out.set(key, (out.get(key) ?? 0) + 1);
      if (this.limitsOf(key).rate !== undefined) {
        const interval = 1000 / (this.limitsOf(key).rate as number);
        this.#tat.set(key, Math.max(this.#tat.get(key) ?? this.now, this.now) + interval);
      }
      return true;
    };
    const fair = this.config.fairness === "keys";
    // Fair: a window of what could go (at most `max` of a key), then keys take turns.
    const seen = new Map<string, number>();
    const open = (message: ModelMessage): boolean => {
      const group = message.key ?? "";
      const count = (seen.get(group) ?? 0) + 1;
      if (count > max || !allows(message.key, count)) return false;
      seen.set(group, count);
      return true;
    };
    const looked = this.#look(fair ? Number.POSITIVE_INFINITY : max, fair ? open : admit);
    return fair ? this.#deal(looked, max, admit) : looked;
  }

  /** Up to `max` ready messages in the queue's order that `test` lets through. */
  #look(max: number, test: (message: ModelMessage) => boolean): ModelMessage[] {
    const ready = this.messages.filter((m) => m.state === "ready");
    const take = (ordered: ModelMessage[]) => {
      const chosen: ModelMessage[] = [];
      for (const message of ordered) {
        if (chosen.length === max) break;
        if (test(message)) chosen.push(message);
      }
      return chosen;
    };
    if (this.config.ordering === "unordered") return take(ready);
    if (this.config.ordering === "priority") {
      return take([...ready].sort((a, b) => b.priority - a.priority || a.seq - b.seq));
    }
    // fifo: a group is free when its oldest message is ready and none of it is leased; the
    // oldest free head goes first, with its group's run of ready messages, after which that
    // group is locked.
    const groups = this.#groups();
    const locked = new Set<string>();
    const chosen: ModelMessage[] = [];
    while (chosen.length < max) {
      const head = [...groups.entries()]
        .filter(([name, group]) => !locked.has(name) && group[0].state === "ready")
        .filter(([, group]) => group.every((m) => m.state !== "leased"))
        .map(([, group]) => group[0])
        .sort((a, b) => a.seq - b.seq)[0];
      if (!head) break;
      const name = head.key ?? "";
      locked.add(name);
      // A held key's head is skipped; a run ends at its first message held back.
      for (const message of groups.get(name) ?? []) {
        if (chosen.length === max || message.state !== "ready" || !test(message)) break;
        chosen.push(message);
      }
    }
    return chosen;
  }

  /**
   * Fairness over keys: one message of each key a turn, the key served longest ago first (never
   * served first, then the order they were looked at in); a key refused once is out.
   */
  #deal(
    looked: ModelMessage[],
    max: number,
    admit: (message: ModelMessage) => boolean,
  ): ModelMessage[] {
    const byKey = new Map<string, ModelMessage[]>();
    for (const message of looked) {
      const group = message.key ?? "";
      byKey.set(group, [...(byKey.get(group) ?? []), message]);
    }
    const turns = [...byKey.keys()].sort(
      (a, b) => (this.#served.get(a) ?? -1) - (this.#served.get(b) ?? -1),
    );
    const chosen: ModelMessage[] = [];
    for (let round = 0; turns.length > 0 && chosen.length < max; round++) {
      for (const group of [...turns]) {
        if (chosen.length === max) break;
        const message = byKey.get(group)?.[round];
        if (message && admit(message)) chosen.push(message);
        else turns.splice(turns.indexOf(group), 1);
      }
    }
    this.#turn++;
    for (const message of chosen) this.#served.set(message.key ?? "", this.#turn);
    return chosen;
  }

  /** The object keeps fairness turns in memory only: a restart starts the rotation over. */
  restart(): void {
    this.#served = new Map();
  }

  /** Messages by fifo group (key, or "" without one), each in seq order. */
  #groups(): Map<string, ModelMessage[]> {
    const groups = new Map<string, ModelMessage[]>();
    for (const message of this.messages) {
      const name = message.key ?? "";
      groups.set(name, [...(groups.get(name) ?? []), message]);
    }
    return groups;
  }

  /** The queue's keyLimits overridden field by field by the key's own. */
  limitsOf(key: string): KeyLimits {
    return { ...this.config.keyLimits, ...this.keyLimits.get(key) };
  }

  #over(pause: Pause | null | undefined): boolean {
    return pause?.until != null && pause.until <= this.now;
  }

  pause(key: string | null, until: number | null): void {
    this.sweep();
    if (key === null) this.paused = { until };
    else this.keyPauses.set(key, { until });
  }

  resume(key: string | null): void {
    this.sweep();
    if (key === null) this.paused = null;
    else this.keyPauses.delete(key);
  }

  setLimits(key: string, limits: KeyLimits | null): void {
    this.sweep();
    if (limits === null || Object.keys(limits).length === 0) this.keyLimits.delete(key);
    else this.keyLimits.set(key, limits);
  }

  /** Flow control's stats, less heldKeys (what the last receives left behind). */
  flow(): Omit<FlowStats, "heldKeys"> {
    if (this.#over(this.paused)) this.paused = null;
    for (const [key, pause] of this.keyPauses) if (this.#over(pause)) this.keyPauses.delete(key);
    return {
      paused: this.paused !== null,
      pausedUntil: this.paused?.until ?? null,
      pausedKeys: this.keyPauses.size,
      inFlightShare: this.config.maxInFlight ?? null,
    };
  }

  ack(receipts: ModelReceipt[]): { acked: number; failed: ItemFailure[] } {
    this.sweep();
    let acked = 0;
    const failed = this.#settle(receipts, (message) => {
      this.#remove(message);
      acked++;
    });
    this.#counts.acked += acked;
    return { acked, failed };
  }

  nack(
    receipts: ModelReceipt[],
    options: { delaySeconds?: number; reason?: string },
  ): { retried: number; deadLettered: number; failed: ItemFailure[] } {
    this.sweep();
    let retried = 0;
    let deadLettered = 0;
    const failed = this.#settle(receipts, (message) => {
      const failure: Failure = {
        at: this.now,
        attempt: message.attempts,
        reason: options.reason ?? "nacked",
        by: "nack",
      };
      if (this.#fail(message, failure, options.delaySeconds)) retried++;
      else deadLettered++;
    });
    this.#counts.nacked += retried + deadLettered;
    return { retried, deadLettered, failed };
  }

  extend(receipts: ModelReceipt[], visibilityTimeout: number) {
    this.sweep();
    let extended = 0;
    const failed = this.#settle(receipts, (message) => {
      message.visibleAt = this.now + visibilityTimeout * 1000;
      extended++;
    });
    return { extended, failed };
  }

  #settle(receipts: ModelReceipt[], settle: (message: ModelMessage) => void): ItemFailure[] {
    const failed: ItemFailure[] = [];
    receipts.forEach((receipt, index) => {
      if (receipt === "invalid") {
        failed.push({ index, code: "receipt_invalid" });
        return;
      }
      const message = this.#leased(receipt);
      if (message) settle(message);
      else failed.push({ index, code: "receipt_stale" });
    });
    return failed;
  }

  /** Whether the lease is current as of the model's clock (sweep first). */
  holdsLease(receipt: { seq: number; lease: number }): boolean {
    return this.#leased(receipt) !== undefined;
  }

  #leased(receipt: { seq: number; lease: number }): ModelMessage | undefined {
    return this.messages.find(
      (m) => m.seq === receipt.seq && m.state === "leased" && m.leases === receipt.lease,
    );
  }

  /** Records a failed attempt; true when the message will be retried, false when it died. */
  #fail(message: ModelMessage, failure: Failure, delaySeconds?: number): boolean {
    message.failures = [...message.failures, failure];
    if (message.attempts >= this.config.maxAttempts) {
      this.#remove(message);
      this.dead.push({
        seq: message.seq,
        attempts: message.attempts,
        failures: message.failures,
        diedAt: failure.at,
      });
      return false;
    }
    const { initialDelay, multiplier, maxDelay } = this.config.retry;
    const backoff = Math.min(maxDelay, initialDelay * multiplier ** (message.attempts - 1));
    message.visibleAt = failure.at + Math.round((delaySeconds ?? backoff) * 1000);
    message.state = message.visibleAt > this.now ? "delayed" : "ready";
    return true;
  }

  #remove(message: ModelMessage): void {
    this.messages = this.messages.filter((m) => m !== message);
  }

  /** What falls due by `now`: lease ends, delays, retention, dedup windows. */
  sweep(): void {
    const retention = this.config.retention * 1000;
    const ended = this.messages
      .filter((m) => m.state === "leased" && m.visibleAt <= this.now)
      .filter((m) => m.visibleAt < m.sentAt + retention);
    for (const message of ended) {
      this.#fail(message, {
        at: message.visibleAt,
        attempt: message.attempts,
        reason: `lease expired after ${(message.visibleAt - message.leasedAt) / 1000} s`,
        by: "expiry",
      });
    }
    for (const message of this.messages) {
      if (message.state === "delayed" && message.visibleAt <= this.now) message.state = "ready";
    }
    const kept = this.messages.filter((m) => m.sentAt > this.now - retention);
    this.#counts.expired += this.messages.length - kept.length;
    this.messages = kept;
    for (const [dedupId, entry] of this.#dedup) {
      if (entry.expiresAt <= this.now) this.#dedup.delete(dedupId);
    }
  }

  /**
   * Stats as the object reports them, less pendingDeadLetters, which races the hand-off, and
   * usage, which measures the storage rather than the semantics.
   */
  stats(): Omit<PartitionStats, "pendingDeadLetters" | "usage" | "flow"> {
    const count = (state: ModelMessage["state"]) =>
      this.messages.filter((m) => m.state === state).length;
    return {
      partition: 0,
      ready: count("ready"),
      leased: count("leased"),
      delayed: count("delayed"),
      backlogBytes: this.messages.reduce((sum, m) => sum + m.bytes, 0),
      oldestSentAt: this.messages.length ? Math.min(...this.messages.map((m) => m.sentAt)) : null,
      deadLettered: this.dead.length,
      ...this.#counts,
    };
  }
}
