/**
 * What a topic is: a name and the queues subscribed to it, each with an optional header
 * filter (`topic-filter.ts`). The catalog stores topics; the router validates with the same
 * schemas and fans publishes out (worker/topics.ts).
 */
import { z } from "zod";
import { QueueNameSchema } from "./queue-config.ts";
import { type TopicFilter, TopicFilterSchema } from "./topic-filter.ts";

/** Most queues one topic fans out to. */
export const MAX_SUBSCRIPTIONS = 64;

/** Topic names follow queue names: 1–80 of A–Z a–z 0–9 - _ (no `.fifo`). */
export const TopicNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,80}$/, "a topic name is 1–80 characters of A–Z, a–z, 0–9, '-' and '_'");

export const SubscriptionSchema = z
  .object({ queue: QueueNameSchema, filter: TopicFilterSchema.optional() })
  .strict();

export const TopicDefinitionSchema = z
  .object({
    subscriptions: z
      .array(SubscriptionSchema)
      .max(MAX_SUBSCRIPTIONS, `a topic has at most ${MAX_SUBSCRIPTIONS} subscriptions`)
      .refine(
        (subscriptions) => new Set(subscriptions.map((s) => s.queue)).size === subscriptions.length,
        {
          message: "each queue is subscribed at most once; combine its filters into one",
        },
      ),
  })
  .strict();

export type TopicDefinition = z.output<typeof TopicDefinitionSchema>;

export interface Subscription {
  queue: string;
  filter: TopicFilter | null;
}

export interface TopicRecord {
  name: string;
  subscriptions: Subscription[];
  /** Increases on every change, so a cached copy can tell it is old. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * The dedupId a topic's copy carries in each queue: derived from the publish's, so a retried
 * publish is recognised by every queue that stored the first, and never collides with a
 * dedupId a producer sends to the queue directly unless it copies this form.
 */
export function topicDedupId(topic: string, dedupId: string): string {
  return `topic:${topic}:${dedupId}`;
}
