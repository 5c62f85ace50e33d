/**
 * Counters kept by this isolate since it started, and the Prometheus text rendering of them
 * together with per-queue gauges read from the partitions at scrape time. A deployment has
 * many isolates, so sum the counters across scrapes; the queue gauges are global.
 */

import type { QueueView } from "./schemas.ts";

const counters = {
  sent: 0,
  received: 0,
  acked: 0,
  nacked: 0,
  deadLettered: 0,
};

export type Counter = keyof typeof counters;

export const SHED_REASONS = ["inflight_limit", "backlog_full", "overloaded"] as const;
export type ShedReason = (typeof SHED_REASONS)[number];

const shed: Record<ShedReason, number> = { inflight_limit: 0, backlog_full: 0, overloaded: 0 };

export function count(counter: Counter, by = 1): void {
  counters[counter] += by;
}

/** Called by admission.ts alone, so that each shed is counted once whatever the door. */
export function countShed(reason: ShedReason): void {
  shed[reason] += 1;
}

const COUNTER_HELP: Record<Counter, [name: string, help: string]> = {
  sent: ["sluice_messages_sent_total", "Messages stored by sends through this isolate."],
  received: ["sluice_messages_received_total", "Messages leased by receives through this isolate."],
  acked: ["sluice_messages_acked_total", "Messages acknowledged through this isolate."],
  nacked: ["sluice_messages_nacked_total", "Messages nacked through this isolate."],
  deadLettered: [
    "sluice_messages_dead_lettered_total",
    "Messages dead-lettered by nacks through this isolate.",
  ],
};

const QUEUE_GAUGES: [name: string, help: string, read: (queue: QueueView) => number][] = [
  ["sluice_queue_ready", "Messages visible now.", (q) => q.stats.ready],
  ["sluice_queue_leased", "Messages under a lease.", (q) => q.stats.leased],
  ["sluice_queue_delayed", "Messages waiting for a delay or backoff.", (q) => q.stats.delayed],
  ["sluice_queue_dead_lettered", "Messages in the dead-letter queue.", (q) => q.stats.deadLettered],
  ["sluice_queue_backlog_bytes", "Bytes of message bodies held.", (q) => q.stats.backlogBytes],
  [
    "sluice_queue_oldest_age_seconds",
    "Age of the oldest message held.",
    (q) => q.stats.oldestAgeMs / 1000,
  ],
  ["sluice_queue_sent_total", "Messages ever stored in the queue.", (q) => q.stats.sent],
  ["sluice_queue_acked_total", "Messages ever acknowledged in the queue.", (q) => q.stats.acked],
  ["sluice_queue_partitions", "Partitions of the queue.", (q) => q.config.partitions],
  ["sluice_queue_paused", "1 while the queue is paused.", (q) => Number(q.stats.paused)],
  ["sluice_queue_paused_keys", "Keys paused on their own.", (q) => q.stats.pausedKeys],
];

const HELD_KEY_GAUGE = "sluice_key_held_oldest_wait_seconds";

/** A Prometheus label value, escaped. */
export function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The Prometheus text exposition (format 0.0.4). `inflight` is admission's count now: passed
 * in, so metrics (which admission counts sheds into) does not import admission back.
 */
export function renderMetrics(queues: QueueView[], inflight: number): string {
  const lines: string[] = [];
  for (const counter of Object.keys(counters) as Counter[]) {
    const [name, help] = COUNTER_HELP[counter];
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${counters[counter]}`);
  }
  lines.push(
    "# HELP sluice_shed_total Requests refused to shed load, by reason.",
    "# TYPE sluice_shed_total counter",
    ...SHED_REASONS.map((reason) => `sluice_shed_total{reason="${reason}"} ${shed[reason]}`),
    "# HELP sluice_inflight_requests Requests this isolate is working on.",
    "# TYPE sluice_inflight_requests gauge",
    `sluice_inflight_requests ${inflight}`,
  );
  for (const [name, help, read] of QUEUE_GAUGES) {
    const type = name.endsWith("_total") ? "counter" : "gauge";
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const queue of queues) lines.push(`${name}{queue="${label(queue.name)}"} ${read(queue)}`);
  }
  lines.push(
    `# HELP ${HELD_KEY_GAUGE} How long the oldest message of a key held back by flow control (paused, out of rate tokens, at its concurrency) has waited, as of the last receive.`,
    `# TYPE ${HELD_KEY_GAUGE} gauge`,
  );
  for (const queue of queues) {
    for (const held of queue.stats.heldKeys) {
      const labels = `queue="${label(queue.name)}",key="${label(held.key)}",reason="${held.reason}"`;
      lines.push(`${HELD_KEY_GAUGE}{${labels}} ${held.oldestWaitMs / 1000}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
