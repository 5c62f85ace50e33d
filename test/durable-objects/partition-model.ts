/**
 * A plain in-memory model of one partition's semantics, for the model-based test: the same
 * operations as the object, written the obvious way (arrays and loops, no SQL, no indexes),
 * so that any disagreement points at a bug in one of them.
 *
 * The model cannot guess random ids and lease tokens: it names a message by its seq and a
 * lease by the seq and how many times the message had been leased. The test translates.
 */
import type { Failure, ItemFailure, NewMessage, PartitionStats } from "../../core/contract.ts";
import type { QueueConfig } from "../../core/queue-config.ts";

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

  #choose(max: number): ModelMessage[] {
    const ready = this.messages.filter((m) => m.state === "ready");
    if (this.config.ordering === "unordered") return ready.slice(0, max);
    if (this.config.ordering === "priority") {
      return [...ready].sort((a, b) => b.priority - a.priority || a.seq - b.seq).slice(0, max);
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
      for (const message of groups.get(name) ?? []) {
        if (chosen.length === max || message.state !== "ready") break;
        chosen.push(message);
      }
    }
    return chosen;
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
  stats(): Omit<PartitionStats, "pendingDeadLetters" | "usage"> {
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
