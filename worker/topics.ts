/**
 * Topics: one publish, one copy in every subscribed queue whose filter passes it (SNS to SQS,
 * RabbitMQ's fanout and headers exchanges, QStash URL groups). Nothing here knows about HTTP.
 *
 * A copy goes through the same send path as any send (`sendMessages`), so it keeps its key,
 * headers, priority, delay and content type, and each queue applies its own limits: a queue
 * at its hard backlog refuses its copy and the others keep theirs. A publish with a `dedupId`
 * gives each queue's copy `topic:<topic>:<dedupId>`, so a retried publish is recognised by
 * every queue that stored the first and stores nothing new anywhere.
 *
 * The publisher needs `produce` on the topic, not on the queues: subscribing a queue needs
 * `admin` on the topic and on the queue, so whoever subscribed it agreed to the copies.
 * Topic records are cached in the isolate for `TOPIC_CACHE_MS`, as queue records are.
 */

import {
  type Subscription,
  type TopicDefinition,
  type TopicRecord,
  topicDedupId,
} from "../core/topic.ts";
import type { TopicFilter } from "../core/topic-filter.ts";
import { matchesFilter } from "../core/topic-filter.ts";
import { allows, allowsTopic, denial, type Principal } from "./auth.ts";
import { TtlCache } from "./cache.ts";
import { label } from "./metrics.ts";
import { type Outcome, type Refusal, refuse } from "./outcome.ts";
import type { MessageInput, SendResult } from "./schemas.ts";
import { sendMessages } from "./service.ts";

export const TOPIC_CACHE_MS = 5_000;

const topics = new TtlCache<string, TopicRecord | null>(TOPIC_CACHE_MS, 10_000);

export interface TopicView {
  name: string;
  subscriptions: { queue: string; filter: TopicFilter | null }[];
  createdAt: number;
  updatedAt: number;
}

/** What one subscribed queue did with a publish; `index` is the message's place in it. */
export interface Delivery {
  queue: string;
  messages: SendResult["messages"];
  failed: { index: number; code: string; detail: string }[];
  /** Messages the subscription's filter passed over. */
  filtered: number[];
}

export interface PublishResult {
  deliveries: Delivery[];
  /** True when some queue above its soft backlog asked producers to slow down. */
  backpressure: boolean;
}

function catalog(env: Env) {
  return env.CATALOG.getByName("catalog");
}

function viewOf({ name, subscriptions, createdAt, updatedAt }: TopicRecord): TopicView {
  return { name, subscriptions, createdAt, updatedAt };
}

async function topicRecord(env: Env, name: string): Promise<TopicRecord | null> {
  const cached = topics.get(name);
  if (cached !== undefined) return cached;
  const record = await catalog(env).getTopic(name);
  topics.set(name, record);
  return record;
}

function topicNotFound(name: string): Refusal {
  return refuse(
    "topic_not_found",
    `no topic named '${name}'; create it with PUT /v1/topics/${name}`,
  );
}

// ───────────────────────────── topics ─────────────────────────────

/**
 * Creates the topic or replaces its subscriptions. Admin on the topic is the operation
 * table's to check (operations.ts `invoke`); admin on every queue subscribed is checked here.
 */
export async function putTopic(
  env: Env,
  principal: Principal,
  name: string,
  definition: TopicDefinition,
): Promise<Outcome<{ created: boolean; topic: TopicView }>> {
  const foreign = definition.subscriptions.find(({ queue }) => !allows(principal, "admin", queue));
  if (foreign) return refuse("forbidden", denial(principal, "admin", foreign.queue));
  const outcome = await catalog(env).putTopic(name, definition);
  if (!outcome.ok) return refuse(outcome.code, outcome.detail);
  topics.set(name, outcome.topic);
  return { ok: true, created: outcome.created, topic: viewOf(outcome.topic) };
}

/** The topics the principal holds any scope on. */
export async function listTopics(
  env: Env,
  principal: Principal,
): Promise<Outcome<{ topics: TopicView[] }>> {
  const visible = (await catalog(env).listTopics()).filter((topic) =>
    allowsTopic(principal, "read", topic.name),
  );
  return { ok: true, topics: visible.map(viewOf) };
}

export async function getTopic(env: Env, name: string): Promise<Outcome<{ topic: TopicView }>> {
  const record = await catalog(env).getTopic(name);
  topics.set(name, record);
  return record === null ? topicNotFound(name) : { ok: true, topic: viewOf(record) };
}

/** Deletes the topic and its subscriptions; the queues and their messages stay. */
export async function deleteTopic(env: Env, name: string): Promise<Outcome<object>> {
  topics.delete(name);
  return (await catalog(env).deleteTopic(name)) ? { ok: true } : topicNotFound(name);
}

// ───────────────────────────── publishing ─────────────────────────────

/**
 * Sends each message to every subscribed queue whose filter passes it, all queues at once.
 * The answer names every queue's outcome. It is a refusal only when nothing was stored in
 * any queue and something was refused (so a client retries it whole, after `Retry-After`).
 */
export async function publish(
  env: Env,
  name: string,
  inputs: MessageInput[],
): Promise<Outcome<PublishResult>> {
  const topic = await topicRecord(env, name);
  if (topic === null) return topicNotFound(name);

  let outcomes = await Promise.all(
    topic.subscriptions.map((subscription) => deliver(env, name, subscription, inputs)),
  );
  // A queue deleted since this isolate cached the topic has left it (the catalog dropped its
  // subscriptions with it): read the topic afresh and leave such queues out of the answer.
  if (outcomes.some(({ refusal }) => refusal?.code === "queue_not_found")) {
    const fresh = await catalog(env).getTopic(name);
    topics.set(name, fresh);
    const subscribed = new Set(fresh?.subscriptions.map(({ queue }) => queue));
    outcomes = outcomes.filter(
      ({ refusal, delivery }) =>
        refusal?.code !== "queue_not_found" || subscribed.has(delivery.queue),
    );
  }
  const deliveries = outcomes.map(({ delivery }) => delivery);
  const refusals = outcomes.flatMap(({ refusal }) => (refusal ? [refusal] : []));
  const stored = deliveries.some((delivery) => delivery.messages.length > 0);
  if (!stored && refusals.length > 0) {
    const retryAfter = Math.max(...refusals.map((refusal) => refusal.retryAfterSeconds ?? 0));
    const [first] = refusals;
    const detail = `no subscribed queue stored the publish: ${deliveries
      .filter((delivery) => delivery.failed.length > 0)
      .map((delivery) => `${delivery.queue}: ${delivery.failed[0].detail}`)
      .join("; ")}`;
    return refuse(first.code, detail, retryAfter > 0 ? retryAfter : undefined);
  }
  count(name, "published", inputs.length);
  return {
    ok: true,
    deliveries,
    backpressure: outcomes.some((outcome) => outcome.backpressure),
  };
}

/** What one subscribed queue did with a publish, and its refusal when it refused it whole. */
interface SubscriptionOutcome {
  delivery: Delivery;
  refusal?: Refusal;
  backpressure: boolean;
}

/** Sends the queue a copy of each message its filter passes, in one call of the send path. */
async function deliver(
  env: Env,
  topic: string,
  { queue, filter }: Subscription,
  inputs: MessageInput[],
): Promise<SubscriptionOutcome> {
  const matched: number[] = [];
  const filtered: number[] = [];
  inputs.forEach((input, index) => {
    (matchesFilter(filter, input.headers ?? {}) ? matched : filtered).push(index);
  });
  count(topic, "filtered", filtered.length, queue);
  const delivery: Delivery = { queue, messages: [], failed: [], filtered };
  if (matched.length === 0) return { delivery, backpressure: false };

  const sent = await sendMessages(
    env,
    queue,
    matched.map((index) => copyFor(topic, inputs[index])),
  );
  if (!sent.ok) {
    delivery.failed = matched.map((index) => ({ index, code: sent.code, detail: sent.detail }));
    return { delivery, refusal: sent, backpressure: false };
  }
  // The send path numbers its messages by their place among the copies; the answer uses the
  // place in the publish.
  delivery.messages = sent.messages.map((message) => ({
    ...message,
    index: matched[message.index],
  }));
  delivery.failed = sent.failed.map((failure) => ({ ...failure, index: matched[failure.index] }));
  count(topic, "delivered", sent.messages.filter((message) => !message.duplicate).length, queue);
  return { delivery, backpressure: sent.backpressure };
}

/** A queue's copy: the message as published, its dedupId derived from the topic's. */
function copyFor(topic: string, input: MessageInput): MessageInput {
  if (input.dedupId === undefined) return input;
  return { ...input, dedupId: topicDedupId(topic, input.dedupId) };
}

/** Whether any queue refused some of the publish (the HTTP door answers 207). */
export function isPartial(result: PublishResult): boolean {
  return result.deliveries.some((delivery) => delivery.failed.length > 0);
}

// ───────────────────────────── metrics ─────────────────────────────

type TopicCounter = "published" | "delivered" | "filtered";

/** Counters of this isolate since it started, by topic and (for copies) by queue. */
const counters = new Map<string, number>();

function count(topic: string, counter: TopicCounter, by: number, queue?: string): void {
  if (by === 0) return;
  const key = JSON.stringify([counter, topic, queue ?? null]);
  counters.set(key, (counters.get(key) ?? 0) + by);
}

const TOPIC_METRICS: Record<TopicCounter, [name: string, help: string]> = {
  published: [
    "sluice_topic_published_total",
    "Messages published to a topic through this isolate.",
  ],
  delivered: [
    "sluice_topic_delivered_total",
    "Copies a topic's publishes stored in a subscribed queue (duplicates not counted).",
  ],
  filtered: [
    "sluice_topic_filtered_total",
    "Messages a subscription's filter passed over, so its queue got no copy.",
  ],
};

/**
 * The topic counters in Prometheus text (format 0.0.4), for the topics `visible` says the
 * caller may see; appended to the rest of `/metrics`.
 */
export function renderTopicMetrics(visible: (topic: string) => boolean): string {
  const lines: string[] = [];
  for (const counter of Object.keys(TOPIC_METRICS) as TopicCounter[]) {
    const [metric, help] = TOPIC_METRICS[counter];
    lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`);
    for (const [key, value] of counters) {
      const [kind, topic, queue] = JSON.parse(key) as [TopicCounter, string, string | null];
      if (kind !== counter || !visible(topic)) continue;
      const labels = `topic="${label(topic)}"${queue === null ? "" : `,queue="${label(queue)}"`}`;
      lines.push(`${metric}{${labels}} ${value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
