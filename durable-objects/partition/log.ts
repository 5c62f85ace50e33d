/**
 * The message log (storage v2): what a partition holds and how it moves. It inserts sends
 * (deduplicated within the window), leases in the queue's order, settles leases (ack, nack,
 * extend), applies what falls due (lease ends, delays, retention, dedup windows, clean-up) and
 * reports when that is next.
 *
 * Contract: every method runs synchronously inside the caller's transaction, so no other call
 * sees half of one; if one throws, the caller reloads the log (`load`), as the transaction's
 * writes were taken back. A lease is honoured only while it lasts; anything else is refused per
 * item. A message whose attempts run out goes to the dead-letter outbox in the same
 * transaction. An answer carries at most RPC_ANSWER_BUDGET characters of messages (always at
 * least one), and only what it carries is leased.
 *
 * Rows (docs/architecture.md, "Partition storage (v2)"): a group-commit round's messages are
 * one segment row (split by priority in priority order, past SEGMENT_MESSAGES or past
 * SEGMENT_BUDGET); a receive updates each segment it takes from, once; an ack updates each
 * segment once, and clears the bodies of one it empties; an emptied segment is deleted by the
 * alarm's clean-up once its dedup ids expire. A segment's state is padded so the row keeps one
 * size until it empties (segments.ts storedState). A message has a held row of its own only
 * when sent with a delay or given back for a retry. Counts, fifo group locks, due times and
 * dedup ids are in memory, rebuilt from the rows on start; none of it grows with ready
 * messages, only with fifo keys, leases, delays and live dedup ids.
 */
import { retryDelaySeconds } from "../../core/backoff.ts";
import type {
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
import { MAX_BATCH } from "../../core/contract.ts";
import type { FlowAnswer, FlowChange } from "../../core/flow.ts";
import { messageBytes, utf8Bytes } from "../../core/message-bytes.ts";
import type { QueueConfig } from "../../core/queue-config.ts";
import { encodeReceipt } from "../../core/receipt.ts";
import { insertJson, insertRows, type Sql } from "../sql.ts";
import { DedupIndex, type FirstSend } from "./dedup-index.ts";
import { FlowControl, type KeyCounts } from "./flow.ts";
import { MetricsHistory } from "./history.ts";
import {
  chooseFair,
  chooseFifo,
  chooseInOrder,
  type FairRun,
  fairFroms,
  LOOK_PAST_LIMIT,
  type Orderable,
  readFair,
} from "./order.ts";
import type { DeadLetterOutbox } from "./outbox.ts";
import {
  compact,
  decodeHeldMessage,
  decodeSegmentMessages,
  earliestLeaseEnd,
  encodeHeldMessage,
  encodeSegmentMessages,
  FRESH,
  GONE,
  type HeldRow,
  leaseOf,
  leaseToken,
  PRIORITY_STRIDE,
  type SegmentLease,
  type SegmentMeta,
  type SegmentRow,
  type SegmentState,
  type StoredMessage,
  segmentId,
  storedState,
  tokenSegment,
} from "./segments.ts";

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

/** UTF-8 bytes of bodies one segment row holds (a row may hold at most 2 MB). */
const SEGMENT_BUDGET = 1536 * 1024;

/**
 * Messages one segment row holds at most. A receive or an ack reads and rewrites the state of
 * each segment it touches, whole: rows of a batch's size keep that work near what the call
 * itself takes, and cost a round of many batches one row per batch.
 */
const SEGMENT_MESSAGES = MAX_BATCH;

/**
 * The alarm's clean-up (deleting emptied segments, writing the counters) runs at most this
 * often: its rows are shared by everything that happened meanwhile.
 */
const CLEANUP_INTERVAL_MS = 5_000;

const LEASE_TOKEN = /^[0-9a-f]{32}$/;

/**
 * With `fairness: "keys"`, how many of the oldest messages a receive looks at before dealing
 * keys their turns. Unordered: messages read (whole segments), besides a run from where each
 * of up to `max` keys looked at longest ago begins (order.ts readFair), so a key behind any
 * backlog is reached. Fifo: messages that could go (at most `max` of any one key).
 */
const FAIR_WINDOW = 1_000;

const SEGMENT_COLUMNS = [
  "id",
  "sent_at",
  "fresh",
  "live",
  "dedup_until",
  "state",
  "meta",
  "dedup",
  "messages",
] as const;

const SEGMENT_INSERT = `INSERT INTO segments (${SEGMENT_COLUMNS.join(", ")})`;

const HELD_COLUMNS = [
  "seq",
  "grp",
  "priority",
  "bytes",
  "sent_at",
  "state",
  "visible_at",
  "attempts",
  "lease_token",
  "leased_at",
  "failures",
  "message",
] as const;

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

/** An answer before the partition's stats are attached to it. */
export type Unstated<T> = T extends unknown ? Omit<T, "stats"> : never;

/** The new messages of a group-commit round, written together when the round ends. */
export interface Round {
  now: number;
  config: QueueConfig;
  /** Messages held before the round plus those its sends stored so far. */
  held: number;
  fresh: { message: StoredMessage; meta: SegmentMeta }[];
  delayed: HeldRow[];
  /** The round's new messages that carry a dedup id, by it, in seq order. */
  dedup: Map<string, FirstSend>;
}

/** How each message of a send is answered, decided before anything is staged. */
type SendSlot =
  | { kind: "new" }
  | { kind: "duplicate"; of: SentMessage }
  | { kind: "duplicateInBatch"; index: number };

type Cumulative = { acked: number; nacked: number; expired: number; deadLettered: number };

/** A message a receive may take, before it is taken. */
type Candidate = Orderable & { sentAt: number } & (
    | { from: "segment"; open: OpenSegment; index: number }
    | { from: "held" }
  );

/** The segment a fresh candidate lies in (a held one: its seq, never asked for). */
function segmentOf(candidate: Candidate): number {
  return candidate.from === "segment" ? candidate.open.row.id : candidate.seq;
}

/** A segment read for work on it: its state is changed in place and written once. */
type OpenSegment = {
  row: SegmentRow;
  state: SegmentState;
  meta: SegmentMeta[];
  messages?: StoredMessage[] | null;
};

/** What an ack, nack or extend read (see #read); `false`: no oldest was needed. */
type Reading = {
  segments: Map<number, OpenSegment>;
  held: Map<number, HeldRow>;
  /** The first live segment of each band besides those read, when the oldest was read. */
  oldestSegment: SegmentAge[] | false;
  oldestHeld: { seq: number; sentAt: number } | null | false;
};

/** A lease a reference named, still current. */
type Settled =
  | { from: "segment"; open: OpenSegment; index: number; lease: SegmentLease }
  | { from: "held"; row: HeldRow };

/** What settling changed, written once at the end (see #write). */
type Changes = {
  segments: Set<OpenSegment>;
  heldWrites: Map<number, HeldRow>;
  heldDeletes: Set<number>;
  dead: DeadMessage[];
};

function newChanges(): Changes {
  return { segments: new Set(), heldWrites: new Map(), heldDeletes: new Set(), dead: [] };
}

type Group = { waiting: number; leased: number };

type SegmentAge = { id: number; sentAt: number };

/**
 * Segment ids fall in bands of PRIORITY_STRIDE, one per priority (segments.ts); within a band
 * they grow with seq, so the first live segment of a band is its oldest.
 */
function bandOf(id: number): number {
  return Math.floor(id / PRIORITY_STRIDE);
}

export class MessageLog {
  /** Set when a change may have made a message receivable: parked receives look again. */
  receivableChanged = false;
  /** Set when a message moved to the outbox: the hand-off starts without waiting for the alarm. */
  deadLettered = false;
  /** Bumped by every change, so a caller can tell whether looking again may find anything. */
  changes = 0;

  #nextSeq = 1;
  /** `sent` is the seqs handed out less this (v1 counted sends apart from seqs). */
  #sentBase = 0;
  #cumulative: Cumulative = { acked: 0, nacked: 0, expired: 0, deadLettered: 0 };
  /** Acks counted in segment rows (their `acked`), not yet in the `log` row. */
  #ackedInSegments = 0;
  #counts = { fresh: 0, segmentLeased: 0, waiting: 0, delayed: 0, heldLeased: 0, bytes: 0 };
  /** Fifo groups with messages: how many wait and how many are leased. */
  #groups = new Map<string, Group>();
  /** Groups with waiting messages and nothing leased: where a fifo receive may start. */
  #freeGroups = 0;
  /** No segment below this id has a fresh message. */
  #freshFrom = 0;
  /**
   * The messages of the last segment a receive took part of and left fresh messages in: the
   * next receive most likely takes from it again, and need not read its bodies again (they
   * are written once; ids are not reused until `load`).
   */
  #keptMessages: { id: number; text: string } | null = null;
  /** Segments with leases, and the earliest lease end each had when last looked at. */
  #leasedSegments = new Map<number, number>();
  /** The earliest held due time after `#promotedUpTo` (a delay passing, a lease ending). */
  #heldDue: number | null = null;
  /** Held delays ending up to here are counted ready. */
  #promotedUpTo = 0;
  #oldestSegment: SegmentAge | null = null;
  /**
   * Per band, no live segment lies below this id: looking for the oldest seeks from here by
   * primary key, past the emptied segments kept for their dedup ids, rather than scanning them.
   */
  #liveFrom = new Map<number, number>();
  #oldestHeld: { seq: number; sentAt: number } | null = null;
  #cleanupDue: number | null = null;
  #lastCleanup = Number.NEGATIVE_INFINITY;
  /** Live dedup ids, checked against their rows (dedup-index.ts). */
  readonly #dedup: DedupIndex;
  /** Pauses, key limits, the queue-wide cap and fairness (flow.ts). */
  readonly #flow: FlowControl;
  /** Per-minute buckets of what happened, for 24 hours (history.ts). */
  readonly history: MetricsHistory;
  readonly #keys: KeyCounts = {
    leased: (key) => this.#groups.get(key)?.leased ?? 0,
    waiting: (key) => this.#groups.get(key)?.waiting ?? 0,
  };

  constructor(
    private readonly sql: Sql,
    private readonly identity: Identity,
    private readonly outbox: DeadLetterOutbox,
  ) {
    this.#flow = new FlowControl(sql);
    this.#dedup = new DedupIndex(sql);
    this.history = new MetricsHistory(sql, () => this.stats());
  }

  // ── loading ────────────────────────────────────────────────────────────────────────────

  /** Rebuilds what is kept in memory from the rows, as of `now`. */
  load(now: number): void {
    this.#flow.load(now);
    this.#counts = { fresh: 0, segmentLeased: 0, waiting: 0, delayed: 0, heldLeased: 0, bytes: 0 };
    this.#groups = new Map();
    this.#freeGroups = 0;
    this.#leasedSegments = new Map();
    this.#dedup.load(now);
    this.#freshFrom = Number.POSITIVE_INFINITY;
    this.#keptMessages = null;
    this.#oldestSegment = null;
    this.#liveFrom = new Map();
    this.#oldestHeld = null;
    this.#cleanupDue = null;
    const stored = this.sql<{ value: string }>`SELECT value FROM meta WHERE name = 'log'`.toArray();
    const log = stored[0] ? JSON.parse(stored[0].value) : {};
    this.#nextSeq = log.nextSeq ?? 1;
    this.#sentBase = log.sentBase ?? 0;
    this.#cumulative = {
      acked: log.acked ?? 0,
      nacked: log.nacked ?? 0,
      expired: log.expired ?? 0,
      deadLettered: log.deadLettered ?? 0,
    };
    this.#ackedInSegments = 0;
    const segments = this.sql<SegmentRow>`
      SELECT id, sent_at, fresh, live, acked, dedup_until, state, meta FROM segments
      ORDER BY id`;
    for (const row of segments) {
      this.#ackedInSegments += row.acked;
      const state: SegmentState = JSON.parse(row.state);
      const meta: SegmentMeta[] = JSON.parse(row.meta);
      meta.forEach(([seq, key, bytes], index) => {
        this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
        // A purged or expired segment keeps its meta but no state: all gone.
        const slot = state.s[index] ?? GONE;
        if (slot === GONE) return;
        this.#counts.bytes += bytes;
        if (slot === FRESH) {
          this.#counts.fresh++;
          this.#group(key ?? KEYLESS_GROUP, 1, 0);
          this.#flow.noteFresh(key ?? KEYLESS_GROUP, row.id);
        } else {
          this.#counts.segmentLeased++;
          this.#group(key ?? KEYLESS_GROUP, 0, 1);
        }
      });
      if (row.fresh > 0) this.#freshFrom = Math.min(this.#freshFrom, row.id);
      if (row.live > 0) this.#noteLiveSegment(row.id, row.sent_at);
      else this.#noteCleanup(row.dedup_until ?? now);
      const leaseEnd = earliestLeaseEnd(state);
      if (leaseEnd !== null) this.#leasedSegments.set(row.id, leaseEnd);
    }
    this.#cumulative.acked += this.#ackedInSegments;
    const held = this.sql<
      Pick<HeldRow, "seq" | "grp" | "state" | "visible_at" | "sent_at" | "bytes">
    >`
      SELECT seq, grp, state, visible_at, sent_at, bytes FROM held`;
    for (const row of held) {
      this.#nextSeq = Math.max(this.#nextSeq, row.seq + 1);
      this.#counts.bytes += row.bytes;
      if (row.state === "leased") {
        this.#counts.heldLeased++;
        this.#group(row.grp, 0, 1);
      } else {
        this.#counts.waiting++;
        if (row.visible_at > now) this.#counts.delayed++;
        this.#group(row.grp, 1, 0);
      }
      // A lease that ended while the object was away is due at once.
      if (row.state === "leased" || row.visible_at > now) this.#noteHeldDue(row.visible_at);
      this.#noteHeldAge(row.seq, row.sent_at);
    }
    this.#promotedUpTo = now;
    this.history.load();
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────

  startRound(now: number, config: QueueConfig): Round {
    return { now, config, held: this.#heldCount(), fresh: [], delayed: [], dedup: new Map() };
  }

  /**
   * Adds one send to the round, or refuses it whole. The round's earlier sends count against
   * the backlog limit. Throws, changing nothing, when a message cannot be stored.
   */
  writeSend(messages: NewMessage[], round: Round): Unstated<SendOutcome> {
    for (const message of messages) assertStorable(message);
    const { now, config } = round;
    const window = config.dedupWindow * 1000;
    const firstInBatch = new Map<string, number>();
    // Ids not sent earlier in this round are looked up in the rows, all in one statement.
    const stored = this.#dedup.find(
      window > 0
        ? messages.flatMap(({ dedupId }) =>
            dedupId === undefined || round.dedup.has(dedupId) ? [] : [dedupId],
          )
        : [],
      now,
    );
    const slots = messages.map((message, index): SendSlot => {
      const dedupId = window > 0 ? message.dedupId : undefined;
      if (dedupId === undefined) return { kind: "new" };
      const earlier = firstInBatch.get(dedupId);
      if (earlier !== undefined) return { kind: "duplicateInBatch", index: earlier };
      const seen = round.dedup.get(dedupId) ?? stored.get(dedupId);
      if (seen) return { kind: "duplicate", of: { id: seen.id, seq: seen.seq, duplicate: true } };
      firstInBatch.set(dedupId, index);
      return { kind: "new" };
    });
    const added = slots.filter((slot) => slot.kind === "new").length;
    if (added > 0 && round.held + added > config.backlog.hard) {
      this.history.refused();
      return { ok: false, code: "backlog_full", retryAfterSeconds: BACKLOG_RETRY_AFTER_SECONDS };
    }
    const sent: SentMessage[] = [];
    slots.forEach((slot, index) => {
      if (slot.kind === "duplicate") sent.push(slot.of);
      else if (slot.kind === "duplicateInBatch")
        sent.push({ ...sent[slot.index], duplicate: true });
      else sent.push(this.#stage(messages[index], round));
    });
    round.held += added;
    return { ok: true, messages: sent, backpressure: round.held > config.backlog.soft };
  }

  /** Gives a new message its seq and id and puts it in the round. */
  #stage(message: NewMessage, round: Round): SentMessage {
    const { now, config } = round;
    const seq = this.#nextSeq++;
    const stored: StoredMessage = {
      id: crypto.randomUUID(),
      body: message.body,
      contentType: message.contentType,
      headers: message.headers,
    };
    const key = message.key ?? null;
    const priority = message.priority ?? 0;
    const bytes = messageBytes(message);
    const dedupId = config.dedupWindow > 0 ? message.dedupId : undefined;
    if (dedupId !== undefined) round.dedup.set(dedupId, { seq, id: stored.id });
    const visibleAt = now + (message.delaySeconds ?? 0) * 1000;
    if (visibleAt > now) {
      round.delayed.push({
        seq,
        grp: key ?? KEYLESS_GROUP,
        priority,
        bytes,
        sent_at: now,
        state: "waiting",
        visible_at: visibleAt,
        attempts: 0,
        lease_token: null,
        leased_at: null,
        failures: "[]",
        message: encodeHeldMessage(stored, key),
      });
    } else {
      round.fresh.push({ message: stored, meta: [seq, key, bytes, priority] });
    }
    return { id: stored.id, seq, duplicate: false };
  }

  /**
   * Writes the round: its new messages as one segment row (one per priority in priority
   * order, more past SEGMENT_MESSAGES or SEGMENT_BUDGET) with the round's dedup ids, in one
   * INSERT, and its
   * delayed messages as held rows, in another.
   */
  endRound(round: Round): void {
    const { now, config } = round;
    const byPriority = new Map<number, { chunks: Round["fresh"][]; used: number }>();
    for (const entry of round.fresh) {
      const priority = config.ordering === "priority" ? entry.meta[3] : 0;
      const open = byPriority.get(priority) ?? { chunks: [[]], used: 0 };
      byPriority.set(priority, open);
      const size = utf8Bytes(entry.message.body);
      const last = open.chunks[open.chunks.length - 1];
      if (
        last.length === SEGMENT_MESSAGES ||
        (open.used > 0 && open.used + size > SEGMENT_BUDGET)
      ) {
        open.chunks.push([]);
        open.used = 0;
      }
      open.chunks[open.chunks.length - 1].push(entry);
      open.used += size;
    }
    const segments = [...byPriority.entries()].flatMap(([priority, { chunks }]) =>
      chunks.map((entries) => ({ id: segmentId(priority, entries[0].meta[0]), entries })),
    );
    // Dedup ids ride with the round's first segment; a round of delayed messages only gets a
    // segment of no messages to keep them.
    const dedupList = [...round.dedup].map(([dedupId, { seq, id }]) => [dedupId, seq, id] as const);
    if (segments.length === 0 && dedupList.length > 0) {
      segments.push({ id: segmentId(0, dedupList[0][1]), entries: [] });
    }
    if (segments.length > 0) {
      const window = config.dedupWindow * 1000;
      const rows = segments.map(({ id, entries }, index) => {
        const dedup = index === 0 && dedupList.length > 0 ? dedupList : null;
        for (const { meta } of entries) {
          this.#counts.bytes += meta[2];
          this.#group(meta[1] ?? KEYLESS_GROUP, 1, 0);
          this.#flow.noteFresh(meta[1] ?? KEYLESS_GROUP, id);
        }
        this.#counts.fresh += entries.length;
        if (entries.length > 0) {
          this.#freshFrom = Math.min(this.#freshFrom, id);
          this.#noteLiveSegment(id, now);
        } else {
          this.#noteCleanup(now + window);
        }
        return {
          id,
          sent_at: now,
          fresh: entries.length,
          live: entries.length,
          dedup_until: dedup ? now + window : null,
          state: storedState({ l: [], s: entries.map(() => FRESH) }, entries.length, {
            fresh: entries.length,
            live: entries.length,
            acked: 0,
          }),
          meta: JSON.stringify(entries.map((entry) => entry.meta)),
          dedup: dedup ? JSON.stringify(dedup) : null,
          messages: encodeSegmentMessages(entries.map((entry) => entry.message)),
        };
      });
      // Plain VALUES, not insertJson: the messages column is most of a round's bytes, and
      // wrapping it in JSON to unwrap it again in SQLite cost a third of a batched send.
      insertRows(
        this.sql,
        SEGMENT_INSERT,
        rows.map((row) => SEGMENT_COLUMNS.map((column) => row[column])),
        "",
      );
      this.#dedup.add(segments[0].id, now + window, [...round.dedup.keys()]);
    }
    if (round.fresh.length > 0) this.receivableChanged = true;
    if (round.delayed.length > 0) {
      this.#writeHeld(round.delayed);
      for (const row of round.delayed) {
        this.#counts.bytes += row.bytes;
        this.#counts.waiting++;
        this.#counts.delayed++;
        this.#group(row.grp, 1, 0);
        this.#noteHeldDue(row.visible_at);
        this.#noteHeldAge(row.seq, row.sent_at);
      }
    }
    if (round.fresh.length + round.delayed.length > 0) this.changes++;
  }

  // ── leasing ────────────────────────────────────────────────────────────────────────────

  /** Leases up to `max` ready messages in the queue's order, within the answer budget. */
  lease(max: number, visibilityTimeout: number, now: number, config: QueueConfig): LeasedMessage[] {
    const leasedNow = this.#counts.segmentLeased + this.#counts.heldLeased;
    const gate = this.#flow.gate(config, now, this.identity.partition, leasedNow, this.#keys, max);
    if (gate === null) return [];
    const opened = new Map<number, OpenSegment>();
    const scan = { exhausted: false, last: 0 };
    const byPriority = config.ordering === "priority";
    // Fair: look at a window of messages (open counts nothing), then deal keys their turns.
    const fair = config.fairness === "keys";
    // Unordered, it also reads on from where the keys looked at longest ago begin (order.ts).
    const starts =
      fair && config.ordering === "unordered" ? this.#flow.fairStarts(gate.room, this.#keys) : null;
    const runs: FairRun<Candidate>[] = [];
    const fresh = starts
      ? readFair(
          (from, front) =>
            front
              ? this.#freshStream(opened, scan)
              : this.#freshStream(new Map(), { exhausted: false, last: 0 }, from),
          {
            front: this.#freshFrom,
            window: FAIR_WINDOW,
            starts,
            segment: segmentOf,
            from: (group) => this.#flow.freshFrom(group),
          },
          runs,
        )
      : this.#freshStream(opened, scan);
    const pick = fair
      ? { max: FAIR_WINDOW, budget: Number.POSITIVE_INFINITY, admit: gate.open }
      : { max: gate.room, budget: RPC_ANSWER_BUDGET, admit: gate.admit };
    const heldLimit = gate.limited ? pick.max + LOOK_PAST_LIMIT : pick.max;
    // Held messages are read first: the fresh scan stays open while the choice is made.
    let chosen =
      config.ordering === "fifo"
        ? this.#freeGroups === 0
          ? []
          : chooseFifo(this.#waitingHeld(now), fresh, {
              ...pick,
              groups: this.#groups,
              freeGroups: this.#freeGroups,
            })
        : chooseInOrder(this.#readyHeld(heldLimit, now, byPriority), fresh, {
            ...pick,
            byPriority,
          });
    if (fair) {
      chosen = chooseFair(chosen, {
        max: gate.room,
        budget: RPC_ANSWER_BUDGET,
        admit: gate.admit,
        lastServed: (group) => this.#flow.lastServed(group),
      });
    }
    const leased = this.#take(chosen, visibilityTimeout, now);
    this.#flow.tookFresh(chosen.flatMap((c) => (c.from === "segment" ? [c.group] : [])));
    if (starts) {
      const fresh = (c: Candidate) => c.from === "segment" && c.open.state.s[c.index] === FRESH;
      this.#flow.looked(fairFroms(runs, starts, { segment: segmentOf, fresh }));
    }
    this.#flow.commit(
      gate,
      chosen.map((candidate) => candidate.group),
      fair,
    );
    // The first segment looked at that still has fresh messages is where the next look starts.
    const first = [...opened.values()].find((open) => open.row.fresh > 0);
    if (first) this.#freshFrom = first.row.id;
    else if (opened.size > 0 || scan.exhausted) {
      this.#freshFrom = scan.exhausted ? Number.POSITIVE_INFINITY : scan.last + 1;
    }
    return leased;
  }

  /** Whether a receive would find a message now (as far as counts tell: a key may be held). */
  receivable(config: QueueConfig): boolean {
    return (
      this.readyCount() > 0 &&
      (config.ordering !== "fifo" || this.#freeGroups > 0) &&
      !this.#flow.paused()
    );
  }

  /** Applies a flow change (pause, resume, a key's limits) and answers the state after it. */
  changeFlow(change: FlowChange, now: number, config: QueueConfig): FlowAnswer {
    this.#flow.apply(change, now);
    // A resume or a looser limit may release messages: waiting receives and push look again.
    this.receivableChanged = true;
    this.changes++;
    const key =
      change.key === null
        ? null
        : this.#flow.key(change.key, config, this.identity.partition, this.#keys);
    return { flow: this.#flow.stats(config, this.identity.partition, this.#keys), key };
  }

  /**
   * Fresh messages in segment id order (seq order; priority, seq in priority order), from the
   * first segment with one or from `from` on.
   */
  *#freshStream(
    opened: Map<number, OpenSegment>,
    scan: { exhausted: boolean; last: number },
    from = this.#freshFrom,
  ): Generator<Candidate> {
    if (this.#counts.fresh === 0 || !Number.isFinite(this.#freshFrom)) {
      scan.exhausted = true;
      return;
    }
    const rows = this.sql<SegmentRow>`
      SELECT id, sent_at, fresh, live, acked, dedup_until, state, meta FROM segments
      WHERE id >= ${from} AND fresh > 0 ORDER BY id`;
    for (const row of rows) {
      const open: OpenSegment = {
        row,
        state: JSON.parse(row.state),
        meta: JSON.parse(row.meta),
      };
      opened.set(row.id, open);
      scan.last = row.id;
      for (const [index, [seq, key, bytes, priority]] of open.meta.entries()) {
        if (open.state.s[index] !== FRESH) continue;
        yield {
          from: "segment",
          seq,
          sentAt: row.sent_at,
          group: key ?? KEYLESS_GROUP,
          ready: true,
          size: bytes,
          priority,
          open,
          index,
        };
      }
    }
    scan.exhausted = true;
  }

  /** Ready held messages in unordered or priority order, at most `max`. */
  #readyHeld(max: number, now: number, byPriority: boolean): Candidate[] {
    if (this.#counts.waiting - this.#counts.delayed === 0) return [];
    const rows = byPriority
      ? this.sql<HeldCandidateRow>`
          SELECT seq, grp, bytes, priority, sent_at FROM held INDEXED BY held_due
          WHERE state = 'waiting' AND visible_at <= ${now}
          ORDER BY priority DESC, seq LIMIT ${max}`
      : this.sql<HeldCandidateRow>`
          SELECT seq, grp, bytes, priority, sent_at FROM held INDEXED BY held_due
          WHERE state = 'waiting' AND visible_at <= ${now} ORDER BY seq LIMIT ${max}`;
    return rows.toArray().map((row) => heldCandidate(row, true));
  }

  /** Every waiting held message by seq, ready or not (a held fifo head may hold its group). */
  #waitingHeld(now: number): Candidate[] {
    if (this.#counts.waiting === 0) return [];
    return this.sql<HeldCandidateRow & Pick<HeldRow, "visible_at">>`
      SELECT seq, grp, bytes, priority, sent_at, visible_at FROM held WHERE state = 'waiting'
      ORDER BY seq`
      .toArray()
      .map((row) => heldCandidate(row, row.visible_at <= now));
  }

  /** Leases the chosen messages: one UPDATE of their segments, one of their held rows. */
  #take(chosen: Candidate[], visibilityTimeout: number, now: number): LeasedMessage[] {
    if (chosen.length === 0) return [];
    const leaseEnd = now + visibilityTimeout * 1000;
    const segments = new Map<number, { open: OpenSegment; tokens: Map<number, string> }>();
    const heldSeqs: number[] = [];
    for (const candidate of chosen) {
      this.#group(candidate.group, -1, 1);
      if (candidate.from === "held") {
        heldSeqs.push(candidate.seq);
        continue;
      }
      // Every message its own lease, so each receipt settles exactly one message.
      const { open } = candidate;
      if (!segments.has(open.row.id)) segments.set(open.row.id, { open, tokens: new Map() });
      const token = leaseToken(open.row.id);
      segments.get(open.row.id)?.tokens.set(candidate.index, token);
      open.state.l.push([token, now, leaseEnd]);
      open.state.s[candidate.index] = open.state.l.length + 1;
      open.row.fresh--;
    }
    const bodies = new Map<number, StoredMessage[]>();
    if (segments.size > 0) {
      const updates = [...segments.values()].map(({ open }) => ({
        id: open.row.id,
        state: storedState(open.state, open.meta.length, open.row),
        fresh: open.row.fresh,
      }));
      const kept = this.#keptMessages;
      const rows = this.sql<{ id: number; messages: string | null }>`
        UPDATE segments SET state = u.value ->> 'state', fresh = u.value ->> 'fresh'
        FROM json_each(${JSON.stringify(updates)}) AS u WHERE segments.id = u.value ->> 'id'
        RETURNING segments.id AS id,
          CASE WHEN segments.id = ${kept?.id ?? -1} THEN NULL ELSE segments.messages END AS messages`;
      for (const row of rows) {
        const text = row.messages ?? (kept as { text: string }).text;
        const wanted = segments.get(row.id)?.tokens;
        bodies.set(row.id, decodeSegmentMessages(text, new Set(wanted?.keys())));
        const open = segments.get(row.id)?.open;
        if (open && open.row.fresh > 0) this.#keptMessages = { id: row.id, text };
      }
      for (const { open } of segments.values()) {
        const earliest = this.#leasedSegments.get(open.row.id);
        this.#leasedSegments.set(open.row.id, Math.min(earliest ?? leaseEnd, leaseEnd));
      }
    }
    const held = new Map<number, HeldRow>();
    if (heldSeqs.length > 0) {
      const leases = heldSeqs.map((seq) => ({ seq, token: leaseToken(0) }));
      const rows = this.sql<HeldRow>`
        UPDATE held SET state = 'leased', lease_token = l.value ->> 'token', leased_at = ${now},
          visible_at = ${leaseEnd}, attempts = attempts + 1
        FROM json_each(${JSON.stringify(leases)}) AS l WHERE held.seq = l.value ->> 'seq'
        RETURNING seq, grp, priority, bytes, sent_at, state, visible_at, attempts, lease_token,
          leased_at, failures, message`;
      for (const row of rows) held.set(row.seq, row);
      this.#noteHeldDue(leaseEnd);
    }
    const segmentTaken = chosen.length - heldSeqs.length;
    this.#counts.fresh -= segmentTaken;
    this.#counts.segmentLeased += segmentTaken;
    this.#counts.waiting -= heldSeqs.length;
    this.#counts.heldLeased += heldSeqs.length;
    this.changes++;
    return chosen.map((candidate) => {
      if (candidate.from === "held") {
        const row = held.get(candidate.seq) as HeldRow;
        return this.#leased(row, row.lease_token as string, leaseEnd);
      }
      const { open, index } = candidate;
      const [seq, key, , priority] = open.meta[index];
      const message = (bodies.get(open.row.id) as StoredMessage[])[index];
      const token = segments.get(open.row.id)?.tokens.get(index) as string;
      return {
        ...describe(message, { seq, key, priority, attempts: 1, sentAt: open.row.sent_at }),
        partition: this.identity.partition,
        receipt: encodeReceipt({ partition: this.identity.partition, seq, token }),
        leaseExpiresAt: leaseEnd,
      };
    });
  }

  #leased(row: HeldRow, token: string, leaseEnd: number): LeasedMessage {
    return {
      ...this.#describeHeld(row),
      receipt: encodeReceipt({ partition: this.identity.partition, seq: row.seq, token }),
      leaseExpiresAt: leaseEnd,
    };
  }

  /** A held row's message as answers show it. */
  #describeHeld(row: HeldRow) {
    const { key, ...message } = decodeHeldMessage(row.message);
    const { seq, priority, attempts, sent_at: sentAt } = row;
    return {
      ...describe(message, { seq, key, priority, attempts, sentAt }),
      partition: this.identity.partition,
    };
  }

  // ── settling ───────────────────────────────────────────────────────────────────────────

  /**
   * Reads, in one statement, the segments and held rows `refs` name, and when one of them
   * holds the oldest message, the oldest of the rest: all an ack, nack or extend needs.
   */
  #read(refs: LeaseRef[], bodies: boolean): Reading {
    const segmentIds = [
      ...new Set(refs.map((ref) => tokenSegment(ref.token)).filter((id) => id > 0)),
    ];
    // Every seq, not only those of held tokens: a lease from storage v1 is a held row whose
    // token names no segment.
    const heldSeqs = refs.map((ref) => ref.seq);
    const oldestSegment =
      this.#oldestSegment !== null && segmentIds.includes(this.#oldestSegment.id);
    const bands = oldestSegment ? this.#liveBands() : "[]";
    const oldestHeld = this.#oldestHeld !== null && heldSeqs.includes(this.#oldestHeld.seq);
    const segments = JSON.stringify(segmentIds);
    const held = JSON.stringify(heldSeqs);
    const reading: Reading = {
      segments: new Map(),
      held: new Map(),
      oldestSegment: oldestSegment ? [] : false,
      oldestHeld: oldestHeld ? null : false,
    };
    const rows = this.sql<{ kind: string; doc: string }>`
      SELECT 'segment' AS kind, json_object('id', id, 'sent_at', sent_at, 'fresh', fresh,
          'live', live, 'acked', acked, 'dedup_until', dedup_until, 'state', state, 'meta', meta,
          'messages', CASE WHEN ${bodies ? 1 : 0} THEN messages END) AS doc
        FROM segments WHERE id IN (SELECT value FROM json_each(${segments}))
      UNION ALL SELECT 'held', json_object('seq', seq, 'grp', grp, 'priority', priority,
          'bytes', bytes, 'sent_at', sent_at, 'state', state, 'visible_at', visible_at,
          'attempts', attempts, 'lease_token', lease_token, 'leased_at', leased_at,
          'failures', failures, 'message', CASE WHEN ${bodies ? 1 : 0} THEN message END)
        FROM held WHERE seq IN (SELECT value FROM json_each(${held}))
      UNION ALL SELECT 'oldestSegment', json_object('id', s.id, 'sent_at', s.sent_at)
        FROM json_each(${bands}) AS b JOIN segments AS s ON s.id = (SELECT id FROM segments
          WHERE id >= b.value ->> 0 AND id < b.value ->> 1 AND live > 0
            AND id NOT IN (SELECT value FROM json_each(${segments}))
          ORDER BY id LIMIT 1)
      UNION ALL SELECT 'oldestHeld', json_object('seq', seq, 'sent_at', sent_at) FROM (
        SELECT seq, sent_at FROM held WHERE ${oldestHeld ? 1 : 0}
          AND seq NOT IN (SELECT value FROM json_each(${held}))
        ORDER BY sent_at, seq LIMIT 1)`;
    for (const { kind, doc } of rows) {
      const row = JSON.parse(doc);
      if (kind === "segment") {
        reading.segments.set(row.id, {
          row,
          state: JSON.parse(row.state),
          meta: JSON.parse(row.meta),
          messages: row.messages === null ? null : decodeSegmentMessages(row.messages),
        });
      } else if (kind === "held") {
        reading.held.set(row.seq, row);
      } else if (kind === "oldestSegment") {
        (reading.oldestSegment as SegmentAge[]).push({ id: row.id, sentAt: row.sent_at });
      } else {
        reading.oldestHeld = { seq: row.seq, sentAt: row.sent_at };
      }
    }
    return reading;
  }

  /**
   * Resolves each lease reference to the lease it names and applies `settle` to it, or
   * answers why not: a reference that is not one is invalid; one whose lease is over
   * (expired, re-leased, acked, dead-lettered) is stale, in the order of `refs`. Then writes
   * what `settle` changed.
   */
  #settle(
    refs: LeaseRef[],
    bodies: boolean,
    now: number,
    settle: (item: Settled, changes: Changes) => void,
  ): ItemFailure[] {
    const failed: ItemFailure[] = [];
    const valid = refs.filter(isLeaseRef);
    const reading = valid.length > 0 ? this.#read(valid, bodies) : null;
    const changes = newChanges();
    refs.forEach((ref, index) => {
      if (!isLeaseRef(ref) || !reading) {
        failed.push({ index, code: "receipt_invalid" });
        return;
      }
      // Resolved against what this call already changed: an acked or nacked lease named
      // again is stale; an extended one is still current.
      const item = this.#resolve(reading, ref);
      if (item) settle(item, changes);
      else failed.push({ index, code: "receipt_stale" });
    });
    if (reading) this.#write(reading, changes, now);
    return failed;
  }

  #resolve(reading: Reading, ref: LeaseRef): Settled | null {
    const open = reading.segments.get(tokenSegment(ref.token));
    const index = open?.meta.findIndex(([seq]) => seq === ref.seq) ?? -1;
    if (open && index >= 0) {
      const lease = leaseOf(open.state, index);
      return lease?.[0] === ref.token ? { from: "segment", open, index, lease } : null;
    }
    const row = reading.held.get(ref.seq);
    const current = row?.state === "leased" && row.lease_token === ref.token;
    return current ? { from: "held", row } : null;
  }

  /** Deletes leased messages: one UPDATE of their segments, one DELETE of their held rows. */
  ack(leases: LeaseRef[], now: number): { acked: number; failed: ItemFailure[] } {
    let acked = 0;
    let heldAcked = 0;
    const failed = this.#settle(leases, false, now, (item, changes) => {
      const leasedAt = item.from === "segment" ? item.lease[1] : item.row.leased_at;
      if (leasedAt !== null) this.history.acked(now - leasedAt);
      this.#remove(item, changes);
      // The count rides in the segment row the ack writes anyway; a held row's in the log row.
      if (item.from === "segment") {
        item.open.row.acked++;
        this.#ackedInSegments++;
      } else {
        heldAcked++;
      }
      acked++;
    });
    this.#cumulative.acked += acked;
    if (heldAcked > 0) this.#persist();
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
    const failed = this.#settle(leases, true, now, (item, changes) => {
      const attempt = item.from === "held" ? item.row.attempts : 1;
      const failure: Failure = { at: now, attempt, ...cause };
      if (this.#fail(item, failure, now, config, changes, delaySeconds)) retried++;
      else deadLettered++;
    });
    this.#cumulative.nacked += retried + deadLettered;
    if (retried + deadLettered > 0) this.#persist();
    return { retried, deadLettered, failed };
  }

  /** Moves the end of leases to `visibilityTimeout` seconds from now. */
  extend(
    leases: LeaseRef[],
    visibilityTimeout: number,
    now: number,
  ): { extended: number; failed: ItemFailure[] } {
    let extended = 0;
    const leaseEnd = now + visibilityTimeout * 1000;
    // Bodies too: a held row is written back whole.
    const failed = this.#settle(leases, true, now, (item, changes) => {
      if (item.from === "held") {
        item.row.visible_at = leaseEnd;
        changes.heldWrites.set(item.row.seq, item.row);
        this.#noteHeldDue(leaseEnd);
      } else {
        const { open, index, lease } = item;
        open.state.l.push([lease[0], lease[1], leaseEnd]);
        open.state.s[index] = open.state.l.length + 1;
        changes.segments.add(open);
      }
      extended++;
    });
    return { extended, failed };
  }

  /** Takes a settled message out of the log (acked, dead or dropped). */
  #remove(item: Settled, changes: Changes): void {
    if (item.from === "held") {
      const { row } = item;
      row.lease_token = null;
      changes.heldDeletes.add(row.seq);
      changes.heldWrites.delete(row.seq);
      this.#counts.bytes -= row.bytes;
      this.#counts.heldLeased--;
      this.#group(row.grp, 0, -1);
      return;
    }
    const { open, index } = item;
    const [, key, bytes] = open.meta[index];
    open.state.s[index] = GONE;
    open.row.live--;
    changes.segments.add(open);
    this.#counts.bytes -= bytes;
    this.#counts.segmentLeased--;
    this.#group(key ?? KEYLESS_GROUP, 0, -1);
  }

  /**
   * Records a failed attempt; true when the message will be retried, false when it died. It
   * dies when its attempts have reached maxAttempts; otherwise it is a held row, visible again
   * after `delaySeconds`, or after the retry backoff, counted from the failure (not from when
   * it was noticed, so a late alarm changes nothing).
   */
  #fail(
    item: Settled,
    failure: Failure,
    now: number,
    config: QueueConfig,
    changes: Changes,
    delaySeconds?: number,
  ): boolean {
    const row = item.from === "held" ? item.row : this.#heldFromSegment(item, now);
    const failures: Failure[] = [...JSON.parse(row.failures), failure];
    if (row.attempts >= config.maxAttempts) {
      changes.dead.push({
        ...this.#describeHeld(row),
        queue: this.identity.queue,
        failures,
        diedAt: failure.at,
      });
      this.#remove(item, changes);
      this.#cumulative.deadLettered++;
      this.deadLettered = true;
      this.receivableChanged = true;
      return false;
    }
    const delay = delaySeconds ?? retryDelaySeconds(config.retry, row.attempts);
    const visibleAt = failure.at + Math.round(delay * 1000);
    const retry: HeldRow = {
      ...row,
      state: "waiting",
      visible_at: visibleAt,
      lease_token: null,
      leased_at: null,
      failures: JSON.stringify(failures),
    };
    if (item.from === "segment") {
      // Out of its segment, into a row of its own; bytes and group stay counted.
      const { open, index } = item;
      open.state.s[index] = GONE;
      open.row.live--;
      changes.segments.add(open);
      this.#counts.segmentLeased--;
      this.#noteHeldAge(retry.seq, retry.sent_at);
    } else {
      item.row.lease_token = null;
      this.#counts.heldLeased--;
    }
    changes.heldWrites.set(retry.seq, retry);
    this.#counts.waiting++;
    if (visibleAt > now) {
      this.#counts.delayed++;
      this.#noteHeldDue(visibleAt);
    }
    this.#group(retry.grp, 1, -1);
    // Even a delayed retry may unlock its fifo group for an earlier message.
    this.receivableChanged = true;
    return true;
  }

  /** The held row a segment's leased message becomes when it leaves its segment. */
  #heldFromSegment(item: Extract<Settled, { from: "segment" }>, now: number): HeldRow {
    const { open, index, lease } = item;
    const [seq, key, bytes, priority] = open.meta[index];
    const message = (open.messages as StoredMessage[])[index];
    return {
      seq,
      grp: key ?? KEYLESS_GROUP,
      priority,
      bytes,
      sent_at: open.row.sent_at,
      state: "leased",
      visible_at: lease[2],
      attempts: 1,
      lease_token: lease[0],
      leased_at: lease[1] ?? now,
      failures: "[]",
      message: encodeHeldMessage(message, key),
    };
  }

  /** Writes what settling changed: one statement per kind of change. */
  #write(reading: Reading, changes: Changes, now: number): void {
    if (changes.segments.size > 0) {
      const updates = [...changes.segments].map((open) => {
        const state = compact(open.state);
        const leaseEnd = earliestLeaseEnd(state);
        if (leaseEnd === null) this.#leasedSegments.delete(open.row.id);
        else this.#leasedSegments.set(open.row.id, leaseEnd);
        if (open.row.live === 0) this.#noteCleanup(Math.max(now, open.row.dedup_until ?? now));
        const { id, live, acked } = open.row;
        return { id, state: storedState(state, open.meta.length, open.row), live, acked };
      });
      // An emptied segment stays for its dedup ids only: its bodies go now, in the same write.
      this.sql`UPDATE segments SET state = u.value ->> 'state', live = u.value ->> 'live',
          acked = u.value ->> 'acked',
          messages = CASE WHEN u.value ->> 'live' = 0 THEN '' ELSE messages END
        FROM json_each(${JSON.stringify(updates)}) AS u WHERE segments.id = u.value ->> 'id'`;
    }
    this.#writeHeld([...changes.heldWrites.values()]);
    if (changes.heldDeletes.size > 0) {
      this.sql`DELETE FROM held
        WHERE seq IN (SELECT value FROM json_each(${JSON.stringify([...changes.heldDeletes])}))`;
    }
    if (changes.dead.length > 0) this.outbox.add(changes.dead);
    // A due time of held rows that are all gone can only be stale.
    if (this.#counts.waiting + this.#counts.heldLeased === 0) this.#heldDue = null;
    if (reading.oldestSegment !== false) {
      // The oldest segment was settled: the oldest is now the first live one of a band, or
      // among the still-live settled ones.
      const settled = [...reading.segments.values()]
        .filter((open) => open.row.live > 0)
        .map((open) => ({ id: open.row.id, sentAt: open.row.sent_at }));
      this.#settleOldest([...reading.oldestSegment, ...settled]);
    }
    if (reading.oldestHeld !== false) {
      const candidates = [...reading.held.values(), ...changes.heldWrites.values()]
        .filter((row) => !changes.heldDeletes.has(row.seq))
        .map((row) => ({ seq: row.seq, sentAt: row.sent_at }));
      if (reading.oldestHeld) candidates.push(reading.oldestHeld);
      this.#oldestHeld = oldestOf(candidates, (c) => c.sentAt);
    }
    this.changes++;
  }

  // ── time ───────────────────────────────────────────────────────────────────────────────

  /**
   * Applies everything due at `now`: delays that passed make held messages ready; leases that
   * ended before their message's retention are failed attempts; messages past retention are
   * dropped; old dedup ids are forgotten. Reads and writes only when something is due.
   */
  sweep(now: number, config: QueueConfig): void {
    this.history.roll(now);
    if (this.#flow.due(now, config)) {
      this.receivableChanged = true;
      this.changes++;
    }
    const heldDue = this.#heldDue !== null && this.#heldDue <= now;
    if (heldDue) {
      const { promoted } = this.sql<{ promoted: number }>`
        SELECT count(*) AS promoted FROM held
        WHERE state = 'waiting' AND visible_at > ${this.#promotedUpTo} AND visible_at <= ${now}`.one();
      this.#counts.delayed -= promoted;
      if (promoted > 0) {
        this.receivableChanged = true;
        this.changes++;
      }
    }
    this.#promotedUpTo = now;
    const retention = config.retention * 1000;
    const segments = [...this.#leasedSegments].filter(([, end]) => end <= now).map(([id]) => id);
    if (segments.length > 0 || heldDue)
      this.#expireLeases(segments, heldDue, now, retention, config);
    if (heldDue) {
      this.#heldDue = this.sql<{ due: number | null }>`
        SELECT min(visible_at) AS due FROM held WHERE visible_at > ${now}`.one().due;
    }
    const oldest = this.#oldestSentAt();
    if (oldest !== null && oldest <= now - retention) this.#dropExpired(now - retention);
    this.#dedup.forget(now);
  }

  /** Fails every lease that ended by `now` (those outliving retention are dropped instead). */
  #expireLeases(
    segmentIds: number[],
    heldDue: boolean,
    now: number,
    retention: number,
    config: QueueConfig,
  ): void {
    const reading: Reading = {
      segments: new Map(),
      held: new Map(),
      oldestSegment: false,
      oldestHeld: false,
    };
    const ended: Settled[] = [];
    if (segmentIds.length > 0) {
      const rows = this.sql<SegmentRow>`SELECT * FROM segments
        WHERE id IN (SELECT value FROM json_each(${JSON.stringify(segmentIds)}))`;
      for (const row of rows) {
        const open: OpenSegment = {
          row,
          state: JSON.parse(row.state),
          meta: JSON.parse(row.meta),
          messages: decodeSegmentMessages(row.messages as string),
        };
        reading.segments.set(row.id, open);
        open.meta.forEach((_, index) => {
          const lease = leaseOf(open.state, index);
          if (lease && lease[2] <= now) ended.push({ from: "segment", open, index, lease });
        });
      }
    }
    if (heldDue) {
      const rows = this.sql<HeldRow>`SELECT * FROM held
        WHERE state = 'leased' AND visible_at <= ${now}`;
      for (const row of rows) {
        reading.held.set(row.seq, row);
        ended.push({ from: "held", row });
      }
    }
    const changes = newChanges();
    for (const item of ended) {
      const [end, leasedAt, sentAt, attempt] =
        item.from === "held"
          ? [item.row.visible_at, item.row.leased_at ?? 0, item.row.sent_at, item.row.attempts]
          : [item.lease[2], item.lease[1], item.open.row.sent_at, 1];
      if (end >= sentAt + retention) continue;
      const reason = `lease expired after ${(end - leasedAt) / 1000} s`;
      this.#fail(item, { at: end, attempt, reason, by: "expiry" }, now, config, changes);
    }
    // A segment looked at where nothing ended only has its earliest lease end looked up again.
    for (const open of reading.segments.values()) {
      if (changes.segments.has(open)) continue;
      const leaseEnd = earliestLeaseEnd(open.state);
      if (leaseEnd === null) this.#leasedSegments.delete(open.row.id);
      else this.#leasedSegments.set(open.row.id, leaseEnd);
    }
    this.#write(reading, changes, now);
    if (ended.length > 0) {
      this.#persist();
      this.#refreshOldest(reading, changes);
    }
  }

  /** Looks the oldest message up again when the one known left with these changes. */
  #refreshOldest(reading: Reading, changes: Changes): void {
    const segment = this.#oldestSegment && reading.segments.get(this.#oldestSegment.id);
    if (segment && segment.row.live === 0) this.#seekOldestSegment();
    if (this.#oldestHeld && changes.heldDeletes.has(this.#oldestHeld.seq)) {
      this.#oldestHeld =
        this.sql<{ seq: number; sentAt: number }>`SELECT seq, sent_at AS sentAt FROM held
          ORDER BY sent_at, seq LIMIT 1`.toArray()[0] ?? null;
    }
  }

  /** Drops every message sent at or before `cutoff`, leased ones too, counted as expired. */
  #dropExpired(cutoff: number): void {
    let dropped = 0;
    // A band's segments are in send order: its expired ones are a run from its first live one.
    const segments: SegmentRow[] = [];
    for (const [band, from] of this.#liveFrom) {
      const rows = this.sql<SegmentRow>`
        SELECT id, sent_at, fresh, live, dedup_until, state, meta FROM segments
        WHERE id >= ${from} AND id < ${(band + 1) * PRIORITY_STRIDE} AND live > 0 ORDER BY id`;
      for (const row of rows) {
        if (row.sent_at > cutoff) break;
        segments.push(row);
      }
    }
    if (segments.length > 0) {
      for (const row of segments) {
        const state: SegmentState = JSON.parse(row.state);
        (JSON.parse(row.meta) as SegmentMeta[]).forEach(([, key, bytes], index) => {
          const slot = state.s[index] ?? GONE;
          if (slot === GONE) return;
          this.#counts.bytes -= bytes;
          if (slot === FRESH) {
            this.#counts.fresh--;
            this.#group(key ?? KEYLESS_GROUP, -1, 0);
          } else {
            this.#counts.segmentLeased--;
            this.#group(key ?? KEYLESS_GROUP, 0, -1);
          }
          dropped++;
        });
        this.#leasedSegments.delete(row.id);
        this.#noteCleanup(Math.max(cutoff, row.dedup_until ?? cutoff));
      }
      const ids = JSON.stringify(segments.map((row) => row.id));
      this.sql`UPDATE segments SET live = 0, fresh = 0, state = '{"l":[],"s":[]}', messages = ''
        WHERE id IN (SELECT value FROM json_each(${ids}))`;
      this.#seekOldestSegment();
    }
    const held = this.sql<Pick<HeldRow, "grp" | "state" | "visible_at" | "bytes">>`
      DELETE FROM held WHERE sent_at <= ${cutoff} RETURNING grp, state, visible_at, bytes`.toArray();
    for (const row of held) {
      this.#counts.bytes -= row.bytes;
      if (row.state === "leased") {
        this.#counts.heldLeased--;
        this.#group(row.grp, 0, -1);
      } else {
        this.#counts.waiting--;
        if (row.visible_at > this.#promotedUpTo) this.#counts.delayed--;
        this.#group(row.grp, -1, 0);
      }
      dropped++;
    }
    if (held.length > 0) {
      this.#oldestHeld =
        this.sql<{ seq: number; sentAt: number }>`SELECT seq, sent_at AS sentAt FROM held
          ORDER BY sent_at, seq LIMIT 1`.toArray()[0] ?? null;
    }
    if (dropped > 0) {
      this.#cumulative.expired += dropped;
      this.receivableChanged = true;
      this.changes++;
      this.#persist();
    }
  }

  /**
   * The alarm's clean-up: deletes segments whose messages are all gone and whose dedup ids
   * have expired, and writes the counters; one DELETE and one counter row for everything
   * since the last clean-up.
   */
  cleanup(now: number): void {
    if (this.#cleanupDue === null || this.#cleanupDue > now) return;
    if (this.#lastCleanup + CLEANUP_INTERVAL_MS > now) return;
    this.#lastCleanup = now;
    const deleted = this.sql<{ acked: number }>`DELETE FROM segments
      WHERE live = 0 AND coalesce(dedup_until, 0) <= ${now} RETURNING acked`.toArray();
    for (const { acked } of deleted) this.#ackedInSegments -= acked;
    // Written after the delete, so the acks of deleted segments move into the log row.
    this.#persist();
    this.#cleanupDue = this.sql<{ due: number | null }>`
      SELECT min(dedup_until) AS due FROM segments WHERE live = 0 AND dedup_until > ${now}`.one().due;
  }

  /** When something in the log next falls due, or null. */
  nextAlarm(config: QueueConfig): number | null {
    const oldest = this.#oldestSentAt();
    const cleanup =
      this.#cleanupDue === null
        ? null
        : Math.max(this.#cleanupDue, this.#lastCleanup + CLEANUP_INTERVAL_MS);
    return earliest([
      ...this.#leasedSegments.values(),
      this.#flow.nextAlarm(),
      this.#heldDue,
      oldest === null ? null : oldest + config.retention * 1000,
      cleanup,
    ]);
  }

  // ── looking and dropping ───────────────────────────────────────────────────────────────

  /** Messages in seq order after seq `after`, without leasing them, within the budget. */
  peek(limit: number, after: number, now: number): PeekedMessage[] {
    type Entry = { seq: number; segment?: OpenSegment; index?: number; held?: HeldRow };
    const entries: Entry[] = [];
    const segments = this.sql<SegmentRow>`SELECT id, sent_at, fresh, live, dedup_until, state, meta
      FROM segments WHERE live > 0`;
    for (const row of segments) {
      const open: OpenSegment = {
        row,
        state: JSON.parse(row.state),
        meta: JSON.parse(row.meta),
      };
      open.meta.forEach(([seq], index) => {
        if (seq > after && (open.state.s[index] ?? GONE) !== GONE)
          entries.push({ seq, segment: open, index });
      });
    }
    const held = this
      .sql<HeldRow>`SELECT * FROM held WHERE seq > ${after} ORDER BY seq LIMIT ${limit}`;
    for (const row of held) entries.push({ seq: row.seq, held: row });
    entries.sort((a, b) => a.seq - b.seq);
    const chosen: Entry[] = [];
    let budget = RPC_ANSWER_BUDGET;
    for (const entry of entries) {
      if (chosen.length === limit) break;
      const size = entry.held
        ? entry.held.bytes
        : (entry.segment as OpenSegment).meta[entry.index as number][2];
      if (size > budget && chosen.length > 0) break;
      budget -= size;
      chosen.push(entry);
    }
    const needed = [...new Set(chosen.flatMap((e) => (e.segment ? [e.segment.row.id] : [])))];
    const bodies = new Map<number, StoredMessage[]>();
    if (needed.length > 0) {
      const rows = this.sql<{ id: number; messages: string }>`SELECT id, messages FROM segments
        WHERE id IN (SELECT value FROM json_each(${JSON.stringify(needed)}))`;
      for (const row of rows) bodies.set(row.id, decodeSegmentMessages(row.messages));
    }
    return chosen.map((entry): PeekedMessage => {
      if (entry.held) {
        const row = entry.held;
        const waiting = row.state === "waiting";
        return {
          ...this.#describeHeld(row),
          state: waiting ? (row.visible_at > now ? "delayed" : "ready") : "leased",
          visibleAt: row.visible_at,
        };
      }
      const open = entry.segment as OpenSegment;
      const index = entry.index as number;
      const [seq, key, , priority] = open.meta[index];
      const lease = leaseOf(open.state, index);
      const message = (bodies.get(open.row.id) as StoredMessage[])[index];
      return {
        ...describe(message, {
          seq,
          key,
          priority,
          attempts: lease ? 1 : 0,
          sentAt: open.row.sent_at,
        }),
        partition: this.identity.partition,
        state: lease ? "leased" : "ready",
        visibleAt: lease ? lease[2] : open.row.sent_at,
      };
    });
  }

  /** Drops every message, leased ones too; seqs keep counting. Answers how many. */
  purge(now: number): number {
    const purged = this.#heldCount();
    if (purged === 0) return 0;
    this.sql`UPDATE segments SET live = 0, fresh = 0, state = '{"l":[],"s":[]}', messages = ''
      WHERE live > 0`;
    this.sql`DELETE FROM held`;
    this.#counts = { fresh: 0, segmentLeased: 0, waiting: 0, delayed: 0, heldLeased: 0, bytes: 0 };
    this.#groups = new Map();
    this.#freeGroups = 0;
    this.#leasedSegments = new Map();
    this.#freshFrom = Number.POSITIVE_INFINITY;
    this.#keptMessages = null;
    this.#oldestSegment = null;
    this.#liveFrom = new Map();
    this.#oldestHeld = null;
    this.#noteCleanup(now);
    this.changes++;
    return purged;
  }

  // ── counters ───────────────────────────────────────────────────────────────────────────

  /** Messages ready to be received now. */
  readyCount(): number {
    return this.#counts.fresh + this.#counts.waiting - this.#counts.delayed;
  }

  /** Messages held: ready, delayed and leased. */
  #heldCount(): number {
    const { fresh, segmentLeased, waiting, heldLeased } = this.#counts;
    return fresh + segmentLeased + waiting + heldLeased;
  }

  /** The log's part of the partition's stats, from memory. */
  stats(): Omit<PartitionStats, "pendingDeadLetters" | "usage"> {
    return {
      partition: this.identity.partition,
      ready: this.readyCount(),
      leased: this.#counts.segmentLeased + this.#counts.heldLeased,
      delayed: this.#counts.delayed,
      backlogBytes: this.#counts.bytes,
      oldestSentAt: this.#oldestSentAt(),
      deadLettered: this.#cumulative.deadLettered,
      sent: this.#nextSeq - 1 - this.#sentBase,
      acked: this.#cumulative.acked,
      nacked: this.#cumulative.nacked,
      expired: this.#cumulative.expired,
      flow: this.#flow.stats(null, this.identity.partition, this.#keys),
    };
  }

  /** Writes the counters and the next seq: one row. */
  #persist(): void {
    const acked = this.#cumulative.acked - this.#ackedInSegments;
    const log = { nextSeq: this.#nextSeq, sentBase: this.#sentBase, ...this.#cumulative, acked };
    this.sql`INSERT INTO meta (name, value) VALUES ('log', ${JSON.stringify(log)})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }

  #oldestSentAt(): number | null {
    const times = [this.#oldestSegment?.sentAt, this.#oldestHeld?.sentAt].filter(
      (time) => time !== undefined,
    );
    return times.length === 0 ? null : Math.min(...times);
  }

  #group(name: string, waiting: number, leased: number): void {
    const group = this.#groups.get(name) ?? { waiting: 0, leased: 0 };
    const wasFree = group.waiting > 0 && group.leased === 0;
    group.waiting += waiting;
    group.leased += leased;
    const isFree = group.waiting > 0 && group.leased === 0;
    this.#freeGroups += Number(isFree) - Number(wasFree);
    if (group.waiting === 0 && group.leased === 0) this.#groups.delete(name);
    else this.#groups.set(name, group);
  }

  /** A live segment, loaded or new: it may be its band's first and the oldest. */
  #noteLiveSegment(id: number, sentAt: number): void {
    const band = bandOf(id);
    this.#liveFrom.set(band, Math.min(this.#liveFrom.get(band) ?? id, id));
    if (this.#oldestSegment === null || sentAt < this.#oldestSegment.sentAt) {
      this.#oldestSegment = { id, sentAt };
    }
  }

  /** The bands that may hold live segments, as [from, to) id ranges for a seek. */
  #liveBands(): string {
    return JSON.stringify(
      [...this.#liveFrom].map(([band, from]) => [from, (band + 1) * PRIORITY_STRIDE]),
    );
  }

  /**
   * Starts the bands' first live segments and the oldest over from what a seek found (each
   * band's first live segment, plus live segments the seek was told to pass over).
   */
  #settleOldest(live: SegmentAge[]): void {
    this.#liveFrom = new Map();
    this.#oldestSegment = null;
    for (const { id, sentAt } of live) this.#noteLiveSegment(id, sentAt);
  }

  /** Seeks each band's first live segment: the oldest is among them. */
  #seekOldestSegment(): void {
    const found = this.sql<SegmentAge>`
      SELECT s.id AS id, s.sent_at AS sentAt FROM json_each(${this.#liveBands()}) AS b
      JOIN segments AS s ON s.id = (SELECT id FROM segments
        WHERE id >= b.value ->> 0 AND id < b.value ->> 1 AND live > 0 ORDER BY id LIMIT 1)`;
    this.#settleOldest(found.toArray());
  }

  #noteHeldAge(seq: number, sentAt: number): void {
    if (this.#oldestHeld === null || sentAt < this.#oldestHeld.sentAt) {
      this.#oldestHeld = { seq, sentAt };
    }
  }

  #noteHeldDue(time: number): void {
    if (this.#heldDue === null || time < this.#heldDue) this.#heldDue = time;
  }

  #noteCleanup(time: number): void {
    if (this.#cleanupDue === null || time < this.#cleanupDue) this.#cleanupDue = time;
  }

  /** Inserts or replaces held rows, all in one statement (see insertJson). */
  #writeHeld(rows: HeldRow[]): void {
    insertJson(this.sql, "INSERT OR REPLACE", "held", HELD_COLUMNS, rows);
  }
}

/** Throws for a message SQLite could not store (the router never lets one through). */
function assertStorable(message: NewMessage): void {
  if (typeof message.body !== "string" || typeof message.contentType !== "string") {
    throw new TypeError("a message needs a string body and content type");
  }
}

type HeldCandidateRow = Pick<HeldRow, "seq" | "grp" | "bytes" | "priority" | "sent_at">;

/** A held row as a receive candidate. */
function heldCandidate(row: HeldCandidateRow, ready: boolean): Candidate {
  return {
    from: "held",
    seq: row.seq,
    sentAt: row.sent_at,
    group: row.grp,
    ready,
    size: row.bytes,
    priority: row.priority,
  };
}

/** A stored message as answers show it (partition, receipt and lease added by the caller). */
function describe(
  message: StoredMessage,
  fields: { seq: number; key: string | null; priority: number; attempts: number; sentAt: number },
) {
  return {
    id: message.id,
    body: message.body,
    contentType: message.contentType,
    headers: message.headers,
    key: fields.key,
    priority: fields.priority,
    attempts: fields.attempts,
    sentAt: fields.sentAt,
    seq: fields.seq,
  };
}

function oldestOf<T>(items: T[], time: (item: T) => number): T | null {
  let oldest: T | null = null;
  for (const item of items) if (oldest === null || time(item) < time(oldest)) oldest = item;
  return oldest;
}

/** The earliest of `times`, or null when there is none. */
export function earliest(times: (number | null | undefined)[]): number | null {
  let first: number | null = null;
  for (const time of times) if (time != null && (first === null || time < first)) first = time;
  return first;
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
