/**
 * The price of a million messages at Cloudflare's published rates (Workers Paid, beyond the
 * included allowances; Durable Object duration left out), and what the native alternatives
 * charge. bench/README.md, "What a message costs", states the formula.
 */

/** US dollars per million of each billed unit. */
export const RATES = {
  workerRequests: 0.3,
  /** Every RPC call to a Durable Object and every alarm it runs. */
  durableObjectRequests: 0.15,
  rowsWritten: 1.0,
  rowsRead: 0.001,
} as const;

export type BilledUnits = Record<keyof typeof RATES, number>;

/** Dollars per million messages, from what one message used on average. */
export function usdPerMillion(perMessage: BilledUnits): number {
  let usd = 0;
  for (const unit of Object.keys(RATES) as (keyof typeof RATES)[]) {
    usd += perMessage[unit] * RATES[unit];
  }
  return usd;
}

/** A million messages sent, received and deleted elsewhere, for the results table. */
export const ALTERNATIVES = [
  {
    system: "Cloudflare Queues",
    usdPerMillion: 1.2,
    how: "3 operations per message (write, read, delete) × $0.40 per million",
  },
  {
    system: "Amazon SQS (standard), batches of 10",
    usdPerMillion: 0.12,
    how: "send, receive and delete of 10 messages each one request, 0.3 requests per message × $0.40 per million",
  },
  {
    system: "Amazon SQS (standard), one message per request",
    usdPerMillion: 1.2,
    how: "3 requests per message × $0.40 per million",
  },
] as const;
