/**
 * Compile-time check that the SDK's wire types (`client/types.ts`) stay in step with the
 * Worker's zod schemas. Nothing here runs: `npm run typecheck` fails when a schema changes and
 * the SDK's type does not. Answers must match both ways; for requests, everything the SDK
 * sends must be accepted and every field the API reads must be one the SDK can send.
 */
import type { z } from "zod";
import type * as wire from "../../client/types.ts";
import type { NewApiKeySchema } from "../../core/api-keys.ts";
import type { QueueConfigPatchSchema, QueueConfigSchema } from "../../core/queue-config.ts";
import type * as api from "../../worker/schemas.ts";

type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never]
  ? true
  : false;

type Answer<Schema extends z.ZodType, Sdk> = [z.output<Schema>] extends [Sdk]
  ? [Sdk] extends [z.output<Schema>]
    ? SameKeys<z.output<Schema>, Sdk>
    : false
  : false;

type Accepted<Schema extends z.ZodType, Sdk> = [Sdk] extends [z.input<Schema>]
  ? [Exclude<keyof z.input<Schema>, keyof Sdk>] extends [never]
    ? true
    : false
  : false;

/** Queries are parsed with coercion, so their output (with defaults optional) is the contract. */
type Query<Schema extends z.ZodType, Sdk> = [Partial<z.output<Schema>>] extends [Sdk]
  ? [Sdk] extends [Partial<z.output<Schema>>]
    ? SameKeys<z.output<Schema>, Sdk>
    : false
  : false;

type Holds<_Check extends true> = never;

export type Checks = [
  Holds<Answer<typeof api.JsonValueSchema, wire.JsonValue>>,
  Holds<Accepted<typeof api.MessageInputSchema, wire.NewMessage>>,
  Holds<Answer<typeof api.SendResultSchema, wire.SendResult>>,
  Holds<Accepted<typeof api.ReceiveBodySchema, wire.ReceiveOptions>>,
  Holds<Answer<typeof api.ReceivedMessageSchema, wire.ReceivedMessage>>,
  Holds<Answer<typeof api.ReceiptFailureSchema, wire.ReceiptFailure>>,
  Holds<Answer<typeof api.AckResultSchema, wire.AckResult>>,
  Holds<Accepted<typeof api.NackBodySchema, wire.NackOptions & { receipts: string[] }>>,
  Holds<Answer<typeof api.NackResultSchema, wire.NackResult>>,
  Holds<Answer<typeof api.ExtendResultSchema, wire.ExtendResult>>,
  Holds<Query<typeof api.PeekQuerySchema, wire.PeekQuery>>,
  Holds<Answer<typeof api.PeekedMessageSchema, wire.PeekedMessage>>,
  Holds<Answer<typeof QueueConfigSchema, wire.QueueConfig>>,
  Holds<Accepted<typeof QueueConfigPatchSchema, wire.QueueConfigPatch>>,
  Holds<Answer<typeof api.QueueStatsSchema, wire.QueueStats>>,
  Holds<Answer<typeof api.QueueDefinitionSchema, wire.QueueDefinition>>,
  Holds<Answer<typeof api.QueueSchema, wire.Queue>>,
  Holds<Answer<typeof api.DeadMessageSchema, wire.DeadMessage>>,
  Holds<Query<typeof api.DeadLetterQuerySchema, wire.DeadLetterQuery>>,
  Holds<Answer<typeof api.DeadLetterPageSchema, wire.DeadLetterPage>>,
  Holds<Accepted<typeof api.RedriveBodySchema, wire.RedriveInput>>,
  Holds<Answer<typeof api.RedriveResultSchema, wire.RedriveResult>>,
  Holds<Answer<typeof api.FailureClusterSchema, wire.FailureCluster>>,
  Holds<Query<typeof api.ClusterQuerySchema, wire.FailureClusterQuery>>,
  Holds<Accepted<typeof api.PurgeDeadLettersBodySchema, wire.PurgeDeadLettersInput>>,
  Holds<Accepted<typeof api.NewRedriveJobSchema, wire.NewRedriveJob>>,
  Holds<Query<typeof api.HistoryQuerySchema, wire.HistoryQuery>>,
  Holds<Answer<typeof api.HistorySchema, wire.QueueHistory>>,
  Holds<Accepted<typeof api.EditDeadLetterBodySchema, wire.DeadLetterEditInput>>,
  Holds<Answer<typeof api.RedriveJobSchema, wire.RedriveJob>>,
  Holds<Accepted<typeof NewApiKeySchema, wire.NewApiKey>>,
  Holds<Answer<typeof api.ApiKeySchema, wire.ApiKey>>,
  Holds<Answer<typeof api.CreatedKeySchema, wire.CreatedKey>>,
  Holds<Answer<typeof api.ProblemSchema, wire.Problem>>,
  Holds<Accepted<typeof api.PutTopicBodySchema, wire.TopicDefinition>>,
  Holds<Answer<typeof api.TopicSchema, wire.Topic>>,
  Holds<Answer<typeof api.PublishResultSchema, wire.PublishResult>>,
  Holds<Accepted<typeof api.PutScheduleBodySchema, wire.NewSchedule>>,
  Holds<Answer<typeof api.ScheduleSchema, wire.Schedule>>,
];
