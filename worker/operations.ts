/**
 * Every operation of the API, one entry each: method and path, who may call it (`scope`), what
 * it is shed as under load (`shed`), what it reads (`request`), what it answers (`answers`),
 * the service call it makes (`act`) and its HTTP handler. Everything else is read from here:
 * the routes (doors/http/router.ts), the OpenAPI document (doors/http/openapi.ts), the access
 * check (`invoke`, which every door calls through), the RPC entrypoint's scopes and shed
 * classes (doors/rpc.ts) and the HTTP routes' admission (each runs in a slot of its entry's
 * shed class, doors/http/router.ts). See
 * docs/architecture.md, "One operation table"; test/worker/operations.test.ts holds the doors
 * to it.
 */
import type { z } from "zod";
import { inflight, type ShedClass } from "./admission.ts";
import {
  allows,
  allowsTopic,
  createKey,
  deleteKey,
  denial,
  listKeys,
  type Permission,
  type Principal,
  topicDenial,
} from "./auth.ts";
import { messageResponse, messagesResponse } from "./bodies.ts";
import { editDeadLetter } from "./dead-letter-edits.ts";
import { parkLongPoll, type SluiceRequest } from "./doors/http/middleware.ts";
import { openApiDocument } from "./doors/http/openapi.ts";
import { messagesReader } from "./doors/http/send-body.ts";
import { openSubscription } from "./doors/http/subscribe.ts";
import * as flowControl from "./flow-control.ts";
import { queueHistory } from "./history.ts";
import { renderMetrics } from "./metrics.ts";
import { type Outcome, type Refusal, refuse } from "./outcome.ts";
import { unwrap } from "./problem.ts";
import * as redriveJobs from "./redrive-jobs.ts";
import * as schedules from "./schedules.ts";
import {
  AckBodySchema,
  AckResultSchema,
  ClusterListSchema,
  ClusterQuerySchema,
  CreatedKeySchema,
  CreateKeyBodySchema,
  DeadLetterPageSchema,
  DeadLetterQuerySchema,
  DeadMessageSchema,
  EditDeadLetterBodySchema,
  ExtendBodySchema,
  ExtendResultSchema,
  HealthSchema,
  HistoryQuerySchema,
  HistorySchema,
  KeyFlowSchema,
  KeyLimitsSchema,
  KeyListSchema,
  NackBodySchema,
  NackResultSchema,
  NewRedriveJobSchema,
  PauseBodySchema,
  PauseResultSchema,
  PeekQuerySchema,
  PeekResultSchema,
  PublishResultSchema,
  PurgeDeadLettersBodySchema,
  PurgeResultSchema,
  PutScheduleBodySchema,
  PutTopicBodySchema,
  QueueConfigPatchSchema,
  QueueDefinitionSchema,
  QueueListSchema,
  QueueSchema,
  ReceiveBodySchema,
  ReceiveResultSchema,
  RedriveBodySchema,
  RedriveJobListSchema,
  RedriveJobSchema,
  RedriveResultSchema,
  ResumeBodySchema,
  ScheduleListSchema,
  ScheduleSchema,
  SendResultSchema,
  SubscribeQuerySchema,
  TopicListSchema,
  TopicSchema,
} from "./schemas.ts";
import * as service from "./service.ts";
import * as topics from "./topics.ts";

export type Method = "GET" | "PUT" | "POST" | "DELETE";

/**
 * Who may call: anyone (`public`), or a principal holding the permission (auth.ts `allows`)
 * on the queue the path names (`:q`), or on its topic (`:t`, the key's topic patterns). An
 * operation on neither needs the permission on every queue (the key endpoints), except `read`:
 * a listing answers whoever calls it, with only what the caller may read. Schedules check
 * their queue themselves (`invoke`).
 */
export type Scope = "public" | Permission;

/** An answer: its description, and the JSON schema or media type of its body, if any. */
export type Answer = readonly [description: string, content?: z.ZodType | "text/plain"];

/**
 * A body that is not one JSON schema: a send takes JSON (`json`) or a raw text or binary body
 * described by headers (`headers`), and reads it itself.
 */
export interface BodyReader<Body> {
  read: (request: SluiceRequest) => Promise<Body>;
  json: z.ZodType;
  headers: z.ZodType;
}

/** What an operation reads besides its path parameters (request.ts `PATH_PARAMETERS`). */
export interface RequestSchemas<Query, Body> {
  query?: z.ZodType<Query>;
  /** A JSON body; an empty body counts as `{}`. */
  body?: z.ZodType<Body>;
  reader?: BodyReader<Body>;
}

/** What the HTTP door hands a handler: the request as read and checked, and its service call. */
export interface HandlerInput<Query, Body, Args extends unknown[], Result> {
  request: SluiceRequest;
  env: Env;
  params: Record<string, string>;
  query: Query;
  body: Body;
  /** The operation's service call for the request's principal (`invoke`). */
  call: (...args: Args) => Promise<Outcome<Result>>;
}

export interface Operation<Query, Body, Args extends unknown[], Result> {
  method: Method;
  /** itty's pattern; each `:name` is one of request.ts `PATH_PARAMETERS`. */
  path: string;
  summary: string;
  scope: Scope;
  shed: ShedClass;
  request?: RequestSchemas<Query, Body>;
  answers: Record<number, Answer>;
  /** The service call; the arguments after `env` are the door's (a queue's name first). */
  act?: (env: Env, ...args: Args) => Promise<Outcome<Result>>;
  /** A service call that also decides by the caller: a listing, a redrive's target. */
  actFor?: (env: Env, principal: Principal, ...args: Args) => Promise<Outcome<Result>>;
  handler: (input: HandlerInput<Query, Body, Args, Result>) => Promise<Response> | Response;
}

/** What a door needs of an operation to call it: who may, its shed class, the service call. */
export type Callable<Args extends unknown[], Result> = Pick<
  Operation<unknown, unknown, Args, Result>,
  "method" | "path" | "scope" | "shed" | "act" | "actFor"
>;

// biome-ignore lint/suspicious/noExplicitAny: the table holds operations of every shape
export type AnyOperation = Operation<any, any, any[], any>;

function operation<Query, Body, Args extends unknown[], Result>(
  entry: Operation<Query, Body, Args, Result>,
): Operation<Query, Body, Args, Result> {
  return entry;
}

const json = (value: object, status = 200) => Response.json(value, { status });
const noContent = () => new Response(null, { status: 204 });

/** In the order of the API table in the README. */
export const operations = {
  putQueue: operation({
    method: "PUT",
    path: "/v1/queues/:q",
    summary: "Create a queue, or change its configuration (a partial config; partitions only grow)",
    scope: "admin",
    shed: "consume",
    request: { body: QueueConfigPatchSchema },
    answers: { 200: ["updated", QueueDefinitionSchema], 201: ["created", QueueDefinitionSchema] },
    actFor: service.putQueue,
    handler: async ({ params, body, call }) => {
      const { created, queue } = unwrap(await call(params.q, body));
      return json(queue, created ? 201 : 200);
    },
  }),
  listQueues: operation({
    method: "GET",
    path: "/v1/queues",
    summary: "The queues the token may see, with stats",
    scope: "read",
    shed: "consume",
    answers: { 200: ["queues", QueueListSchema] },
    actFor: service.listQueues,
    handler: async ({ call }) => json(unwrap(await call())),
  }),
  getQueue: operation({
    method: "GET",
    path: "/v1/queues/:q",
    summary: "A queue's configuration and stats",
    scope: "read",
    shed: "consume",
    answers: { 200: ["the queue", QueueSchema] },
    act: service.getQueue,
    handler: async ({ params, call }) => json(unwrap(await call(params.q)).queue),
  }),
  getHistory: operation({
    method: "GET",
    path: "/v1/queues/:q/history",
    summary:
      "The queue's metrics history, its partitions merged: per step (`step` seconds, default 60) sent, acked, nacked, dead-lettered, expired, shed, backlog and oldest age at the step's end, receive-to-ack latency p50 and p99; `from`/`to` epoch ms within the last 24 hours (default the last hour); steps with no traffic are left out",
    scope: "read",
    shed: "consume",
    request: { query: HistoryQuerySchema },
    answers: { 200: ["the history", HistorySchema] },
    actFor: queueHistory,
    handler: async ({ params, query, call }) => json(unwrap(await call(params.q, query))),
  }),
  deleteQueue: operation({
    method: "DELETE",
    path: "/v1/queues/:q",
    summary: "Delete a queue with its messages and dead letters",
    scope: "admin",
    shed: "consume",
    answers: { 204: ["deleted"] },
    act: service.deleteQueue,
    handler: async ({ params, call }) => {
      unwrap(await call(params.q));
      return noContent();
    },
  }),
  send: operation({
    method: "POST",
    path: "/v1/queues/:q/messages",
    summary:
      "Send messages: {messages: [...]} (up to 100), one message object, or a raw body (text/* is stored as text, anything else as bytes) described by Sluice-* headers",
    scope: "produce",
    shed: "produce",
    request: { reader: messagesReader },
    answers: {
      201: ["every message stored", SendResultSchema],
      207: [
        "a batch spanning partitions was stored in part; `failed` lists the rest",
        SendResultSchema,
      ],
    },
    act: service.sendMessages,
    handler: async ({ params, body, call }) => {
      const { messages, failed, backpressure } = unwrap(await call(params.q, body));
      return Response.json(failed.length > 0 ? { messages, failed } : { messages }, {
        status: failed.length > 0 ? 207 : 201,
        headers: backpressure ? { "Sluice-Backpressure": "slow" } : {},
      });
    },
  }),
  receive: operation({
    method: "POST",
    path: "/v1/queues/:q/receive",
    summary:
      "Lease up to `max` messages, waiting up to `wait` seconds for one; `ack` acks the receipts of the last receive first",
    scope: "consume",
    shed: "consume",
    request: { body: ReceiveBodySchema },
    answers: { 200: ["leased messages (and what became of `ack`)", ReceiveResultSchema] },
    act: service.receiveMessages,
    handler: async ({ request, env, params, body, call }) => {
      if (body.wait > 0) parkLongPoll(request, env);
      const { messages, ack } = unwrap(await call(params.q, body));
      return messagesResponse(messages, ack ? { ack } : {});
    },
  }),
  ack: operation({
    method: "POST",
    path: "/v1/queues/:q/ack",
    summary: "Acknowledge leased messages (never shed)",
    scope: "consume",
    shed: "essential",
    request: { body: AckBodySchema },
    answers: { 200: ["acknowledged", AckResultSchema] },
    act: service.ackMessages,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body.receipts))),
  }),
  nack: operation({
    method: "POST",
    path: "/v1/queues/:q/nack",
    summary: "Give leased messages back for a retry, or to the dead-letter queue at maxAttempts",
    scope: "consume",
    shed: "essential",
    request: { body: NackBodySchema },
    answers: { 200: ["retried or dead-lettered", NackResultSchema] },
    act: service.nackMessages,
    handler: async ({ params, body, call }) => {
      const { receipts, ...options } = body;
      return json(unwrap(await call(params.q, receipts, options)));
    },
  }),
  extend: operation({
    method: "POST",
    path: "/v1/queues/:q/extend",
    summary: "Set leases to end `visibilityTimeout` seconds from now",
    scope: "consume",
    shed: "essential",
    request: { body: ExtendBodySchema },
    answers: { 200: ["extended", ExtendResultSchema] },
    act: service.extendLeases,
    handler: async ({ params, body, call }) =>
      json(unwrap(await call(params.q, body.receipts, body.visibilityTimeout))),
  }),
  subscribe: operation({
    method: "GET",
    path: "/v1/queues/:q/subscribe",
    summary:
      'Open a WebSocket consumer (Upgrade: websocket; a browser offers its token as the subprotocol "bearer.<token>" beside "sluice.v1"); the client grants credit and acks over the socket, see docs/push-and-websockets.md',
    scope: "consume",
    shed: "consume",
    request: { query: SubscribeQuerySchema },
    answers: { 101: ["switched to the WebSocket protocol"] },
    act: service.checkSubscribe,
    handler: ({ request, env, params, query, call }) =>
      openSubscription(request, env, params.q, query.visibilityTimeout, () => call(params.q)),
  }),
  purgeQueue: operation({
    method: "POST",
    path: "/v1/queues/:q/purge",
    summary: "Drop every message of the queue (not its dead letters)",
    scope: "admin",
    shed: "consume",
    answers: { 200: ["purged", PurgeResultSchema] },
    act: service.purgeQueue,
    handler: async ({ params, call }) => json(unwrap(await call(params.q))),
  }),
  pauseQueue: operation({
    method: "POST",
    path: "/v1/queues/:q/pause",
    summary:
      "Pause the queue, or with `key` one key: nothing more is leased, pushed or sent to sockets (sends are still taken; leases already out run on and may be acked, nacked or extended) until resumed or `until`",
    scope: "admin",
    shed: "essential",
    request: { body: PauseBodySchema },
    answers: { 200: ["paused", PauseResultSchema] },
    act: flowControl.pauseQueue,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body))),
  }),
  resumeQueue: operation({
    method: "POST",
    path: "/v1/queues/:q/resume",
    summary:
      "Resume the queue, or with `key` one key; receives waiting in a long poll and push deliveries go on at once",
    scope: "admin",
    shed: "essential",
    request: { body: ResumeBodySchema },
    answers: { 200: ["resumed", PauseResultSchema] },
    act: flowControl.resumeQueue,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body))),
  }),
  getKeyFlow: operation({
    method: "GET",
    path: "/v1/queues/:q/keys/:key",
    summary:
      "A key's flow control: its own limits, the limits that apply, its pause, its messages leased and waiting",
    scope: "read",
    shed: "consume",
    answers: { 200: ["the key", KeyFlowSchema] },
    act: flowControl.getKeyFlow,
    handler: async ({ params, call }) => json(unwrap(await call(params.q, params.key)).key),
  }),
  putKeyLimits: operation({
    method: "PUT",
    path: "/v1/queues/:q/keys/:key",
    summary:
      "Set a key's own limits {rate?, burst?, concurrency?}, overriding the queue's keyLimits field by field; {} drops them",
    scope: "admin",
    shed: "consume",
    request: { body: KeyLimitsSchema },
    answers: { 200: ["the key", KeyFlowSchema] },
    act: flowControl.putKeyLimits,
    handler: async ({ params, body, call }) =>
      json(unwrap(await call(params.q, params.key, body)).key),
  }),
  peek: operation({
    method: "GET",
    path: "/v1/queues/:q/messages",
    summary: "Peek at messages without leasing them",
    scope: "consume",
    shed: "consume",
    request: { query: PeekQuerySchema },
    answers: { 200: ["messages", PeekResultSchema] },
    act: service.peekMessages,
    handler: async ({ params, query, call }) =>
      messagesResponse(unwrap(await call(params.q, query)).messages),
  }),
  listDeadLetters: operation({
    method: "GET",
    path: "/v1/queues/:q/dlq",
    summary: "Dead letters, newest first; filter by failure reason, body text (`q`) and time",
    scope: "consume",
    shed: "consume",
    request: { query: DeadLetterQuerySchema },
    answers: { 200: ["a page of dead letters", DeadLetterPageSchema] },
    act: service.listDeadLetters,
    handler: async ({ params, query, call }) => {
      const { messages, ...page } = unwrap(await call(params.q, query));
      return messagesResponse(messages, page);
    },
  }),
  // Before getDeadLetter, whose `:id` would take "clusters" and "redrive-jobs".
  listFailureClusters: operation({
    method: "GET",
    path: "/v1/queues/:q/dlq/clusters",
    summary:
      "Dead letters grouped into failure clusters by the fingerprint of their final failure reason (digits, ids, quoted values and times masked), largest first",
    scope: "consume",
    shed: "consume",
    request: { query: ClusterQuerySchema },
    answers: { 200: ["the failure clusters", ClusterListSchema] },
    act: service.listFailureClusters,
    handler: async ({ params, query, call }) => json(unwrap(await call(params.q, query))),
  }),
  listRedriveJobs: operation({
    method: "GET",
    path: "/v1/queues/:q/dlq/redrive-jobs",
    summary: "The queue's redrive jobs, newest first (at most 50)",
    scope: "consume",
    shed: "consume",
    answers: { 200: ["the jobs", RedriveJobListSchema] },
    actFor: redriveJobs.listRedriveJobs,
    handler: async ({ params, call }) => json(unwrap(await call(params.q))),
  }),
  getDeadLetter: operation({
    method: "GET",
    path: "/v1/queues/:q/dlq/:id",
    summary: "One dead letter with every failure",
    scope: "consume",
    shed: "consume",
    answers: { 200: ["the dead letter", DeadMessageSchema] },
    act: service.getDeadLetter,
    handler: async ({ params, call }) =>
      messageResponse(unwrap(await call(params.q, params.id)).message),
  }),
  redriveDeadLetters: operation({
    method: "POST",
    path: "/v1/queues/:q/dlq/redrive",
    summary: "Send dead letters back as fresh messages (to `target`, default this queue)",
    scope: "admin",
    shed: "produce",
    request: { body: RedriveBodySchema },
    answers: { 200: ["redriven", RedriveResultSchema] },
    actFor: service.redriveDeadLetters,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body))),
  }),
  createRedriveJob: operation({
    method: "POST",
    path: "/v1/queues/:q/dlq/redrive-jobs",
    summary:
      "Start a redrive job: move the dead letters a filter matches (cluster, reason, text, since, until, key) to `target` (default this queue) at `rate` messages per second, after a `canary` of N acked at the target if given; runs on the dead-letter object's alarm",
    scope: "admin",
    shed: "produce",
    request: { body: NewRedriveJobSchema },
    answers: { 201: ["started", RedriveJobSchema] },
    actFor: redriveJobs.createRedriveJob,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body)).job, 201),
  }),
  getRedriveJob: operation({
    method: "GET",
    path: "/v1/queues/:q/dlq/redrive-jobs/:id",
    summary: "A redrive job's progress: state, moved, remaining, failed again, its canary",
    scope: "consume",
    shed: "consume",
    answers: { 200: ["the job", RedriveJobSchema] },
    actFor: redriveJobs.getRedriveJob,
    handler: async ({ params, call }) => json(unwrap(await call(params.q, params.id)).job),
  }),
  cancelRedriveJob: operation({
    method: "POST",
    path: "/v1/queues/:q/dlq/redrive-jobs/:id/cancel",
    summary: "Stop a redrive job (what it moved stays moved)",
    scope: "admin",
    shed: "consume",
    answers: { 200: ["the job as it stopped", RedriveJobSchema] },
    actFor: redriveJobs.cancelRedriveJob,
    handler: async ({ params, call }) => json(unwrap(await call(params.q, params.id)).job),
  }),
  editDeadLetter: operation({
    method: "POST",
    path: "/v1/queues/:q/dlq/:id/edit",
    summary:
      "Change a dead letter's body (with its contentType) or headers before redriving it; the change is kept in its `edits` (who, when, the old value's SHA-256)",
    scope: "admin",
    shed: "consume",
    request: { body: EditDeadLetterBodySchema },
    answers: { 200: ["the dead letter as edited", DeadMessageSchema] },
    actFor: editDeadLetter,
    handler: async ({ params, body, call }) =>
      messageResponse(unwrap(await call(params.q, params.id, body)).message),
  }),
  deleteDeadLetter: operation({
    method: "DELETE",
    path: "/v1/queues/:q/dlq/:id",
    summary: "Delete one dead letter",
    scope: "admin",
    shed: "consume",
    answers: { 204: ["deleted"] },
    act: service.deleteDeadLetter,
    handler: async ({ params, call }) => {
      unwrap(await call(params.q, params.id));
      return noContent();
    },
  }),
  purgeDeadLetters: operation({
    method: "POST",
    path: "/v1/queues/:q/dlq/purge",
    summary:
      "Delete every dead letter of the queue, or with `cluster` those of one failure cluster",
    scope: "admin",
    shed: "consume",
    request: { body: PurgeDeadLettersBodySchema },
    answers: { 200: ["purged", PurgeResultSchema] },
    act: service.purgeDeadLetters,
    handler: async ({ params, body, call }) => json(unwrap(await call(params.q, body))),
  }),
  createKey: operation({
    method: "POST",
    path: "/v1/keys",
    summary: "Create an API key; its secret is in this answer only",
    scope: "admin",
    shed: "consume",
    request: { body: CreateKeyBodySchema },
    answers: { 201: ["created", CreatedKeySchema] },
    act: createKey,
    handler: async ({ body, call }) => json(unwrap(await call(body)).key, 201),
  }),
  listKeys: operation({
    method: "GET",
    path: "/v1/keys",
    summary: "Every API key (without secrets)",
    scope: "admin",
    shed: "consume",
    answers: { 200: ["keys", KeyListSchema] },
    act: listKeys,
    handler: async ({ call }) => json(unwrap(await call())),
  }),
  deleteKey: operation({
    method: "DELETE",
    path: "/v1/keys/:id",
    summary: "Revoke an API key",
    scope: "admin",
    shed: "consume",
    answers: { 204: ["revoked"] },
    act: deleteKey,
    handler: async ({ params, call }) => {
      unwrap(await call(params.id));
      return noContent();
    },
  }),
  // A topic (`:t`) is matched against the key's topic patterns. Schedules check access
  // themselves, on the schedule's queue (schedules.ts); `scope` says which scope that is.
  putTopic: operation({
    method: "PUT",
    path: "/v1/topics/:t",
    summary:
      "Create a topic, or replace its subscriptions: {subscriptions: [{queue, filter?}]}; a filter matches headers (exact, any of, {prefix}, {exists}); needs admin on the topic and each queue",
    scope: "admin",
    shed: "consume",
    request: { body: PutTopicBodySchema },
    answers: { 200: ["updated", TopicSchema], 201: ["created", TopicSchema] },
    actFor: topics.putTopic,
    handler: async ({ params, body, call }) => {
      const { created, topic } = unwrap(await call(params.t, body));
      return json(topic, created ? 201 : 200);
    },
  }),
  listTopics: operation({
    method: "GET",
    path: "/v1/topics",
    summary: "The topics the token may see, with their subscriptions",
    scope: "read",
    shed: "consume",
    answers: { 200: ["topics", TopicListSchema] },
    actFor: topics.listTopics,
    handler: async ({ call }) => json(unwrap(await call())),
  }),
  getTopic: operation({
    method: "GET",
    path: "/v1/topics/:t",
    summary: "A topic and its subscriptions",
    scope: "read",
    shed: "consume",
    answers: { 200: ["the topic", TopicSchema] },
    act: topics.getTopic,
    handler: async ({ params, call }) => json(unwrap(await call(params.t)).topic),
  }),
  deleteTopic: operation({
    method: "DELETE",
    path: "/v1/topics/:t",
    summary: "Delete a topic and its subscriptions (the queues and their messages stay)",
    scope: "admin",
    shed: "consume",
    answers: { 204: ["deleted"] },
    act: topics.deleteTopic,
    handler: async ({ params, call }) => {
      unwrap(await call(params.t));
      return noContent();
    },
  }),
  publish: operation({
    method: "POST",
    path: "/v1/topics/:t/messages",
    summary:
      "Publish: the bodies a queue send takes; one copy goes to every subscribed queue whose filter matches, its dedupId derived per queue from the one given",
    scope: "produce",
    shed: "produce",
    request: { reader: messagesReader },
    answers: {
      201: ["every matching queue stored its copies", PublishResultSchema],
      207: [
        "some queues refused (`failed` in their delivery); the others keep theirs",
        PublishResultSchema,
      ],
    },
    act: topics.publish,
    handler: async ({ params, body, call }) => {
      const { deliveries, backpressure } = unwrap(await call(params.t, body));
      const partial = deliveries.some((delivery) => delivery.failed.length > 0);
      return Response.json(
        { deliveries },
        {
          status: partial ? 207 : 201,
          headers: backpressure ? { "Sluice-Backpressure": "slow" } : {},
        },
      );
    },
  }),
  putSchedule: operation({
    method: "PUT",
    path: "/v1/schedules/:name",
    summary:
      "Create or replace a schedule: {queue, message, cron + timezone | every, start?, end?, paused?}; needs admin on the queue",
    scope: "admin",
    shed: "consume",
    request: { body: PutScheduleBodySchema },
    answers: { 200: ["updated", ScheduleSchema], 201: ["created", ScheduleSchema] },
    actFor: schedules.putSchedule,
    handler: async ({ params, body, call }) => {
      const { created, schedule } = unwrap(await call(params.name, body));
      return json(schedule, created ? 201 : 200);
    },
  }),
  listSchedules: operation({
    method: "GET",
    path: "/v1/schedules",
    summary: "The schedules of the queues the token may see",
    scope: "read",
    shed: "consume",
    answers: { 200: ["schedules", ScheduleListSchema] },
    actFor: schedules.listSchedules,
    handler: async ({ call }) => json(unwrap(await call())),
  }),
  getSchedule: operation({
    method: "GET",
    path: "/v1/schedules/:name",
    summary: "A schedule with its next 5 fire times and its last fire",
    scope: "read",
    shed: "consume",
    answers: { 200: ["the schedule", ScheduleSchema] },
    actFor: schedules.getSchedule,
    handler: async ({ params, call }) => json(unwrap(await call(params.name)).schedule),
  }),
  deleteSchedule: operation({
    method: "DELETE",
    path: "/v1/schedules/:name",
    summary: "Delete a schedule",
    scope: "admin",
    shed: "consume",
    answers: { 204: ["deleted"] },
    actFor: schedules.deleteSchedule,
    handler: async ({ params, call }) => {
      unwrap(await call(params.name));
      return noContent();
    },
  }),
  pauseSchedule: operation({
    method: "POST",
    path: "/v1/schedules/:name/pause",
    summary: "Pause a schedule: it sends nothing until resumed",
    scope: "admin",
    shed: "consume",
    answers: { 200: ["paused", ScheduleSchema] },
    actFor: schedules.pauseSchedule,
    handler: async ({ params, call }) => json(unwrap(await call(params.name, true)).schedule),
  }),
  resumeSchedule: operation({
    method: "POST",
    path: "/v1/schedules/:name/resume",
    summary: "Resume a schedule from its next fire time after now (missed fires are not sent)",
    scope: "admin",
    shed: "consume",
    answers: { 200: ["resumed", ScheduleSchema] },
    actFor: schedules.pauseSchedule,
    handler: async ({ params, call }) => json(unwrap(await call(params.name, false)).schedule),
  }),
  health: operation({
    method: "GET",
    path: "/health",
    summary: "Liveness",
    scope: "public",
    shed: "essential",
    answers: { 200: ["alive", HealthSchema] },
    handler: () => json({ ok: true }),
  }),
  openapi: operation({
    method: "GET",
    path: "/v1/openapi.json",
    summary: "This document",
    scope: "public",
    shed: "essential",
    answers: { 200: ["OpenAPI 3.1"] },
    handler: ({ request }) => json(openApiDocument(OPERATIONS, new URL(request.url).origin)),
  }),
  metrics: operation({
    method: "GET",
    path: "/metrics",
    summary: "Prometheus metrics: isolate counters and gauges of the queues the token may see",
    scope: "read",
    shed: "essential",
    answers: { 200: ["Prometheus text format 0.0.4", "text/plain"] },
    actFor: service.listQueues,
    handler: async ({ request, call }) =>
      new Response(
        renderMetrics(unwrap(await call()).queues, inflight()) +
          topics.renderTopicMetrics((topic) => allowsTopic(request.principal, "read", topic)),
        {
          headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
        },
      ),
  }),
};

export type OperationName = keyof typeof operations;

/** Every operation, in the table's order (the order routes are tried in). */
export const OPERATIONS: readonly AnyOperation[] = Object.values(operations);

// ───────────────────────────── access ─────────────────────────────

/** Whether the path names a queue (`:q`), whose name is then the service call's first argument. */
function onQueue(op: { path: string }): boolean {
  return op.path.includes("/:q");
}

/** Schedules: the schedule's queue decides (schedules.ts), which only the call can look up. */
function decidesOwnAccess(op: { path: string }): boolean {
  return op.path.startsWith("/v1/schedules");
}

/**
 * Null when `principal` may make the call, else the `forbidden` refusal that says why. `invoke`
 * asks it first; a door that must refuse before it reads the rest of a request (the SQS door)
 * asks it early, with the call's first argument.
 */
export function accessDenied(
  op: { path: string; scope: Scope },
  principal: Principal,
  args: unknown[],
): Refusal | null {
  if (op.scope === "public") return null;
  if (decidesOwnAccess(op)) return null;
  if (op.path.includes("/:t")) {
    const topic = String(args[0]);
    if (allowsTopic(principal, op.scope, topic)) return null;
    return refuse("forbidden", topicDenial(principal, op.scope, topic));
  }
  const queue = onQueue(op) ? String(args[0]) : undefined;
  if (queue === undefined && op.scope === "read") return null;
  if (allows(principal, op.scope, queue)) return null;
  return refuse("forbidden", denial(principal, op.scope, queue));
}

/**
 * Makes the operation's service call for `principal`, once it holds the operation's scope.
 * Every door calls the service layer through here, so this is where access is decided; the
 * scope is checked before the queue is looked up, so a key learns nothing about queues
 * outside its patterns.
 */
export async function invoke<Args extends unknown[], Result>(
  op: Callable<Args, Result>,
  env: Env,
  principal: Principal,
  ...args: Args
): Promise<Outcome<Result>> {
  const refusal = accessDenied(op, principal, args);
  if (refusal !== null) return refusal;
  if (op.actFor) return op.actFor(env, principal, ...args);
  if (op.act) return op.act(env, ...args);
  throw new TypeError(`${op.method} ${op.path} makes no service call`);
}

// ───────────────────────────── lookups ─────────────────────────────

/** The public operations' paths as itty matches them: `:name` is one segment, a final `/` optional. */
const PUBLIC_PATHS = OPERATIONS.filter((op) => op.scope === "public").map(
  (op) => new RegExp(`^${op.path.replace(/:\w+/g, "[^/]+")}/?$`),
);

/** Paths anyone may read, whatever the method: health checks and the API description. */
export function isPublicPath(pathname: string): boolean {
  return PUBLIC_PATHS.some((pattern) => pattern.test(pathname));
}
