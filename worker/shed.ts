/**
 * Load shedding in the isolate. Under pressure the router refuses work in this order of
 * sacrifice: sends first (producing adds pressure), then receives and other reads (consuming
 * relieves it); acks, nacks and extends are never shed, because refusing them would re-deliver
 * work that is already done. Every shed answer carries `Retry-After`.
 *
 * The in-flight limit is `SLUICE_MAX_INFLIGHT` (default `DEFAULT_MAX_INFLIGHT`) requests per
 * isolate: sends are refused from half of it, receives and reads from all of it. A parked
 * long-poll receive counts while it waits.
 */
export type ShedClass = "produce" | "consume" | "essential";

export const DEFAULT_MAX_INFLIGHT = 1000;
export const SHED_RETRY_AFTER_SECONDS = 1;

/**
 * A request the runtime cancels (its client went away) never reaches the router's `finally`,
 * so an admission older than any real request (a 20 s long poll plus its work) is forgotten.
 */
const STALE_ADMISSION_MS = 60_000;

const admissions = new Map<number, number>();
let nextTicket = 0;

export function maxInflight(env: Env): number {
  const configured = Number(env.SLUICE_MAX_INFLIGHT);
  return Number.isInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_INFLIGHT;
}

/** Which class a route belongs to, from its method and path. */
export function shedClassOf(method: string, pathname: string): ShedClass {
  if (method === "POST" && /\/(ack|nack|extend)\/?$/.test(pathname)) return "essential";
  if (method === "POST" && /^\/v1\/queues\/[^/]+\/(messages|dlq\/redrive)\/?$/.test(pathname)) {
    return "produce";
  }
  if (pathname.startsWith("/v1/") && pathname !== "/v1/openapi.json") return "consume";
  return "essential";
}

export function inflight(): number {
  return admissions.size;
}

/** Admits the request (returning a ticket for `release`) or answers null to shed it. */
export function admit(env: Env, shedClass: ShedClass): number | null {
  const limit = maxInflight(env);
  const threshold =
    shedClass === "produce" ? Math.ceil(limit / 2) : shedClass === "consume" ? limit : Infinity;
  if (admissions.size >= threshold) forgetStale();
  if (admissions.size >= threshold) return null;
  const ticket = nextTicket++;
  admissions.set(ticket, Date.now());
  return ticket;
}

export function release(ticket: number): void {
  admissions.delete(ticket);
}

function forgetStale(): void {
  const cutoff = Date.now() - STALE_ADMISSION_MS;
  for (const [ticket, admittedAt] of admissions) if (admittedAt < cutoff) admissions.delete(ticket);
}

/** A Durable Object refused the call because it is overloaded; trying later can succeed. */
export function isOverloaded(error: unknown): boolean {
  return error instanceof Error && (error as { overloaded?: unknown }).overloaded === true;
}
