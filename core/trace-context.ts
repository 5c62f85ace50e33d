/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) travels with a message in its
 * headers, `traceparent` and `tracestate`: stored, counted and delivered like any header, and
 * kept by a dead letter (docs/architecture.md, "Trace context"). This module reads them, and
 * converts between `traceparent` and the AWS X-Ray header the SQS door carries as
 * `AWSTraceHeader`.
 */

export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/** version 00, a trace id and a parent id not all zeros, and the flags. */
const TRACEPARENT_FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** The longest tracestate the W3C lets a vendor pass on (32 members of at most 256 characters). */
const MAX_TRACESTATE = 512;
const TRACESTATE_FORMAT = /^[\x20-\x7e]*$/;

export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

export function isTraceparent(value: string): boolean {
  const match = TRACEPARENT_FORMAT.exec(value);
  return match !== null && !/^0+$/.test(match[1]) && !/^0+$/.test(match[2]);
}

/**
 * The trace context of a request's headers, or null. As the W3C asks, an invalid `traceparent`
 * is ignored (with its `tracestate`), and an invalid `tracestate` is dropped alone.
 */
export function traceContextOf(headers: Headers): TraceContext | null {
  const traceparent = headers.get(TRACEPARENT)?.trim().toLowerCase();
  if (traceparent === undefined || !isTraceparent(traceparent)) return null;
  const tracestate = headers.get(TRACESTATE)?.trim();
  const valid =
    tracestate !== undefined &&
    tracestate !== "" &&
    tracestate.length <= MAX_TRACESTATE &&
    TRACESTATE_FORMAT.test(tracestate);
  return valid ? { traceparent, tracestate } : { traceparent };
}

/**
 * A message's headers with the trace context added, unless the message carries a trace context
 * of its own (a `traceparent` header, in any case), which wins.
 */
export function withTraceContext(
  headers: Record<string, string> | undefined,
  trace: TraceContext,
): Record<string, string> {
  const own = headers ?? {};
  if (Object.keys(own).some((name) => name.toLowerCase() === TRACEPARENT)) return own;
  return { ...own, ...trace };
}

const XRAY_ROOT = /(?:^|;)\s*Root=1-([0-9a-f]{8})-([0-9a-f]{24})\s*(?:;|$)/i;
const XRAY_PARENT = /(?:^|;)\s*Parent=([0-9a-f]{16})\s*(?:;|$)/i;
const XRAY_SAMPLED = /(?:^|;)\s*Sampled=([01?])\s*(?:;|$)/i;

/**
 * The traceparent an X-Ray trace header (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1`)
 * names: X-Ray's trace id without its version and dashes is the W3C trace id. Null when the
 * header has no root or no parent (a traceparent needs both).
 */
export function traceparentFromXray(header: string): string | null {
  const root = XRAY_ROOT.exec(header);
  const parent = XRAY_PARENT.exec(header);
  if (root === null || parent === null) return null;
  const sampled = XRAY_SAMPLED.exec(header)?.[1] === "1" ? "01" : "00";
  const traceparent = `00-${root[1]}${root[2]}-${parent[1]}-${sampled}`.toLowerCase();
  return isTraceparent(traceparent) ? traceparent : null;
}

/** The X-Ray trace header of a traceparent, or null when it is not one. */
export function xrayFromTraceparent(traceparent: string): string | null {
  if (!isTraceparent(traceparent)) return null;
  const [, traceId, parentId, flags] = traceparent.split("-");
  const sampled = (Number.parseInt(flags, 16) & 1) === 1 ? "1" : "0";
  return `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${parentId};Sampled=${sampled}`;
}
