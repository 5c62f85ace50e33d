/**
 * Admission: the one path by which every door (HTTP, RPC, SQS, WebSocket) takes work in. It
 * admits a request into a slot or refuses it as shed, counts each shed once
 * (`sluice_shed_total`), turns a Durable Object's overloaded error into the `overloaded`
 * refusal, and frees the slot. Doors keep only their own table from a refusal to their wire
 * format (docs/architecture.md, "Admission and the front path").
 *
 * Under pressure the isolate refuses work in this order of sacrifice: sends first (producing
 * adds pressure), then receives and other reads (consuming relieves it); acks, nacks, extends
 * and SQS deletes and visibility changes are never shed, because refusing them would re-deliver
 * work that is already done. Every shed answer carries `Retry-After`.
 *
 * The limit is `SLUICE_MAX_INFLIGHT` (default `DEFAULT_MAX_INFLIGHT`) requests per isolate:
 * - sends are admitted while fewer than half of it are *working* (sends and receives that are
 *   not parked); receives and reads while fewer than all of it are working or parked;
 * - essential calls and parked long polls never count against sends, so neither a flood of
 *   deletes nor a crowd of waiting consumers can stop producers;
 * - one key (or the admin token) parks at most `parkedPerKey` long polls at once;
 * - requests not yet authenticated (an SQS body being read before its signature can be
 *   checked) take slots from a small pool of their own, `unauthenticatedLimit`, and count
 *   against nothing else.
 *
 * A slot is freed when its request ends, or at once when its client goes away (the request's
 * `signal`); slots older than any real request are forgotten as a last resort.
 */
import { actorOf, type Principal } from "./auth.ts";
import { countShed, type ShedReason } from "./metrics.ts";
import type { Refusal } from "./outcome.ts";

export type ShedClass = "produce" | "consume" | "essential";

const DEFAULT_MAX_INFLIGHT = 1000;
export const SHED_RETRY_AFTER_SECONDS = 1;

/** The share of the limit that requests not yet authenticated may hold together. */
const UNAUTHENTICATED_SHARE = 0.1;
/** The share of the limit one key may hold in parked long polls. */
const PARKED_PER_KEY_SHARE = 0.1;
/**
 * The last resort for a slot whose end was never seen: longer than any real request (a 20 s
 * long poll plus its work). A departed client's slot is freed by its signal long before.
 */
const STALE_ADMISSION_MS = 60_000;

/** What an admitted request is doing, which decides what it counts against. */
type SlotState = "unauthenticated" | ShedClass | "parked";

/** An admitted request's slot, held until `release`. */
export interface Ticket {
  readonly admittedAt: number;
  /** Null once released. */
  state: SlotState | null;
  /** Whose long poll this slot is (a key id, or `admin`). */
  parkedBy?: string;
}

/** A refusal to shed load: the doors render it with status 503 and `Retry-After`. */
export type ShedRefusal = Refusal & { code: "inflight_limit" | "overloaded" };

const held = new Set<Ticket>();
const counts: Record<SlotState, number> = {
  unauthenticated: 0,
  produce: 0,
  consume: 0,
  essential: 0,
  parked: 0,
};
const parkedByKey = new Map<string, number>();

export function maxInflight(env: Env): number {
  const configured = Number(env.SLUICE_MAX_INFLIGHT);
  return Number.isInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_INFLIGHT;
}

function unauthenticatedLimit(env: Env): number {
  return Math.max(1, Math.floor(maxInflight(env) * UNAUTHENTICATED_SHARE));
}

function parkedPerKey(env: Env): number {
  return Math.max(1, Math.floor(maxInflight(env) * PARKED_PER_KEY_SHARE));
}

/** Requests this isolate holds a slot for, whatever their state. */
export function inflight(): number {
  return held.size;
}

function working(): number {
  return counts.produce + counts.consume;
}

/** Whether a request of `state` may take a slot now. */
function hasRoom(env: Env, state: Exclude<SlotState, "parked">): boolean {
  const limit = maxInflight(env);
  switch (state) {
    case "essential":
      return true;
    case "unauthenticated":
      return counts.unauthenticated < unauthenticatedLimit(env);
    case "produce":
      return working() < Math.ceil(limit / 2);
    case "consume":
      return working() + counts.parked < limit;
  }
}

/** Counts a shed and returns its refusal. The one place `sluice_shed_total` is counted. */
export function shed<C extends ShedReason>(
  code: C,
  detail: string,
  retryAfterSeconds = SHED_RETRY_AFTER_SECONDS,
): Refusal & { code: C } {
  countShed(code);
  return { ok: false, code, detail, retryAfterSeconds };
}

function atLimit(state: SlotState): ShedRefusal {
  const what =
    state === "unauthenticated"
      ? "requests whose signature is not yet checked"
      : `requests in flight and sheds ${state === "produce" ? "sends" : "receives and reads"} first`;
  return shed("inflight_limit", `this Worker is at its limit of ${what}; retry after a second`);
}

function move(ticket: Ticket, to: SlotState | null): void {
  if (ticket.state !== null) counts[ticket.state] -= 1;
  ticket.state = to;
  if (to !== null) counts[to] += 1;
}

/**
 * Admits a request of `shedClass` (or one not yet authenticated), or refuses it as shed.
 * With `signal`, the slot is freed the moment the client goes away.
 */
export function admit(
  env: Env,
  shedClass: ShedClass | "unauthenticated",
  signal?: AbortSignal,
): Ticket | ShedRefusal {
  if (!hasRoom(env, shedClass)) forgetStale();
  if (!hasRoom(env, shedClass)) return atLimit(shedClass);
  const ticket: Ticket = { admittedAt: Date.now(), state: null };
  move(ticket, shedClass);
  held.add(ticket);
  if (signal !== undefined && !signal.aborted) {
    signal.addEventListener("abort", () => release(ticket), { once: true });
  }
  return ticket;
}

export function isTicket(admitted: Ticket | ShedRefusal): admitted is Ticket {
  return !("ok" in admitted);
}

/** Moves a request that has proven who it is from the unauthenticated pool into its class. */
export function authenticated(env: Env, ticket: Ticket, shedClass: ShedClass): ShedRefusal | null {
  if (ticket.state !== "unauthenticated") return null;
  if (!hasRoom(env, shedClass)) return atLimit(shedClass);
  move(ticket, shedClass);
  return null;
}

/**
 * Marks a receive as a long poll that may wait, held by its principal's key (or the admin
 * token). A parked slot no longer counts against sends; one key parks at most `parkedPerKey`.
 */
export function park(env: Env, ticket: Ticket, principal: Principal): ShedRefusal | null {
  if (ticket.state !== "consume") return null;
  const parkedBy = actorOf(principal);
  const already = parkedByKey.get(parkedBy) ?? 0;
  if (already >= parkedPerKey(env)) {
    return shed(
      "inflight_limit",
      `this key already has ${already} long polls waiting in this Worker, the most one key may park; receive with a shorter wait, or retry after a second`,
    );
  }
  parkedByKey.set(parkedBy, already + 1);
  ticket.parkedBy = parkedBy;
  move(ticket, "parked");
  return null;
}

/** Frees the slot; releasing twice (the request ended after its client left) is harmless. */
export function release(ticket: Ticket): void {
  if (ticket.state === null) return;
  if (ticket.parkedBy !== undefined) {
    const left = (parkedByKey.get(ticket.parkedBy) ?? 1) - 1;
    if (left > 0) parkedByKey.set(ticket.parkedBy, left);
    else parkedByKey.delete(ticket.parkedBy);
  }
  move(ticket, null);
  held.delete(ticket);
}

function forgetStale(): void {
  const cutoff = Date.now() - STALE_ADMISSION_MS;
  for (const ticket of held) if (ticket.admittedAt < cutoff) release(ticket);
}

/** A Durable Object refused the call because it is overloaded; trying later can succeed. */
export function isOverloaded(error: unknown): boolean {
  return error instanceof Error && (error as { overloaded?: unknown }).overloaded === true;
}

/** The `overloaded` refusal for a Durable Object's overloaded error (counted), else null. */
export function overloadRefusal(error: unknown): ShedRefusal | null {
  if (!isOverloaded(error)) return null;
  return shed("overloaded", "a partition of this queue is overloaded; retry shortly");
}

/**
 * The admission path every door takes: runs `work` in a slot of `shedClass` and frees the slot
 * whatever happens. Answers the shed refusal when there is no room, the `overloaded` refusal
 * when a Durable Object was overloaded, and otherwise what `work` answers.
 */
export async function admitted<T>(
  env: Env,
  shedClass: ShedClass,
  work: (ticket: Ticket) => Promise<T>,
  signal?: AbortSignal,
): Promise<T | ShedRefusal> {
  const ticket = admit(env, shedClass, signal);
  if (!isTicket(ticket)) return ticket;
  try {
    return await work(ticket);
  } catch (error) {
    const overloaded = overloadRefusal(error);
    if (overloaded === null) throw error;
    return overloaded;
  } finally {
    release(ticket);
  }
}
