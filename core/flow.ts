/**
 * Flow control on the delivery side, as the Worker and the partitions share it: pausing a queue
 * or a key, a key's own limits, and how a queue-wide cap is split over partitions. What each
 * means is in docs/architecture.md, "Flow control".
 */
import type { KeyLimits } from "./queue-config.ts";

/** A pause: until `until` (epoch ms), or until resumed when null. */
export interface Pause {
  until: number | null;
}

/** A change to a partition's flow control; `key` null means the whole queue. */
export type FlowChange =
  | { kind: "pause"; key: string | null; until: number | null }
  | { kind: "resume"; key: string | null }
  /** A key's own limits, replacing any it had; null drops them (the queue's apply again). */
  | { kind: "limits"; key: string; limits: KeyLimits | null }
  /** Changes nothing: answers the state. */
  | { kind: "look"; key: string | null };

/** Why a key's ready messages are not being delivered. */
export type HeldReason = "paused" | "rate" | "concurrency";

export interface HeldKey {
  key: string;
  reason: HeldReason;
  /** sentAt of its oldest message a receive had to leave behind. */
  oldestSentAt: number;
}

/** A partition's flow control as stats show it. */
export interface FlowStats {
  paused: boolean;
  /** When a pause with an end resumes by itself; null while paused until resumed, or not paused. */
  pausedUntil: number | null;
  /** Keys paused on their own. */
  pausedKeys: number;
  /** Keys with ready messages a receive left behind, as of the last receive (at most HELD_KEYS_SHOWN). */
  heldKeys: HeldKey[];
  /** This partition's share of the queue's maxInFlight, or null without one. */
  inFlightShare: number | null;
}

/** How many held keys stats list (the oldest waits first). */
export const HELD_KEYS_SHOWN = 20;

/** One key's flow control: its own limits, what applies, whether it is paused, what it has out. */
export interface KeyFlow {
  key: string;
  partition: number;
  /** Its own limits (absent: the queue's keyLimits apply). */
  limits: KeyLimits | null;
  /** The limits that apply: the queue's keyLimits overridden field by field by its own. */
  effective: KeyLimits;
  paused: Pause | null;
  leased: number;
  waiting: number;
}

/** What a flow change answers: the queue's or the key's state after it. */
export interface FlowAnswer {
  flow: FlowStats;
  key: KeyFlow | null;
}

/**
 * Partition `index`'s share of a queue-wide cap of `cap` leased messages over `partitions`
 * partitions: `cap / partitions` rounded down, and one more for the first `cap % partitions`
 * partitions, so the shares add up to exactly `cap`. The configuration keeps `cap` at least
 * `partitions`, so every partition may lease at least one.
 */
export function inFlightShare(cap: number, partitions: number, index: number): number {
  return Math.floor(cap / partitions) + (index < cap % partitions ? 1 : 0);
}
