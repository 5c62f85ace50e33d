/**
 * The row formats of storage v2 (schema.ts) and the small pure functions over them: segment
 * ids, lease tokens that name their segment, and a segment's per-message state. Nothing here
 * touches storage.
 */
import type { ContentType } from "../../core/contract.ts";
import { newLeaseToken } from "../../core/receipt.ts";

/** Ids of one priority's segments start here times (9 - priority); seqs stay below it. */
export const PRIORITY_STRIDE = 2 ** 40;

/** Hex digits of a lease token that name its segment (0 for a held row's lease). */
const SEGMENT_DIGITS = 12;

/** A message's stored fields besides its seq, key and priority. */
export interface StoredMessage {
  id: string;
  body: string;
  contentType: ContentType;
  headers: Record<string, string>;
}

/**
 * Messages stored as text without escaping their bodies (a JSON string would escape every
 * quote, and a row may hold at most 2 MB): for each message a JSON header line, then the body.
 * A segment's header is [id, contentType, headers, body length]; a held row's, with its one
 * message, [id, contentType, headers, key], the body running to the end.
 */
export function encodeSegmentMessages(messages: StoredMessage[]): string {
  return messages
    .map((m) => `${JSON.stringify([m.id, m.contentType, m.headers, m.body.length])}\n${m.body}`)
    .join("");
}

/**
 * The messages of a segment, or with `wanted` only those at these indexes (the others are
 * holes): a receive takes part of a round's segment, and skipping a message reads only its
 * length, the number that ends its header line.
 */
export function decodeSegmentMessages(text: string, wanted?: ReadonlySet<number>): StoredMessage[] {
  const messages: StoredMessage[] = [];
  let at = 0;
  for (let index = 0; at < text.length; index++) {
    const newline = text.indexOf("\n", at);
    if (wanted && !wanted.has(index)) {
      const length = Number(text.slice(text.lastIndexOf(",", newline) + 1, newline - 1));
      at = newline + 1 + length;
      continue;
    }
    const [id, contentType, headers, length] = JSON.parse(text.slice(at, newline));
    const body = text.slice(newline + 1, newline + 1 + length);
    messages[index] = { id, body, contentType, headers };
    at = newline + 1 + length;
  }
  return messages;
}

export function encodeHeldMessage(message: StoredMessage, key: string | null): string {
  const header = JSON.stringify([message.id, message.contentType, message.headers, key]);
  return `${header}\n${message.body}`;
}

export function decodeHeldMessage(text: string): StoredMessage & { key: string | null } {
  const newline = text.indexOf("\n");
  const [id, contentType, headers, key] = JSON.parse(text.slice(0, newline));
  return { id, body: text.slice(newline + 1), contentType, headers, key };
}

/** Per message of a segment: [seq, key, bytes, priority]. */
export type SegmentMeta = [number, string | null, number, number];

/** A lease of some of a segment's messages: [token, leasedAt, leaseEnd]. */
export type SegmentLease = [string, number, number];

/** What a segment's messages are doing: 0 fresh, 1 gone, k + 2 leased under `l[k]`. */
export interface SegmentState {
  l: SegmentLease[];
  s: number[];
}

export const FRESH = 0;
export const GONE = 1;

/** A segment row as read for work on it (`messages` only when the work needs bodies). */
export type SegmentRow = {
  id: number;
  sent_at: number;
  fresh: number;
  live: number;
  acked: number;
  dedup_until: number | null;
  state: string;
  meta: string;
  messages: string | null;
};

/** A held row: a message off the common path (delayed, or given back for a retry). */
export type HeldRow = {
  seq: number;
  grp: string;
  priority: number;
  bytes: number;
  sent_at: number;
  state: "waiting" | "leased";
  visible_at: number;
  attempts: number;
  lease_token: string | null;
  leased_at: number | null;
  failures: string;
  message: string;
};

/**
 * A segment's state as stored: its JSON padded with spaces (which JSON.parse skips) so that the
 * row keeps one size while its messages are leased and acked. SQLite rewrites a row whose size
 * changed whole, bodies and all (~100 KiB for a row of 100 messages); a row of the same size it
 * overwrites in place, writing only the pages whose bytes changed, here the page or two that
 * hold the state. What must stay constant is the state's characters plus the bytes the row's
 * counts (`fresh`, `live`, `acked`) take in its record; the capacity follows from the number of
 * messages alone. A state that outgrows it is stored as it is, and that write is a whole one;
 * so is a row with no live message left (its bodies are cleared), stored small.
 */
export function storedState(
  state: SegmentState,
  messages: number,
  counts: { fresh: number; live: number; acked: number },
): string {
  const text = JSON.stringify(state);
  if (counts.live === 0) return text;
  const capacity = Math.min(STATE_LIMIT, STATE_BASE + STATE_PER_MESSAGE * messages);
  const room =
    capacity -
    text.length -
    countBytes(counts.fresh) -
    countBytes(counts.live) -
    countBytes(counts.acked);
  return room > 0 ? text + " ".repeat(room) : text;
}

/**
 * Room for `{"l":[],"s":[]}`, and over 57 characters: a text of 57 to 8,185 takes a two-byte
 * type in the record's header whatever its length (STATE_LIMIT keeps it under), so the header
 * keeps its size too.
 */
const STATE_BASE = 64;
/** A lease `["<32 hex digits>",<13 digits>,<13 digits>],` and a slot `101,`. */
const STATE_PER_MESSAGE = 69;
const STATE_LIMIT = 8_000;

/** Bytes a count of 0–32,767 takes in a SQLite record: none for 0 and 1, one up to 127. */
export function countBytes(count: number): number {
  return count <= 1 ? 0 : count <= 127 ? 1 : 2;
}

/** The id of a segment whose messages have `priority` (0 outside priority order). */
export function segmentId(priority: number, firstSeq: number): number {
  return (9 - priority) * PRIORITY_STRIDE + firstSeq;
}

/** The seq a segment's id was made from: ids of every priority sort by it in send order. */
export function segmentSeq(id: number): number {
  return id % PRIORITY_STRIDE;
}

/** A new lease token that names its segment (0 for a held row), so a settle finds its row. */
export function leaseToken(segment: number): string {
  return segment.toString(16).padStart(SEGMENT_DIGITS, "0") + newLeaseToken().slice(SEGMENT_DIGITS);
}

/** The segment a token names, or 0 for a held row's lease. */
export function tokenSegment(token: string): number {
  return Number.parseInt(token.slice(0, SEGMENT_DIGITS), 16);
}

/** The lease state of message `index`, or null when it is not leased. */
export function leaseOf(state: SegmentState, index: number): SegmentLease | null {
  const slot = state.s[index];
  return slot >= 2 ? state.l[slot - 2] : null;
}

/** Drops leases no message uses any more, renumbering the rest. */
export function compact(state: SegmentState): SegmentState {
  const used = new Map<number, number>();
  const l: SegmentLease[] = [];
  const s = state.s.map((slot) => {
    if (slot < 2) return slot;
    let renumbered = used.get(slot);
    if (renumbered === undefined) {
      renumbered = l.length + 2;
      used.set(slot, renumbered);
      l.push(state.l[slot - 2]);
    }
    return renumbered;
  });
  return { l, s };
}

/** The earliest lease end in a segment, or null with none. */
export function earliestLeaseEnd(state: SegmentState): number | null {
  let earliest: number | null = null;
  for (const slot of state.s) {
    if (slot < 2) continue;
    const end = state.l[slot - 2][2];
    if (earliest === null || end < earliest) earliest = end;
  }
  return earliest;
}
