/**
 * The partition's live dedup ids, in a few bytes each: what the message log asks before it
 * stores a send that carries a `dedupId`.
 *
 * Contract:
 * - `find` answers, for each dedup id asked, the first message sent with it whose window has
 *   not ended at `now` (its seq and id), or nothing. Every answer is read from a row: memory
 *   holds only a 32-bit hash of each id and the segment row that keeps the round's dedup list
 *   (`[dedupId, seq, id, expiresAt?]`, with the row's `dedup_until`), and every hash that
 *   matches is checked against that row's list, all of a call's matches in one SELECT (none
 *   when nothing matches). A hash collision costs a row read, never a false duplicate, which
 *   would lose an accepted message.
 * - `add` records a written round's dedup ids under its row; rounds are added in seq order
 *   (the order their rows' ids sort in by `segmentSeq`). The row must keep its dedup list
 *   until `dedup_until` has passed: the clean-up deletes a segment only after that.
 * - `forget` drops what expired: expiry is kept per run of rounds whose windows end within
 *   RUN_SPAN_MS of each other, so memory may hold an id up to that much (or, after the window
 *   was shortened, the old window) longer; `find` still answers from each entry's own expiry.
 * - `load` rebuilds it all from the rows, on start and after a failed transaction.
 *
 * Memory (docs/architecture.md, "Partition storage (v2)"): an open-addressing table of 12
 * bytes a slot (hash, row id), a quarter to half full after each rebuild, rebuilt when three
 * quarters of its slots are taken and shrunk when fewer than an eighth hold live ids (25.2
 * bytes an id at 1,000,000), and 24 bytes a run, at most one per RUN_SPAN_MS of window.
 */
import type { Sql } from "../sql.ts";
import { PRIORITY_STRIDE, segmentSeq } from "./segments.ts";

/** The table never shrinks below this many slots (12 KiB). */
const MIN_CAPACITY = 1024;
/** Slots in use (live or expired) at which the table is rebuilt, as a share of all. */
const MAX_LOAD = 0.75;
/** A rebuilt table has at least this share of its slots free. */
const REBUILT_LOAD = 0.5;
/** Live ids below this share of the slots make the table shrink. */
const MIN_LOAD = 0.125;
/** Rounds whose windows end within this of a run's first join it. */
const RUN_SPAN_MS = 1_000;

/** A round's dedup list as stored on its segment row (v1 upgraded ids carry their expiry). */
type StoredDedup = [dedupId: string, seq: number, id: string, expiresAt?: number | null];

/** The first message sent with a dedup id. */
export type FirstSend = { seq: number; id: string };

export interface DedupIndexOptions {
  /** How a dedup id is hashed to 32 bits (tests force collisions with a poor one). */
  hash?: (dedupId: string) => number;
}

export class DedupIndex {
  readonly #hash: (dedupId: string) => number;
  /** Per slot: the id's hash, and its row's id plus one (0: the slot is empty). */
  #hashes = new Uint32Array(MIN_CAPACITY);
  #rows = new Float64Array(MIN_CAPACITY);
  /** Slots taken, by live ids and by expired ones not yet cleared by a rebuild. */
  #used = 0;
  #live = 0;
  /** Runs of rounds in seq order: the last row seq, the latest expiry, how many ids. */
  #runSeqs: number[] = [];
  #runExpiries: number[] = [];
  #runSizes: number[] = [];
  /** The expiry of the last run's first round, which bounds who may join it. */
  #runOpenedAt = 0;
  /** Runs before this one have expired. */
  #front = 0;
  /** Ids of rows up to this seq have expired. */
  #expiredSeq = -1;

  constructor(
    private readonly sql: Sql,
    options: DedupIndexOptions = {},
  ) {
    this.#hash = options.hash ?? hashDedupId;
  }

  /** Rebuilds the index from the segment rows' dedup lists, as of `now`. */
  load(now: number): void {
    // Sized for every id of the rows at once, so loading never rebuilds the table.
    const { ids } = this.sql<{ ids: number }>`
      SELECT coalesce(sum(json_array_length(dedup)), 0) AS ids FROM segments
      WHERE dedup IS NOT NULL AND dedup_until > ${now}`.one();
    const capacity = capacityFor(ids);
    this.#hashes = new Uint32Array(capacity);
    this.#rows = new Float64Array(capacity);
    this.#used = 0;
    this.#live = 0;
    this.#runSeqs = [];
    this.#runExpiries = [];
    this.#runSizes = [];
    this.#front = 0;
    this.#expiredSeq = -1;
    const rows = this.sql<{ id: number; dedup_until: number; dedup: string }>`
      SELECT id, dedup_until, dedup FROM segments
      WHERE dedup IS NOT NULL AND dedup_until > ${now} ORDER BY id % ${PRIORITY_STRIDE}`;
    for (const row of rows) {
      const live: string[] = [];
      for (const [dedupId, , , expiresAt] of JSON.parse(row.dedup) as StoredDedup[]) {
        if ((expiresAt ?? row.dedup_until) > now) live.push(dedupId);
      }
      this.add(row.id, row.dedup_until, live);
    }
  }

  /** Records a round's dedup ids, kept on segment row `row` until `expiresAt`. */
  add(row: number, expiresAt: number, dedupIds: string[]): void {
    if (dedupIds.length === 0) return;
    const last = this.#runSeqs.length - 1;
    if (last >= this.#front && Math.abs(expiresAt - this.#runOpenedAt) <= RUN_SPAN_MS) {
      this.#runSeqs[last] = segmentSeq(row);
      this.#runExpiries[last] = Math.max(this.#runExpiries[last], expiresAt);
      this.#runSizes[last] += dedupIds.length;
    } else {
      this.#runSeqs.push(segmentSeq(row));
      this.#runExpiries.push(expiresAt);
      this.#runSizes.push(dedupIds.length);
      this.#runOpenedAt = expiresAt;
    }
    this.#live += dedupIds.length;
    if (this.#used + dedupIds.length > this.#hashes.length * MAX_LOAD) this.#rebuild();
    for (const dedupId of dedupIds) this.#insert(this.#hash(dedupId) >>> 0, row + 1);
  }

  /** Forgets runs of rounds whose windows all ended by `now`. */
  forget(now: number): void {
    const front = this.#front;
    while (this.#front < this.#runSeqs.length && this.#runExpiries[this.#front] <= now) {
      this.#expiredSeq = this.#runSeqs[this.#front];
      this.#live -= this.#runSizes[this.#front];
      this.#front++;
    }
    if (this.#front === front) return;
    if (this.#front * 2 > this.#runSeqs.length) {
      this.#runSeqs.splice(0, this.#front);
      this.#runExpiries.splice(0, this.#front);
      this.#runSizes.splice(0, this.#front);
      this.#front = 0;
    }
    if (this.#hashes.length > MIN_CAPACITY && this.#live < this.#hashes.length * MIN_LOAD) {
      this.#rebuild();
    }
  }

  /**
   * The first send of each of `dedupIds` whose window is still open at `now`, checked
   * against the rows: one SELECT for all of them, none when no hash matches.
   */
  find(dedupIds: string[], now: number): Map<string, FirstSend> {
    const found = new Map<string, FirstSend>();
    const rows = new Set<number>();
    for (const dedupId of dedupIds) this.#candidates(this.#hash(dedupId) >>> 0, rows);
    if (rows.size === 0) return found;
    const wanted = new Set(dedupIds);
    const stored = this.sql<{ dedup_until: number | null; dedup: string | null }>`
      SELECT dedup_until, dedup FROM segments
      WHERE id IN (SELECT value FROM json_each(${JSON.stringify([...rows])}))`;
    for (const row of stored) {
      for (const [dedupId, seq, id, expiresAt] of JSON.parse(row.dedup ?? "[]") as StoredDedup[]) {
        const until = expiresAt ?? row.dedup_until;
        if (until !== null && until > now && wanted.has(dedupId)) found.set(dedupId, { seq, id });
      }
    }
    return found;
  }

  /** Live ids (rounds not yet forgotten). */
  get size(): number {
    return this.#live;
  }

  /** Bytes the index holds: its typed arrays exactly, its runs at 8 bytes a number. */
  get bytes(): number {
    return this.#hashes.byteLength + this.#rows.byteLength + this.#runSeqs.length * 3 * 8;
  }

  /** Adds the rows of slots hashed `hash` whose round has not expired to `into`. */
  #candidates(hash: number, into: Set<number>): void {
    const mask = this.#hashes.length - 1;
    for (let slot = hash & mask; this.#rows[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.#hashes[slot] === hash && !this.#expired(slot)) into.add(this.#rows[slot] - 1);
    }
  }

  #expired(slot: number): boolean {
    return segmentSeq(this.#rows[slot] - 1) <= this.#expiredSeq;
  }

  #insert(hash: number, rowPlusOne: number): void {
    const mask = this.#hashes.length - 1;
    let slot = hash & mask;
    while (this.#rows[slot] !== 0) slot = (slot + 1) & mask;
    this.#hashes[slot] = hash;
    this.#rows[slot] = rowPlusOne;
    this.#used++;
  }

  /** Moves the live ids to a table sized for them, leaving the expired ones behind. */
  #rebuild(): void {
    const capacity = capacityFor(this.#live);
    const hashes = this.#hashes;
    const rows = this.#rows;
    this.#hashes = new Uint32Array(capacity);
    this.#rows = new Float64Array(capacity);
    this.#used = 0;
    for (let slot = 0; slot < rows.length; slot++) {
      if (rows[slot] === 0 || segmentSeq(rows[slot] - 1) <= this.#expiredSeq) continue;
      this.#insert(hashes[slot], rows[slot]);
    }
  }
}

/** Slots for `ids` live ids: a power of two, at most REBUILT_LOAD full. */
function capacityFor(ids: number): number {
  let capacity = MIN_CAPACITY;
  while (ids > capacity * REBUILT_LOAD) capacity *= 2;
  return capacity;
}

/**
 * FNV-1a over UTF-16 code units from another offset basis, then murmur3's finaliser. Placement
 * routes a message without a key by FNV-1a of its dedup id modulo the partition count, so
 * that hash's low bits are nearly the same for every id of one partition; these are not.
 */
export function hashDedupId(dedupId: string): number {
  let hash = 0x9747b28c;
  for (let i = 0; i < dedupId.length; i++) {
    hash = Math.imul(hash ^ dedupId.charCodeAt(i), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
