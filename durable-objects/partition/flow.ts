/**
 * Flow control (docs/architecture.md, "Flow control"): what a receive may lease besides what is
 * ready. A paused queue leases nothing; a paused key, a key out of rate tokens or at its
 * concurrency is skipped, never blocking other keys; the partition's share of the queue-wide
 * `maxInFlight` caps its leases; with `fairness: "keys"` keys take turns.
 *
 * Rows: pauses and keys' own limits are the `flow` meta row, written only when an operator
 * changes them. A key's token bucket is one number, its theoretical arrival time (GCRA: the
 * bucket is full when it is at or before now; each delivery moves it on by 1/rate; a delivery
 * conforms while it is at most (burst - 1)/rate ahead of now). The buckets not full are the
 * `rate` meta row, written in the transaction of a receive that leased from a rate-limited key,
 * so "rate per second with burst" holds exactly across restarts; queues without a rate write
 * nothing. Fairness turns are in memory: losing them on a restart only restarts the rotation.
 *
 * Fair reading: for each key with fresh messages, how many (at least) and the lowest segment
 * id where one may be (two numbers a key, rebuilt from the rows on start, none per message),
 * kept in the order keys were last looked at; a fair receive also reads from where the keys
 * looked at longest ago begin (order.ts readFair), so a key behind any backlog of others is
 * looked at within a bounded number of receives. Counts run high only after a purge or
 * expiry (those do not count down): a key with nothing waiting is dropped when looked at.
 */
import {
  type FlowAnswer,
  type FlowChange,
  type FlowStats,
  HELD_KEYS_SHOWN,
  type HeldKey,
  type HeldReason,
  inFlightShare,
  type Pause,
} from "../../core/flow.ts";
import type { KeyLimits, QueueConfig } from "../../core/queue-config.ts";
import type { Sql } from "../sql.ts";
import type { FairStart } from "./order.ts";

/** Stored as the `flow` meta row. */
interface FlowDoc {
  paused: Pause | null;
  keys: Record<string, { limits?: KeyLimits; paused?: Pause }>;
}

/** A message a receive looks at, as flow control sees it. */
export interface Gated {
  group: string;
  sentAt: number;
}

/** What the log tells flow control about a key. */
export interface KeyCounts {
  leased(key: string): number;
  waiting(key: string): number;
}

/** The fifo group of messages without a key: no key's limits or pause apply to it. */
const KEYLESS = "";

/**
 * Held keys and fairness turns and froms kept before those of keys with nothing waiting are
 * dropped.
 */
const FORGET_ABOVE = 1_024;

/** Float slack when comparing bucket times (1/rate is rarely a whole number of ms). */
const EPSILON_MS = 1e-6;

/**
 * One receive's admission: `room` is how many it may lease at most; `admit` decides each
 * message it would take and counts it; `open` only says whether a message could be admitted,
 * counting nothing but how many of its key were looked at (fairness reads ahead with it).
 */
export class Gate {
  readonly #taken = new Map<string, number>();
  readonly #seen = new Map<string, number>();
  /** Keys this receive had to leave messages of behind. */
  readonly refused = new Set<string>();

  constructor(
    private readonly flow: FlowControl,
    private readonly config: QueueConfig,
    private readonly now: number,
    /** At most this many may be leased: the receive's max within the partition's share. */
    readonly room: number,
    private readonly counts: KeyCounts,
    /** Whether any key may be held back (limits or paused keys): receives then look further. */
    readonly limited: boolean,
  ) {}

  /** Messages of `key` waiting (ready or delayed). */
  waiting(key: string): number {
    return this.counts.waiting(key);
  }

  admit = (message: Gated): boolean => {
    const reason = this.#why(message.group, 1);
    if (reason !== null) return this.#refuse(message, reason);
    this.#taken.set(message.group, (this.#taken.get(message.group) ?? 0) + 1);
    this.flow.took(message.group, this.config, this.now);
    return true;
  };

  open = (message: Gated): boolean => {
    const seen = (this.#seen.get(message.group) ?? 0) + 1;
    const reason = this.#why(message.group, seen);
    if (reason !== null || seen > this.room) return this.#refuse(message, reason);
    this.#seen.set(message.group, seen);
    return true;
  };

  /** Null when `count` more of the key may go now, else why not. */
  #why(key: string, count: number): HeldReason | null {
    if (key === KEYLESS) return null;
    if (this.flow.keyPaused(key, this.now)) return "paused";
    const limits = this.flow.limitsOf(key, this.config);
    const taken = this.#taken.get(key) ?? 0;
    if (
      limits.concurrency !== undefined &&
      this.counts.leased(key) + taken + count > limits.concurrency
    ) {
      return "concurrency";
    }
    if (limits.rate !== undefined && !this.flow.conforms(key, limits, this.now, count)) {
      return "rate";
    }
    return null;
  }

  #refuse(message: Gated, reason: HeldReason | null): false {
    if (reason !== null) {
      this.refused.add(message.group);
      this.flow.held(message, reason, this.now, this.flow.limitsOf(message.group, this.config));
    }
    return false;
  }
}

export class FlowControl {
  #doc: FlowDoc = { paused: null, keys: {} };
  /** Keys' token buckets as theoretical arrival times (epoch ms); absent: full. */
  #buckets = new Map<string, number>();
  #bucketsChanged = false;
  /** When a refused key's bucket next holds a token: a waiting receive may then find one. */
  #refillAt: number | null = null;
  #held = new Map<string, HeldKey>();
  /** Fairness: the turn at which each key was last served. */
  #served = new Map<string, number>();
  /**
   * Fair reading: each key with fresh messages, how many (at least), and the lowest segment id
   * where one may be; the key looked at longest ago first. Every key with one is here.
   */
  #fresh = new Map<string, { from: number; count: number }>();
  #turn = 0;
  #forgetAbove = FORGET_ABOVE;
  /** The newest time and configuration an operation ran under, for stats, read without them. */
  #now = 0;
  #config: QueueConfig | null = null;

  constructor(private readonly sql: Sql) {}

  load(now: number): void {
    this.#now = now;
    const rows = this.sql<{ name: string; value: string }>`
      SELECT name, value FROM meta WHERE name IN ('flow', 'rate')`.toArray();
    const doc = rows.find((row) => row.name === "flow");
    const rate = rows.find((row) => row.name === "rate");
    this.#doc = doc ? JSON.parse(doc.value) : { paused: null, keys: {} };
    this.#buckets = new Map(rate ? Object.entries(JSON.parse(rate.value)) : []);
    this.#held = new Map();
    this.#fresh = new Map();
    this.#refillAt = null;
    this.#dropEnded(now);
  }

  // ── operators ──────────────────────────────────────────────────────────────────────────

  /** Applies a change; writes the `flow` row when it changed anything. */
  apply(change: FlowChange, now: number): void {
    this.#now = now;
    if (change.kind === "look") return;
    const { key } = change;
    if (change.kind === "limits") {
      const rule = this.#doc.keys[change.key] ?? {};
      if (change.limits === null || Object.keys(change.limits).length === 0) delete rule.limits;
      else rule.limits = change.limits;
      this.#setRule(change.key, rule);
    } else if (key === null) {
      this.#doc.paused = change.kind === "pause" ? { until: change.until } : null;
    } else {
      const rule = this.#doc.keys[key] ?? {};
      if (change.kind === "pause") rule.paused = { until: change.until };
      else delete rule.paused;
      this.#setRule(key, rule);
    }
    // What held the key (or the queue) back may have changed: the next receive tells again.
    if (key === null) this.#held = new Map();
    else this.#held.delete(key);
    this.sql`INSERT INTO meta (name, value) VALUES ('flow', ${JSON.stringify(this.#doc)})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }

  #setRule(key: string, rule: { limits?: KeyLimits; paused?: Pause }): void {
    if (rule.limits === undefined && rule.paused === undefined) delete this.#doc.keys[key];
    else this.#doc.keys[key] = rule;
  }

  // ── receiving ──────────────────────────────────────────────────────────────────────────

  /**
   * The admission of one receive of up to `max`, or null when it may lease nothing: the queue
   * is paused, or the partition's share of maxInFlight is out (`leased`: what it has out).
   */
  gate(
    config: QueueConfig,
    now: number,
    partition: number,
    leased: number,
    counts: KeyCounts,
    max: number,
  ): Gate | null {
    this.#now = now;
    if (this.paused(now)) return null;
    const share = this.#share(config, partition);
    const room = Math.min(max, share === null ? max : share - leased);
    const limited = config.keyLimits !== undefined || Object.keys(this.#doc.keys).length > 0;
    return room > 0 ? new Gate(this, config, now, room, counts, limited) : null;
  }

  /**
   * After a receive: notes the turn of the keys it served (those it left none of behind are
   * no longer held) and writes the buckets it moved (one row).
   */
  commit(gate: Gate, served: Iterable<string>, fair: boolean): void {
    if (fair) this.#turn++;
    for (const key of served) {
      if (fair) this.#served.set(key, this.#turn);
      if (!gate.refused.has(key)) this.#held.delete(key);
    }
    // Keys with nothing waiting are forgotten once there are many, so memory follows the keys
    // that wait, not every key ever seen; the bar doubles, so it costs amortized O(1) a receive.
    const kept = () => this.#served.size + this.#held.size + this.#fresh.size;
    if (kept() > this.#forgetAbove) {
      for (const map of [this.#served, this.#held, this.#fresh]) {
        for (const key of map.keys()) if (gate.waiting(key) === 0) map.delete(key);
      }
      this.#forgetAbove = Math.max(FORGET_ABOVE, 2 * kept());
    }
    if (!this.#bucketsChanged) return;
    this.#bucketsChanged = false;
    const now = this.#now;
    for (const [key, tat] of this.#buckets) if (tat <= now) this.#buckets.delete(key);
    this.sql`INSERT INTO meta (name, value)
      VALUES ('rate', ${JSON.stringify(Object.fromEntries(this.#buckets))})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }

  /** Notes a fresh message of `key` in `segment` (sent, or found when loading, in id order). */
  noteFresh(key: string, segment: number): void {
    const fresh = this.#fresh.get(key);
    if (fresh === undefined) this.#fresh.set(key, { from: segment, count: 1 });
    else {
      fresh.from = Math.min(fresh.from, segment);
      fresh.count++;
    }
  }

  /** Counts fresh messages of these keys taken (a key with none left is dropped). */
  tookFresh(keys: string[]): void {
    for (const key of keys) {
      const fresh = this.#fresh.get(key);
      if (fresh !== undefined && --fresh.count <= 0) this.#fresh.delete(key);
    }
  }

  /** Where a key's fresh messages may begin: none below it (Infinity: it has none). */
  freshFrom(key: string): number {
    return this.#fresh.get(key)?.from ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Up to `count` keys looked at longest ago, with where they may have fresh messages and how
   * many of those to look for (at most `count`).
   */
  fairStarts(count: number, counts: KeyCounts): FairStart[] {
    const starts: FairStart[] = [];
    for (const [key, fresh] of this.#fresh) {
      if (starts.length >= count) break;
      // Nothing waiting: nothing fresh either (a purge or expiry took it).
      if (counts.waiting(key) === 0) this.#fresh.delete(key);
      else starts.push({ group: key, from: fresh.from, want: Math.min(fresh.count, count) });
    }
    return starts;
  }

  /** After a fair look: moves the keys it told about to the back, with where they now begin. */
  looked(froms: Map<string, number | null>): void {
    for (const [key, from] of froms) {
      const fresh = this.#fresh.get(key);
      if (fresh === undefined) continue;
      this.#fresh.delete(key);
      if (from !== null) this.#fresh.set(key, { from, count: fresh.count });
    }
  }

  /** Fairness: the key served longest ago first; keys never served before any other. */
  lastServed(key: string): number {
    return this.#served.get(key) ?? -1;
  }

  paused(now = this.#now): boolean {
    const { paused } = this.#doc;
    return paused !== null && (paused.until === null || paused.until > now);
  }

  keyPaused(key: string, now: number): boolean {
    const paused = this.#doc.keys[key]?.paused;
    return paused !== undefined && (paused.until === null || paused.until > now);
  }

  /** The queue's keyLimits overridden field by field by the key's own. */
  limitsOf(key: string, config: QueueConfig): KeyLimits {
    const own = this.#doc.keys[key]?.limits;
    return own ? { ...config.keyLimits, ...own } : (config.keyLimits ?? {});
  }

  /** Whether `count` more deliveries of the key fit its bucket now. */
  conforms(key: string, limits: KeyLimits, now: number, count: number): boolean {
    const { interval, tolerance } = bucketOf(limits);
    const tat = Math.max(this.#buckets.get(key) ?? now, now) + (count - 1) * interval;
    return tat - now <= tolerance + EPSILON_MS;
  }

  /** Counts one delivery of the key against its bucket. */
  took(key: string, config: QueueConfig, now: number): void {
    this.#now = now;
    const limits = this.limitsOf(key, config);
    if (limits.rate === undefined) return;
    const { interval } = bucketOf(limits);
    this.#buckets.set(key, Math.max(this.#buckets.get(key) ?? now, now) + interval);
    this.#bucketsChanged = true;
  }

  /** Notes a key a receive had to leave behind, and when its bucket next holds a token. */
  held(message: Gated, reason: HeldReason, now: number, limits: KeyLimits): void {
    const known = this.#held.get(message.group);
    const oldestSentAt = Math.min(known?.oldestSentAt ?? message.sentAt, message.sentAt);
    this.#held.set(message.group, { key: message.group, reason, oldestSentAt });
    const tat = this.#buckets.get(message.group);
    if (reason !== "rate" || tat === undefined) return;
    const refill = Math.max(now + 1, Math.ceil(tat - bucketOf(limits).tolerance - EPSILON_MS));
    this.#refillAt = this.#refillAt === null ? refill : Math.min(this.#refillAt, refill);
  }

  // ── time ───────────────────────────────────────────────────────────────────────────────

  /**
   * True when something that held messages back ended by `now` (a pause with an end, a key's
   * tokens refilling): the caller then lets waiting receives and push lanes look again.
   */
  due(now: number, config: QueueConfig): boolean {
    this.#now = now;
    this.#config = config;
    const refilled = this.#refillAt !== null && this.#refillAt <= now;
    if (refilled) this.#refillAt = null;
    return this.#dropEnded(now) || refilled;
  }

  /** When flow control next needs the alarm: a pause ending, a held key's tokens refilling. */
  nextAlarm(): number | null {
    const times = [this.#refillAt, this.#doc.paused?.until ?? null];
    for (const rule of Object.values(this.#doc.keys)) times.push(rule.paused?.until ?? null);
    let first: number | null = null;
    for (const time of times) if (time !== null && (first === null || time < first)) first = time;
    return first;
  }

  /** Forgets pauses that have ended (in memory: a stored one that ended counts as over). */
  #dropEnded(now: number): boolean {
    let ended = false;
    const over = (pause: Pause | null | undefined) =>
      pause != null && pause.until !== null && pause.until <= now;
    if (over(this.#doc.paused)) {
      this.#doc.paused = null;
      ended = true;
    }
    for (const [key, rule] of Object.entries(this.#doc.keys)) {
      if (!over(rule.paused)) continue;
      delete rule.paused;
      this.#setRule(key, rule);
      ended = true;
    }
    return ended;
  }

  // ── looking ────────────────────────────────────────────────────────────────────────────

  stats(given: QueueConfig | null, partition: number, counts: KeyCounts): FlowStats {
    const now = this.#now;
    const config = given ?? this.#config;
    const heldKeys = [...this.#held.values()]
      .filter((held) => counts.waiting(held.key) > 0)
      .sort((a, b) => a.oldestSentAt - b.oldestSentAt)
      .slice(0, HELD_KEYS_SHOWN);
    const pausedKeys = Object.keys(this.#doc.keys).filter((key) => this.keyPaused(key, now));
    return {
      paused: this.paused(now),
      pausedUntil: this.paused(now) ? (this.#doc.paused?.until ?? null) : null,
      pausedKeys: pausedKeys.length,
      heldKeys,
      inFlightShare: config ? this.#share(config, partition) : null,
    };
  }

  /** A key's state, for the key endpoints. */
  key(
    key: string,
    config: QueueConfig,
    partition: number,
    counts: KeyCounts,
  ): NonNullable<FlowAnswer["key"]> {
    const rule = this.#doc.keys[key];
    return {
      key,
      partition,
      limits: rule?.limits ?? null,
      effective: this.limitsOf(key, config),
      paused: this.keyPaused(key, this.#now) ? (rule?.paused ?? null) : null,
      leased: counts.leased(key),
      waiting: counts.waiting(key),
    };
  }

  #share(config: QueueConfig, partition: number): number | null {
    const cap = config.maxInFlight;
    return cap === undefined ? null : inFlightShare(cap, config.partitions, partition);
  }
}

/** A rate's bucket: ms between deliveries, and how far ahead of now a burst may run. */
function bucketOf(limits: KeyLimits): { interval: number; tolerance: number } {
  const rate = limits.rate ?? Number.POSITIVE_INFINITY;
  const interval = 1000 / rate;
  const burst = limits.burst ?? Math.max(1, Math.ceil(rate));
  return { interval, tolerance: (burst - 1) * interval };
}
