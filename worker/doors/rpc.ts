/**
 * The service-binding door: a Worker bound to Sluice's `SluiceRpc` entrypoint calls these
 * methods instead of making HTTP requests. They are the HTTP API's operations (operations.ts:
 * each method names the one it performs, `RPC_OPERATIONS`), with the same validation
 * (`schemas.ts`), scopes and shedding.
 *
 * Who calls: the binding's `props` name an API key, `{ keyId: "key_…" }` (wrangler config:
 * `[[services]] … entrypoint = "SluiceRpc"`, `props = { keyId = "key_…" }`). The binding acts
 * with that key's scopes and queue patterns; revoking the key cuts the binding off (at once in
 * this isolate, everywhere within `KEY_CACHE_MS`). Only Workers of the same account can bind,
 * so the key's id is enough: no secret travels.
 *
 * Answers are the service layer's values tagged `ok: true`, typed with the API's wire types
 * (`client/types.ts`, whose JSON type a binding's stub types can expand). Expected failures
 * are values too, `{ ok: false, status, code, detail, retryAfterSeconds? }`, with the status
 * and code the HTTP API would answer; a thrown error is a bug.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { z } from "zod";
import type * as wire from "../../client/types.ts";
import { type Parsed, type StoredBody, withParsedBody } from "../../core/message-json.ts";
import { admitted, park, type Ticket } from "../admission.ts";
import { authenticateKeyId, type Principal } from "../auth.ts";
import { type Callable, invoke, operations } from "../operations.ts";
import type { Outcome, Refusal } from "../outcome.ts";
import { Problem, problem, REFUSAL_STATUS } from "../problem.ts";
import { parseWith } from "../request.ts";
import {
  ClusterQuerySchema,
  DeadLetterQuerySchema,
  EditDeadLetterBodySchema,
  ExtendBodySchema,
  HistoryQuerySchema,
  IdSchema,
  KeyLimitsSchema,
  MessageInputSchema,
  MessageKeySchema,
  NackBodySchema,
  NewRedriveJobSchema,
  PauseBodySchema,
  PeekQuerySchema,
  PurgeDeadLettersBodySchema,
  PutScheduleBodySchema,
  QueueNameSchema,
  ReceiptsSchema,
  ReceiveBodySchema,
  RedriveBodySchema,
  ResumeBodySchema,
  ScheduleNameSchema,
  SendBatchSchema,
  TopicNameSchema,
} from "../schemas.ts";

/** What a binding to `SluiceRpc` configures as `props`. */
export const BindingPropsSchema = z.object({ keyId: IdSchema });
export type BindingProps = z.input<typeof BindingPropsSchema>;

/** An expected failure, as the HTTP API would have answered it. */
export interface RpcRefusal {
  ok: false;
  status: number;
  code: string;
  detail: string;
  /** Present when trying again later can succeed. */
  retryAfterSeconds?: number;
}

export type RpcOutcome<T> = ({ ok: true } & T) | RpcRefusal;

/** What a send answers: the HTTP body, and whether the queue asked producers to slow down. */
export interface RpcSendResult {
  messages: wire.SentMessage[];
  failed: wire.SendFailure[];
  backpressure: boolean;
}

const NackOptionsSchema = NackBodySchema.omit({ receipts: true });

/** The operation's service call for the binding's key (operations.ts `invoke`). */
type Call<Args extends unknown[], T> = (...args: Args) => Promise<Outcome<T>>;

/** Who is calling, and the admission slot the call holds. */
interface Caller {
  principal: Principal;
  ticket: Ticket;
}

/**
 * Each method of the entrypoint and the operation it performs (operations.ts), whose scope
 * and shed class it takes.
 */
export const RPC_OPERATIONS = {
  send: operations.send,
  sendBatch: operations.send,
  receive: operations.receive,
  ack: operations.ack,
  nack: operations.nack,
  extend: operations.extend,
  peek: operations.peek,
  pauseQueue: operations.pauseQueue,
  resumeQueue: operations.resumeQueue,
  getKey: operations.getKeyFlow,
  putKeyLimits: operations.putKeyLimits,
  getQueue: operations.getQueue,
  getHistory: operations.getHistory,
  listQueues: operations.listQueues,
  listDeadLetters: operations.listDeadLetters,
  getDeadLetter: operations.getDeadLetter,
  redriveDeadLetters: operations.redriveDeadLetters,
  deleteDeadLetter: operations.deleteDeadLetter,
  editDeadLetter: operations.editDeadLetter,
  purgeDeadLetters: operations.purgeDeadLetters,
  listFailureClusters: operations.listFailureClusters,
  createRedriveJob: operations.createRedriveJob,
  listRedriveJobs: operations.listRedriveJobs,
  getRedriveJob: operations.getRedriveJob,
  cancelRedriveJob: operations.cancelRedriveJob,
  publish: operations.publish,
  publishBatch: operations.publish,
  getTopic: operations.getTopic,
  listTopics: operations.listTopics,
  putSchedule: operations.putSchedule,
  getSchedule: operations.getSchedule,
  listSchedules: operations.listSchedules,
  pauseSchedule: operations.pauseSchedule,
  resumeSchedule: operations.resumeSchedule,
  deleteSchedule: operations.deleteSchedule,
};

const topicName = (value: unknown) =>
  parseWith(TopicNameSchema, value, "topic", "invalid_topic_name");
const scheduleName = (value: unknown) =>
  parseWith(ScheduleNameSchema, value, "schedule", "invalid_schedule_name");

/** What a publish answers: every subscribed queue's outcome, and whether one asked to slow. */
export interface RpcPublishResult {
  deliveries: wire.Delivery[];
  backpressure: boolean;
}

export class SluiceRpc extends WorkerEntrypoint<Env, Partial<BindingProps>> {
  // ───────────────────────────── producing ─────────────────────────────

  /** One message; the answer lists it like a batch of one. */
  send(queue: string, message: wire.NewMessage): Promise<RpcOutcome<RpcSendResult>> {
    return this.#onQueue(RPC_OPERATIONS.send, queue, (call, name) =>
      call(name, [parseWith(MessageInputSchema, message, "message")]),
    );
  }

  /** Up to 100 messages: stored in part (`failed` lists the rest) only across partitions. */
  sendBatch(queue: string, messages: wire.NewMessage[]): Promise<RpcOutcome<RpcSendResult>> {
    return this.#onQueue(RPC_OPERATIONS.sendBatch, queue, (call, name) =>
      call(name, parseWith(SendBatchSchema.shape.messages, messages, "messages")),
    );
  }

  // ───────────────────────────── consuming ─────────────────────────────

  receive(
    queue: string,
    options: wire.ReceiveOptions = {},
  ): Promise<RpcOutcome<{ messages: wire.ReceivedMessage[]; ack?: wire.AckResult }>> {
    return this.#onQueue(RPC_OPERATIONS.receive, queue, async (call, name, caller) => {
      const input = parseWith(ReceiveBodySchema, options, "options");
      const parked = input.wait > 0 ? park(this.env, caller.ticket, caller.principal) : null;
      return parked ?? withParsedBodies(await call(name, input));
    });
  }

  ack(queue: string, receipts: string[]): Promise<RpcOutcome<wire.AckResult>> {
    return this.#onQueue(RPC_OPERATIONS.ack, queue, (call, name) =>
      call(name, parseWith(ReceiptsSchema, receipts, "receipts")),
    );
  }

  nack(
    queue: string,
    receipts: string[],
    options: wire.NackOptions = {},
  ): Promise<RpcOutcome<wire.NackResult>> {
    return this.#onQueue(RPC_OPERATIONS.nack, queue, (call, name) =>
      call(
        name,
        parseWith(ReceiptsSchema, receipts, "receipts"),
        parseWith(NackOptionsSchema, options, "options"),
      ),
    );
  }

  extend(
    queue: string,
    receipts: string[],
    visibilityTimeout: number,
  ): Promise<RpcOutcome<wire.ExtendResult>> {
    return this.#onQueue(RPC_OPERATIONS.extend, queue, (call, name) =>
      call(
        name,
        parseWith(ReceiptsSchema, receipts, "receipts"),
        parseWith(ExtendBodySchema.shape.visibilityTimeout, visibilityTimeout, "visibilityTimeout"),
      ),
    );
  }

  peek(
    queue: string,
    query: wire.PeekQuery = {},
  ): Promise<RpcOutcome<{ messages: wire.PeekedMessage[] }>> {
    return this.#onQueue(RPC_OPERATIONS.peek, queue, async (call, name) =>
      withParsedBodies(await call(name, parseWith(PeekQuerySchema, query, "query"))),
    );
  }

  // ───────────────────────────── queues ─────────────────────────────

  /** The queue's configuration and stats. */
  getQueue(queue: string): Promise<RpcOutcome<{ queue: wire.Queue }>> {
    return this.#onQueue(RPC_OPERATIONS.getQueue, queue, (call, name) => call(name));
  }

  /** The queue's metrics history, its partitions merged (see `GET /v1/queues/:q/history`). */
  getHistory(queue: string, query: wire.HistoryQuery = {}): Promise<RpcOutcome<wire.QueueHistory>> {
    return this.#onQueue(RPC_OPERATIONS.getHistory, queue, (call, name) =>
      call(name, parseWith(HistoryQuerySchema, query, "query")),
    );
  }

  listQueues(): Promise<RpcOutcome<{ queues: wire.Queue[] }>> {
    return this.#run(RPC_OPERATIONS.listQueues, (call) => call());
  }

  // ───────────────────────────── dead letters ─────────────────────────────

  listDeadLetters(
    queue: string,
    query: wire.DeadLetterQuery = {},
  ): Promise<RpcOutcome<wire.DeadLetterPage>> {
    return this.#onQueue(RPC_OPERATIONS.listDeadLetters, queue, async (call, name) =>
      withParsedBodies(await call(name, parseWith(DeadLetterQuerySchema, query, "query"))),
    );
  }

  getDeadLetter(queue: string, id: string): Promise<RpcOutcome<{ message: wire.DeadMessage }>> {
    return this.#onQueue(RPC_OPERATIONS.getDeadLetter, queue, async (call, name) => {
      const answer = await call(name, parseWith(IdSchema, id, "id"));
      return answer.ok ? { ...answer, message: withParsedBody(answer.message) } : answer;
    });
  }

  redriveDeadLetters(
    queue: string,
    input: wire.RedriveInput,
  ): Promise<RpcOutcome<wire.RedriveResult>> {
    return this.#onQueue(RPC_OPERATIONS.redriveDeadLetters, queue, (call, name) =>
      call(name, parseWith(RedriveBodySchema, input, "input")),
    );
  }

  /** Changes a dead letter's body or headers before a redrive; kept in its `edits`. */
  editDeadLetter(
    queue: string,
    id: string,
    edit: wire.DeadLetterEditInput,
  ): Promise<RpcOutcome<{ message: wire.DeadMessage }>> {
    return this.#onQueue(RPC_OPERATIONS.editDeadLetter, queue, async (call, name) => {
      const answer = await call(
        name,
        parseWith(IdSchema, id, "id"),
        parseWith(EditDeadLetterBodySchema, edit, "edit"),
      );
      return answer.ok ? { ...answer, message: withParsedBody(answer.message) } : answer;
    });
  }

  deleteDeadLetter(queue: string, id: string): Promise<RpcOutcome<object>> {
    return this.#onQueue(RPC_OPERATIONS.deleteDeadLetter, queue, (call, name) =>
      call(name, parseWith(IdSchema, id, "id")),
    );
  }

  /** Every dead letter, or with `cluster` those of one failure cluster. */
  purgeDeadLetters(
    queue: string,
    input: wire.PurgeDeadLettersInput = {},
  ): Promise<RpcOutcome<{ purged: number }>> {
    return this.#onQueue(RPC_OPERATIONS.purgeDeadLetters, queue, (call, name) =>
      call(name, parseWith(PurgeDeadLettersBodySchema, input, "input")),
    );
  }

  /** Pauses the queue, or with `key` one key, until resumed or `until` (epoch ms). */
  pauseQueue(queue: string, input: wire.PauseInput = {}): Promise<RpcOutcome<wire.PauseState>> {
    return this.#onQueue(RPC_OPERATIONS.pauseQueue, queue, (call, name) =>
      call(name, parseWith(PauseBodySchema, input, "input")),
    );
  }

  /** Resumes the queue, or with `key` one key. */
  resumeQueue(queue: string, input: { key?: string } = {}): Promise<RpcOutcome<wire.PauseState>> {
    return this.#onQueue(RPC_OPERATIONS.resumeQueue, queue, (call, name) =>
      call(name, parseWith(ResumeBodySchema, input, "input")),
    );
  }

  /** A key's flow control: its own limits, what applies, its pause. */
  getKey(queue: string, key: string): Promise<RpcOutcome<{ key: wire.KeyFlow }>> {
    return this.#onQueue(RPC_OPERATIONS.getKey, queue, (call, name) =>
      call(name, parseWith(MessageKeySchema, key, "key")),
    );
  }

  /** Sets a key's own limits, overriding the queue's keyLimits field by field; {} drops them. */
  putKeyLimits(
    queue: string,
    key: string,
    limits: wire.KeyLimits,
  ): Promise<RpcOutcome<{ key: wire.KeyFlow }>> {
    return this.#onQueue(RPC_OPERATIONS.putKeyLimits, queue, (call, name) =>
      call(
        name,
        parseWith(MessageKeySchema, key, "key"),
        parseWith(KeyLimitsSchema, limits, "limits"),
      ),
    );
  }

  /** Dead letters grouped by the fingerprint of their final failure, largest first. */
  listFailureClusters(
    queue: string,
    query: wire.FailureClusterQuery = {},
  ): Promise<RpcOutcome<{ clusters: wire.FailureCluster[] }>> {
    return this.#onQueue(RPC_OPERATIONS.listFailureClusters, queue, (call, name) =>
      call(name, parseWith(ClusterQuerySchema, query, "query")),
    );
  }

  /** Starts a redrive job on the queue's dead letters (see `createRedriveJob` over HTTP). */
  createRedriveJob(
    queue: string,
    job: wire.NewRedriveJob = {},
  ): Promise<RpcOutcome<{ job: wire.RedriveJob }>> {
    return this.#onQueue(RPC_OPERATIONS.createRedriveJob, queue, (call, name) =>
      call(name, parseWith(NewRedriveJobSchema, job, "job")),
    );
  }

  listRedriveJobs(queue: string): Promise<RpcOutcome<{ jobs: wire.RedriveJob[] }>> {
    return this.#onQueue(RPC_OPERATIONS.listRedriveJobs, queue, (call, name) => call(name));
  }

  getRedriveJob(queue: string, id: string): Promise<RpcOutcome<{ job: wire.RedriveJob }>> {
    return this.#onQueue(RPC_OPERATIONS.getRedriveJob, queue, (call, name) =>
      call(name, parseWith(IdSchema, id, "id")),
    );
  }

  cancelRedriveJob(queue: string, id: string): Promise<RpcOutcome<{ job: wire.RedriveJob }>> {
    return this.#onQueue(RPC_OPERATIONS.cancelRedriveJob, queue, (call, name) =>
      call(name, parseWith(IdSchema, id, "id")),
    );
  }

  // ───────────────────────── topics and schedules ─────────────────────────

  /** One message to the topic: a copy in every subscribed queue whose filter matches. */
  publish(topic: string, message: wire.NewMessage): Promise<RpcOutcome<RpcPublishResult>> {
    return this.#run(RPC_OPERATIONS.publish, (call) =>
      call(topicName(topic), [parseWith(MessageInputSchema, message, "message")]),
    );
  }

  /** Up to 100 messages to the topic, in one publish. */
  publishBatch(topic: string, messages: wire.NewMessage[]): Promise<RpcOutcome<RpcPublishResult>> {
    return this.#run(RPC_OPERATIONS.publishBatch, (call) =>
      call(topicName(topic), parseWith(SendBatchSchema.shape.messages, messages, "messages")),
    );
  }

  getTopic(topic: string): Promise<RpcOutcome<{ topic: wire.Topic }>> {
    return this.#run(RPC_OPERATIONS.getTopic, (call) => call(topicName(topic)));
  }

  listTopics(): Promise<RpcOutcome<{ topics: wire.Topic[] }>> {
    return this.#run(RPC_OPERATIONS.listTopics, (call) => call());
  }

  /** Creates or replaces a schedule (admin on its queue). */
  putSchedule(
    name: string,
    schedule: wire.NewSchedule,
  ): Promise<RpcOutcome<{ created: boolean; schedule: wire.Schedule }>> {
    return this.#run(RPC_OPERATIONS.putSchedule, (call) =>
      call(scheduleName(name), parseWith(PutScheduleBodySchema, schedule, "schedule")),
    );
  }

  getSchedule(name: string): Promise<RpcOutcome<{ schedule: wire.Schedule }>> {
    return this.#run(RPC_OPERATIONS.getSchedule, (call) => call(scheduleName(name)));
  }

  listSchedules(): Promise<RpcOutcome<{ schedules: wire.Schedule[] }>> {
    return this.#run(RPC_OPERATIONS.listSchedules, (call) => call());
  }

  pauseSchedule(name: string): Promise<RpcOutcome<{ schedule: wire.Schedule }>> {
    return this.#run(RPC_OPERATIONS.pauseSchedule, (call) => call(scheduleName(name), true));
  }

  resumeSchedule(name: string): Promise<RpcOutcome<{ schedule: wire.Schedule }>> {
    return this.#run(RPC_OPERATIONS.resumeSchedule, (call) => call(scheduleName(name), false));
  }

  deleteSchedule(name: string): Promise<RpcOutcome<object>> {
    return this.#run(RPC_OPERATIONS.deleteSchedule, (call) => call(scheduleName(name)));
  }

  // ───────────────────────────── plumbing ─────────────────────────────

  /**
   * Admits the call as the router would a request for `op` (its shed class), resolves the
   * binding's key, runs the operation (whose `call` checks the key's scope) and turns every expected failure (shed, unknown key, bad argument,
   * refusal, overloaded object) into an `RpcRefusal`.
   */
  async #run<Args extends unknown[], T, R = T>(
    op: Callable<Args, T>,
    operation: (call: Call<Args, T>, caller: Caller) => Promise<Outcome<R>>,
  ): Promise<RpcOutcome<R>> {
    try {
      const outcome = await admitted(this.env, op.shed, async (ticket) => {
        const principal = await this.#principal();
        const call: Call<Args, T> = (...args) => invoke(op, this.env, principal, ...args);
        return operation(call, { principal, ticket });
      });
      return outcome.ok ? outcome : refusal(outcome);
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      return { ok: false, status: error.status, code: error.code, detail: error.detail };
    }
  }

  /** `#run` for an operation on one queue, whose name is checked like any other argument. */
  #onQueue<Args extends unknown[], T, R = T>(
    op: Callable<Args, T>,
    queue: unknown,
    operation: (call: Call<Args, T>, name: string, caller: Caller) => Promise<Outcome<R>>,
  ): Promise<RpcOutcome<R>> {
    return this.#run(op, (call, caller) =>
      operation(call, parseWith(QueueNameSchema, queue, "queue", "invalid_queue_name"), caller),
    );
  }

  async #principal(): Promise<Principal> {
    const props = BindingPropsSchema.safeParse(this.ctx.props);
    if (!props.success) {
      throw problem(
        401,
        "unauthorized",
        'this service binding names no API key; configure it with props = { keyId = "<id>" }, the id of a key made with POST /v1/keys',
      );
    }
    const principal = await authenticateKeyId(this.env, props.data.keyId);
    if (principal === null) {
      throw problem(
        401,
        "unauthorized",
        `the API key '${props.data.keyId}' named by this binding's props.keyId does not exist or was revoked`,
      );
    }
    return principal;
  }
}

/** A binding is answered with values: stored JSON bodies are parsed here, at the edge (bodies.ts). */
function withParsedBodies<T extends { messages: StoredBody[] }>(
  outcome: Outcome<T>,
): Outcome<Omit<T, "messages"> & { messages: Parsed<T["messages"][number]>[] }> {
  if (!outcome.ok) return outcome;
  return { ...outcome, messages: outcome.messages.map((message) => withParsedBody(message)) };
}

/** The RPC door's wire form of a refusal: the HTTP status travels with it. */
function refusal(refused: Refusal): RpcRefusal {
  return { ...refused, status: REFUSAL_STATUS[refused.code] };
}
