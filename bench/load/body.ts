/** The message every system is sent: a JSON object of exactly BODY_BYTES once serialized. */

export const BODY_BYTES = 1024;

export interface BenchBody {
  /** The producer's clock (performance.now()) when it sent the message: end-to-end latency. */
  sentAt: number;
  seq: number;
  pad: string;
}

let nextSeq = 0;

export function makeBody(sentAt = performance.now()): BenchBody {
  const body = { sentAt, seq: nextSeq++, pad: "" };
  body.pad = "x".repeat(BODY_BYTES - JSON.stringify(body).length);
  return body;
}

export function makeBodies(count: number): BenchBody[] {
  const sentAt = performance.now();
  return Array.from({ length: count }, () => makeBody(sentAt));
}
