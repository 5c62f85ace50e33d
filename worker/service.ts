/**
 * The queue operations every door shares: the HTTP routes, the service-binding entrypoint,
 * the WebSocket door and the SQS protocol all call these through the operation table
 * (operations.ts `invoke`), which decides who may. Nothing here knows about HTTP: answers are
 * values, expected failures are refusals (`outcome.ts`), and a thrown
 * error is a bug or an overloaded Durable Object (`isOverloaded`).
 *
 * Queue records are cached in the isolate for `QUEUE_CACHE_MS`: a queue created, changed or
 * deleted through another isolate is seen here within that time (at once in this isolate).
 */

import type {
  AckOutcome,
  DeadLetter,
  DeadMessage,
  DeliveredMessage,
  FailureCluster,
  ItemFailure,
  LeasedMessage,
  LeaseRef,
  NewMessage,
  PartitionContext,
  PartitionStats,
  PartitionUsage,
  PeekedMessage,
  Received,
} from "../core/contract.ts";
import { MAX_BATCH } from "../core/contract.ts";
import { messageBytes } from "../core/message-bytes.ts";
import type { QueueConfigPatch, QueueRecord } from "../core/queue-config.ts";
import { decodeReceipt } from "../core/receipt.ts";
import type { Partition } from "../durable-objects/partition.ts";
import { signingKey } from "../durable-objects/push.ts";
import { isOverloaded, SHED_RETRY_AFTER_SECONDS, shed } from "./admission.ts";
import { allows, denial, type Permission, type Principal, pushTargetDenial } from "./auth.ts";
import { TtlCache } from "./cache.ts";
import { flowStatsOf } from "./flow-stats.ts";
import { count } from "./metrics.ts";
import { type Outcome, type Refusal, refuse } from "./outcome.ts";
import { lessLoadedPartition, partitionForKey, recordLoad } from "./placement.ts";
import type {
  AckResult,
  ClusterQuery,
  DeadLetterQueryInput,
  MessageInput,
  PeekQuery,
  PurgeDeadLettersInput,
  QueueStats,
  QueueView,
  ReceiptFailure,
  ReceiveInput,
  RedriveInput,
  SendResult,
} from "./schemas.ts";

export const QUEUE_CACHE_MS = 5_000;

/**
 * With several partitions a long poll parks on one partition at a time, for at most this
 * long, then sweeps the others: a message sent to any partition is found within about this.
 */
const PARK_SLICE_MS = 2_000;

/**
 * A redrive of `all` moves at most this many pages (each at most `MAX_BATCH` messages within
 * the dead-letter object's byte budget); `remaining` says if more.
 */
const REDRIVE_PAGES_PER_CALL = 10;

const records = new TtlCache<string, QueueRecord | null>(QUEUE_CACHE_MS, 10_000);
/** Where the next receive of a queue starts its sweep, so consumers spread over partitions. */
const receiveStarts = new Map<string, number>();

type StoredQueue = { ok: true; record: QueueRecord };

// ───────────────────────────── plumbing ─────────────────────────────

function catalog(env: Env) {
  return env.CATALOG.getByName("catalog");
}

export function partition(env: Env, queue: string, index: number): DurableObjectStub<Partition> {
  return env.PARTITION.getByName(`${queue}/${index}`);
}

function deadLetters(env: Env, queue: string) {
  return env.DEAD_LETTERS.getByName(queue);
}

/** What a partition call carries: the partition knows its queue and index from its name. */
export function contextOf(record: QueueRecord): PartitionContext {
  return { config: record.config, configVersion: record.version };
}

function partitionIndexes(record: QueueRecord): number[] {
  return Array.from({ length: record.config.partitions }, (_, index) => index);
}

async function queueRecord(env: Env, name: string): Promise<QueueRecord | null> {
  const cached = records.get(name);
  if (cached !== undefined) return cached;
  const record = await catalog(env).getQueue(name);
  records.set(name, record);
  return record;
}

async function stored(env: Env, name: string): Promise<StoredQueue | Refusal> {
  const record = await queueRecord(env, name);
  if (record === null) {
    return refuse("queue_not_found", `no queue named '${name}'; create it first`);
  }
  return { ok: true, record };
}

/**
 * The queue, once the principal may act on it with `permission`, for the checks the operation
 * table cannot make: a redrive's target, the SQS door's reads. Permission is checked first,
 * so a key learns nothing about queues outside its patterns.
 */
async function resolve(
  env: Env,
  principal: Principal,
  permission: Permission,
  name: string,
): Promise<StoredQueue | Refusal> {
  if (!allows(principal, permission, name)) {
    return refuse("forbidden", denial(principal, permission, name));
  }
  return stored(env, name);
}

/**
 * An operation on one stored queue, as the operation table calls it: `(env, name, ...args)`.
 * Who may call it the table has decided (operations.ts `invoke`) before the queue is looked up.
 */
export function onQueue<Args extends unknown[], Answer>(
  operation: (env: Env, record: QueueRecord, ...args: Args) => Promise<Outcome<Answer>>,
) {
  return async (env: Env, name: string, ...args: Args): Promise<Outcome<Answer>> => {
    const found = await stored(env, name);
    return found.ok ? operation(env, found.record, ...args) : found;
  };
}

/** Calls every partition of the queue at once, each under its own context. */
export function eachPartition<R>(
  env: Env,
  record: QueueRecord,
  call: (stub: DurableObjectStub<Partition>, context: PartitionContext) => Promise<R>,
): Promise<R[]> {
  return Promise.all(
    partitionIndexes(record).map((index) =>
      call(partition(env, record.name, index), contextOf(record)),
    ),
  );
}

/**
 * The indexes of `items` grouped by the partition each goes to, in order of first use;
 * an item whose `target` is null is left out.
 */
function groupByPartition<T>(
  items: T[],
  target: (item: T, index: number) => number | null,
): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, index) => {
    const partition = target(item, index);
    if (partition === null) return;
    const group = groups.get(partition);
    if (group) group.push(index);
    else groups.set(partition, [index]);
  });
  return groups;
}

function partitionOutOfRange(record: QueueRecord, index: number | undefined): Refusal | null {
  const { partitions } = record.config;
  if (index === undefined || index < partitions) return null;
  return refuse(
    "partition_out_of_range",
    `queue '${record.name}' has partitions 0–${partitions - 1}; there is no partition ${index}`,
  );
}

// ───────────────────────────── queues ─────────────────────────────

export async function putQueue(
  env: Env,
  principal: Principal,
  name: string,
  patch: QueueConfigPatch,
): Promise<Outcome<{ created: boolean; queue: Omit<QueueView, "stats"> }>> {
  if (patch.push) {
    const signing = signingKey(env);
    if (!signing.ok) return refuse("invalid_config", `push: ${signing.detail}`);
    const denied = pushTargetDenial(env, principal, patch.push.url);
    if (denied !== null) return refuse("forbidden", denied);
  }
  const outcome = await catalog(env).putQueue(name, patch);
  if (!outcome.ok) return refuse(outcome.code, outcome.detail);
  records.set(name, outcome.queue);
  // A partition learns its configuration from the calls it gets: tell every one at once that
  // push was set or cleared, so messages already waiting are pushed without waiting for a send.
  if (patch.push !== undefined) {
    await eachPartition(env, outcome.queue, (stub, context) => stub.stats(context));
  }
  // A queue-wide pause is kept by each partition: partitions added by growing take it on.
  if (!outcome.created && patch.partitions !== undefined) {
    const { flow } = await partition(env, name, 0).stats(contextOf(outcome.queue));
    if (flow.paused) {
      const pause = { kind: "pause", key: null, until: flow.pausedUntil } as const;
      await eachPartition(env, outcome.queue, (stub, context) => stub.flow(context, pause));
    }
  }
  return { ok: true, created: outcome.created, queue: { name, config: outcome.queue.config } };
}

/** The queues the principal may see (any scope on a matching pattern), with their stats. */
export async function listQueues(
  env: Env,
  principal: Principal,
): Promise<Outcome<{ queues: QueueView[] }>> {
  const visible = (await catalog(env).listQueues()).filter((record) =>
    allows(principal, "read", record.name),
  );
  for (const record of visible) records.set(record.name, record);
  const queues = await Promise.all(visible.map((record) => viewOf(env, record)));
  return { ok: true, queues };
}

export const getQueue = onQueue(
  async (env, record): Promise<Outcome<{ queue: QueueView }>> => ({
    ok: true,
    queue: await viewOf(env, record),
  }),
);

/**
 * The queue's stored definition (configuration, version, timestamps) without its stats, for
 * a door that needs defaults or times the queue view does not show (the SQS door).
 */
export async function queueDefinition(
  env: Env,
  principal: Principal,
  name: string,
): Promise<Outcome<{ record: QueueRecord }>> {
  return resolve(env, principal, "read", name);
}

/**
 * Deletes the definition first (so no new sends are routed here), then drops every
 * partition's messages and the dead letters.
 */
export async function deleteQueue(env: Env, name: string): Promise<Outcome<object>> {
  const record = await catalog(env).getQueue(name);
  records.delete(name);
  if (record === null || !(await catalog(env).deleteQueue(name))) {
    return refuse("queue_not_found", `no queue named '${name}'`);
  }
  await Promise.all([
    eachPartition(env, record, (stub) => stub.destroy()),
    deadLetters(env, name).purge(),
  ]);
  return { ok: true };
}

async function viewOf(env: Env, record: QueueRecord): Promise<QueueView> {
  return { name: record.name, config: record.config, stats: await statsOf(env, record) };
}

async function statsOf(env: Env, record: QueueRecord): Promise<QueueStats> {
  const [partitions, deadLettered] = await Promise.all([
    eachPartition(env, record, (stub, context) => stub.stats(context)),
    deadLetters(env, record.name).count(),
  ]);
  const sum = (field: keyof PartitionStats) =>
    partitions.reduce((total, stats) => total + ((stats[field] as number | null) ?? 0), 0);
  const oldest = partitions
    .map((stats) => stats.oldestSentAt)
    .filter((sentAt): sentAt is number => sentAt !== null);
  for (const stats of partitions) recordLoad(record.name, stats);
  return {
    ready: sum("ready"),
    leased: sum("leased"),
    delayed: sum("delayed"),
    deadLettered,
    oldestAgeMs: oldest.length === 0 ? 0 : Math.max(0, Date.now() - Math.min(...oldest)),
    sent: sum("sent"),
    acked: sum("acked"),
    backlogBytes: sum("backlogBytes"),
    ...flowStatsOf(partitions, Date.now()),
    usage: sumUsage(partitions.map((stats) => stats.usage)),
  };
}

/** What the queue's partitions cost since each last started: an operator metric. */
function sumUsage(usages: PartitionUsage[]): PartitionUsage {
  const total: PartitionUsage = { requests: 0, statements: 0, rowsRead: 0, rowsWritten: 0 };
  for (const usage of usages) {
    total.requests += usage.requests;
    total.statements += usage.statements;
    total.rowsRead += usage.rowsRead;
    total.rowsWritten += usage.rowsWritten;
  }
  return total;
}

// ───────────────────────────── messages ─────────────────────────────

export type SendAnswer = Outcome<
  SendResult & { failed: NonNullable<SendResult["failed"]>; backpressure: boolean }
>;

export const sendMessages = onQueue(
  (env, record, inputs: MessageInput[]): Promise<SendAnswer> =>
    sendToQueue(env, record, inputs.map(toNewMessage)),
);

/** Sends messages already in their stored form (a redrive): nothing parsed or serialised again. */
export const sendStoredMessages = onQueue(
  (env, record, messages: NewMessage[]): Promise<SendAnswer> => sendToQueue(env, record, messages),
);

function toNewMessage(input: MessageInput): NewMessage {
  const { body, contentType, headers, ...routing } = input;
  return {
    ...routing,
    body: contentType === "application/json" ? JSON.stringify(body) : (body as string),
    contentType,
    headers: headers ?? {},
  };
}

/**
 * Routes each message to its partition and sends one batch per partition. A batch that
 * spans partitions can be stored in part: the answer lists what was stored and what was
 * refused; it is a refusal only when nothing was stored.
 */
async function sendToQueue(
  env: Env,
  record: QueueRecord,
  messages: NewMessage[],
): Promise<SendAnswer> {
  const { name, config } = record;
  const tooLarge = messages.findIndex((message) => messageBytes(message) > config.maxMessageBytes);
  if (tooLarge !== -1) {
    return refuse(
      "message_too_large",
      `message ${tooLarge} is ${messageBytes(messages[tooLarge])} bytes (body and headers); queue '${name}' takes at most ${config.maxMessageBytes} bytes (maxMessageBytes)`,
    );
  }
  // Retention counts from the send, so a message delayed that long would be dropped unseen.
  const tooLate = messages.findIndex((message) => (message.delaySeconds ?? 0) >= config.retention);
  if (tooLate !== -1) {
    return refuse(
      "delay_beyond_retention",
      `message ${tooLate} is delayed ${messages[tooLate].delaySeconds} s; queue '${name}' keeps messages ${config.retention} s (retention), so delay less than that or raise retention`,
    );
  }

  const spread = lessLoadedPartition(name, config.partitions);
  const groups = groupByPartition(messages, (message) => {
    const routingKey = message.key ?? message.dedupId;
    return routingKey === undefined ? spread : partitionForKey(routingKey, config.partitions);
  });

  const sent: SendResult["messages"] = [];
  const failed: NonNullable<SendResult["failed"]> = [];
  let backpressure = false;
  let retryAfterSeconds = SHED_RETRY_AFTER_SECONDS;
  await Promise.all(
    [...groups].map(async ([target, indexes]) => {
      const batch = indexes.map((index) => messages[index]);
      let outcome: Awaited<ReturnType<Partition["send"]>>;
      try {
        outcome = await partition(env, name, target).send(contextOf(record), batch);
      } catch (error) {
        if (!isOverloaded(error)) throw error;
        const detail = `partition ${target} of queue '${name}' is overloaded; retry shortly`;
        for (const index of indexes) failed.push({ index, code: "overloaded", detail });
        return;
      }
      recordLoad(name, outcome.stats);
      if (!outcome.ok) {
        retryAfterSeconds = Math.max(retryAfterSeconds, outcome.retryAfterSeconds);
        const held = outcome.stats.ready + outcome.stats.leased + outcome.stats.delayed;
        const detail = `partition ${target} of queue '${name}' holds ${held} messages, at its hard backlog limit of ${config.backlog.hard}; consume some, or retry later`;
        for (const index of indexes) failed.push({ index, code: "backlog_full", detail });
        return;
      }
      backpressure ||= outcome.backpressure;
      outcome.messages.forEach(({ id, seq, duplicate }, position) => {
        sent.push({ index: indexes[position], id, partition: target, seq, duplicate });
      });
    }),
  );
  sent.sort((a, b) => a.index - b.index);
  failed.sort((a, b) => a.index - b.index);
  count("sent", sent.filter((message) => !message.duplicate).length);
  // Refused whole, the send was shed (full or overloaded partitions): counted once, here.
  if (sent.length === 0) return shed(failed[0].code, failed[0].detail, retryAfterSeconds);
  return { ok: true, messages: sent, failed, backpressure };
}

/**
 * Leases up to `max` messages. Without a partition it sweeps the partitions from a rotating
 * start; with `wait` and nothing found it parks on one partition at a time (see
 * `PARK_SLICE_MS`). Messages are only leased by calls whose answer is returned, so none is
 * stranded under a lease nobody holds.
 *
 * `ack` (a consumer's last receive, acked by its next): the first partition asked settles its
 * share in the lease's own commit round, before leasing; the other partitions' shares go in
 * ack calls alongside. Once admitted, such a receive always answers what became of its acks,
 * even when no partition could lease (an overloaded partition fails its receipts, per item).
 */
export const receiveMessages = onQueue(
  async (
    env,
    record,
    options: ReceiveInput,
  ): Promise<Outcome<{ messages: DeliveredMessage[]; ack?: AckResult }>> => {
    const { name, config } = record;
    if (config.push) return pushQueueRefusal(name, config.push.url);
    const outOfRange = partitionOutOfRange(record, options.partition);
    if (outOfRange) return outOfRange;

    const order =
      options.partition === undefined ? rotation(name, config.partitions) : [options.partition];
    const acks = options.ack ? new ReceiptBatch(options.ack, config.partitions) : null;
    // `sweepThenPark` always asks order[0] first: its share rides on that call.
    let carried = acks?.groups.has(order[0]) ? order[0] : null;
    let acked = 0;
    const acking = acks
      ? settleBatch(
          env,
          record,
          acks,
          [...acks.groups.keys()].filter((p) => p !== carried),
          ackCall,
        )
      : Promise.resolve([]);

    const lease = async (index: number, max: number, waitMs: number) => {
      const ack = acks && index === carried ? acks.leases(index) : undefined;
      if (ack) carried = null;
      let answer: Received;
      try {
        answer = await partition(env, name, index).receive(contextOf(record), {
          max,
          waitMs,
          ...(options.visibilityTimeout === undefined
            ? {}
            : { visibilityTimeout: options.visibilityTimeout }),
          ...(ack ? { ack } : {}),
        });
      } catch (error) {
        if (ack && isOverloaded(error)) acks?.overloaded(index);
        throw error;
      }
      recordLoad(name, answer.stats);
      if (acks && answer.ack) {
        acks.answered(index, answer.ack.failed);
        acked += answer.ack.acked;
      }
      return answer.messages;
    };
    const waitMs = options.wait * 1000;
    const leasing = sweepThenPark(order, options.max, waitMs, lease).catch((error) => {
      if (acks && isOverloaded(error)) return [];
      throw error;
    });
    const [leased, others] = await Promise.all([leasing, acking]);
    count("received", leased.length);
    // When each lease began (docs/architecture.md, "Trace context"): its end less its length.
    const leaseMs = (options.visibilityTimeout ?? config.visibilityTimeout) * 1000;
    const messages = leased.map((message) => ({
      ...message,
      leasedAt: message.leaseExpiresAt - leaseMs,
    }));
    if (!acks) return { ok: true, messages };
    acked += total(others, (outcome) => outcome.acked);
    count("acked", acked);
    return { ok: true, messages, ack: { acked, failed: acks.failed() } };
  },
);

/**
 * A push queue's messages go to its endpoint; pulling them as well would race it for the
 * same messages, so receives are refused until push is removed.
 */
function pushQueueRefusal(name: string, url: string): Refusal {
  return refuse(
    "push_queue",
    `queue '${name}' is delivered by push to ${new URL(url).host}; remove push from its configuration (PUT {"push": null}) to receive from it`,
  );
}

/**
 * Whether the principal may hold a WebSocket consumer on the queue: what a receive needs. The
 * socket's leases are then taken by `receiveMessages`, which checks again each time.
 */
export const checkSubscribe = onQueue(async (_env, record): Promise<Outcome<object>> => {
  const { push } = record.config;
  return push ? pushQueueRefusal(record.name, push.url) : { ok: true };
});

type Lease = (index: number, max: number, waitMs: number) => Promise<LeasedMessage[]>;

function rotation(name: string, partitions: number): number[] {
  const start = (receiveStarts.get(name) ?? 0) % partitions;
  receiveStarts.set(name, start + 1);
  return Array.from({ length: partitions }, (_, offset) => (start + offset) % partitions);
}

async function sweepThenPark(order: number[], max: number, waitMs: number, lease: Lease) {
  // One partition answers at once when it has messages and parks otherwise.
  if (order.length === 1) return lease(order[0], max, waitMs);
  const deadline = Date.now() + waitMs;
  let leased = await sweep(order, max, lease);
  for (let turn = 0; leased.length === 0; turn++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    leased = await lease(order[turn % order.length], max, Math.min(remaining, PARK_SLICE_MS));
    if (leased.length === 0) leased = await sweep(order, max, lease);
  }
  return leased;
}

/**
 * One pass over the partitions without waiting. An overloaded partition is skipped; only
 * when nothing was leased and one was overloaded does the overload surface.
 */
async function sweep(order: number[], max: number, lease: Lease): Promise<LeasedMessage[]> {
  const leased: LeasedMessage[] = [];
  let overload: unknown;
  for (const index of order) {
    if (leased.length >= max) break;
    try {
      leased.push(...(await lease(index, max - leased.length, 0)));
    } catch (error) {
      if (!isOverloaded(error)) throw error;
      overload = error;
    }
  }
  if (leased.length === 0 && overload !== undefined) throw overload;
  return leased;
}

/**
 * A request's receipts, decoded once and grouped by the partition each names: a partition gets
 * lease references (seq and token). Receipts that are not ours fail at once; each partition's
 * answer adds its own failures, and `failed` lists them all in request order.
 */
class ReceiptBatch {
  readonly groups: Map<number, number[]>;
  readonly #leases: LeaseRef[] = [];
  readonly #failures: { index: number; failure: ReceiptFailure }[] = [];

  constructor(
    readonly receipts: string[],
    partitions: number,
  ) {
    this.groups = groupByPartition(receipts, (receipt, index) => {
      const decoded = decodeReceipt(receipt);
      if (decoded !== null && decoded.partition < partitions) {
        this.#leases[index] = { seq: decoded.seq, token: decoded.token };
        return decoded.partition;
      }
      this.#fail(index, "receipt_invalid");
      return null;
    });
  }

  leases(target: number): LeaseRef[] {
    return (this.groups.get(target) ?? []).map((index) => this.#leases[index]);
  }

  /** Partition `target`'s failures, each at its position in `leases(target)`. */
  answered(target: number, failed: ItemFailure[]): void {
    const indexes = this.groups.get(target) ?? [];
    for (const item of failed) this.#fail(indexes[item.index], item.code);
  }

  overloaded(target: number): void {
    for (const index of this.groups.get(target) ?? []) this.#fail(index, "overloaded");
  }

  failed(): ReceiptFailure[] {
    return this.#failures.sort((a, b) => a.index - b.index).map(({ failure }) => failure);
  }

  #fail(index: number, code: ReceiptFailure["code"]): void {
    this.#failures.push({ index, failure: { receipt: this.receipts[index], code } });
  }
}

type SettleCall<R> = (
  stub: DurableObjectStub<Partition>,
  context: PartitionContext,
  leases: LeaseRef[],
) => Promise<R>;

const ackCall: SettleCall<AckOutcome> = (stub, context, leases) => stub.ack(context, leases);

/** Sends each receipt to the partition it names, one call per partition. */
async function settle<R extends { failed: ItemFailure[]; stats: PartitionStats }>(
  env: Env,
  record: QueueRecord,
  receipts: string[],
  call: SettleCall<R>,
): Promise<{ outcomes: R[]; failed: ReceiptFailure[] }> {
  const batch = new ReceiptBatch(receipts, record.config.partitions);
  const outcomes = await settleBatch(env, record, batch, [...batch.groups.keys()], call);
  return { outcomes, failed: batch.failed() };
}

/** Settles the leases `batch` holds for the `targets` partitions; an overloaded one fails its own. */
async function settleBatch<R extends { failed: ItemFailure[]; stats: PartitionStats }>(
  env: Env,
  record: QueueRecord,
  batch: ReceiptBatch,
  targets: number[],
  call: SettleCall<R>,
): Promise<R[]> {
  const outcomes: R[] = [];
  await Promise.all(
    targets.map(async (target) => {
      try {
        const outcome = await call(
          partition(env, record.name, target),
          contextOf(record),
          batch.leases(target),
        );
        recordLoad(record.name, outcome.stats);
        batch.answered(target, outcome.failed);
        outcomes.push(outcome);
      } catch (error) {
        if (!isOverloaded(error)) throw error;
        batch.overloaded(target);
      }
    }),
  );
  return outcomes;
}

function total<R>(outcomes: R[], field: (outcome: R) => number): number {
  return outcomes.reduce((sum, outcome) => sum + field(outcome), 0);
}

export const ackMessages = onQueue(
  async (
    env,
    record,
    receipts: string[],
  ): Promise<Outcome<{ acked: number; failed: ReceiptFailure[] }>> => {
    const { outcomes, failed } = await settle(env, record, receipts, ackCall);
    const acked = total(outcomes, (outcome) => outcome.acked);
    count("acked", acked);
    return { ok: true, acked, failed };
  },
);

export const nackMessages = onQueue(
  async (
    env,
    record,
    receipts: string[],
    options: { delaySeconds?: number; reason?: string },
  ): Promise<Outcome<{ retried: number; deadLettered: number; failed: ReceiptFailure[] }>> => {
    const { outcomes, failed } = await settle(env, record, receipts, (stub, context, batch) =>
      stub.nack(context, batch, options),
    );
    const retried = total(outcomes, (outcome) => outcome.retried);
    const deadLettered = total(outcomes, (outcome) => outcome.deadLettered);
    count("nacked", retried + deadLettered);
    count("deadLettered", deadLettered);
    return { ok: true, retried, deadLettered, failed };
  },
);

export const extendLeases = onQueue(
  async (
    env,
    record,
    receipts: string[],
    visibilityTimeout: number,
  ): Promise<Outcome<{ extended: number; failed: ReceiptFailure[] }>> => {
    const { outcomes, failed } = await settle(env, record, receipts, (stub, context, batch) =>
      stub.extend(context, batch, visibilityTimeout),
    );
    return { ok: true, extended: total(outcomes, (outcome) => outcome.extended), failed };
  },
);

/**
 * Looks at messages without leasing them. `after` is a seq, so it pages within one
 * partition; without `partition` every partition is read and the oldest `limit` returned.
 */
export const peekMessages = onQueue(
  async (env, record, query: PeekQuery): Promise<Outcome<{ messages: PeekedMessage[] }>> => {
    const outOfRange = partitionOutOfRange(record, query.partition);
    if (outOfRange) return outOfRange;
    const indexes = query.partition === undefined ? partitionIndexes(record) : [query.partition];
    const pages = await Promise.all(
      indexes.map((index) =>
        partition(env, record.name, index).peek(contextOf(record), {
          limit: query.limit,
          ...(query.after === undefined ? {} : { after: query.after }),
        }),
      ),
    );
    const messages = pages
      .flatMap((page) => page.messages)
      .sort((a, b) => a.sentAt - b.sentAt || a.partition - b.partition || a.seq - b.seq)
      .slice(0, query.limit);
    return { ok: true, messages };
  },
);

/** Drops every message held by the queue's partitions (not its dead letters). */
export const purgeQueue = onQueue(async (env, record): Promise<Outcome<{ purged: number }>> => {
  const answers = await eachPartition(env, record, (stub, context) => stub.purge(context));
  return { ok: true, purged: total(answers, (answer) => answer.purged) };
});

// ───────────────────────────── dead letters ─────────────────────────────

export const listDeadLetters = onQueue(
  async (
    env,
    record,
    query: DeadLetterQueryInput,
  ): Promise<Outcome<{ messages: DeadLetter[]; cursor: string | null }>> => {
    const { q, ...filters } = query;
    const page = await deadLetters(env, record.name).list({
      ...filters,
      ...(q === undefined ? {} : { text: q }),
    });
    return { ok: true, messages: page.messages, cursor: page.cursor };
  },
);

function deadLetterNotFound(record: QueueRecord, id: string): Refusal {
  return refuse(
    "dead_letter_not_found",
    `queue '${record.name}' has no dead letter with id '${id}'`,
  );
}

export const getDeadLetter = onQueue(
  async (env, record, id: string): Promise<Outcome<{ message: DeadLetter }>> => {
    const message = await deadLetters(env, record.name).get(id);
    if (message === null) return deadLetterNotFound(record, id);
    return { ok: true, message };
  },
);

export const deleteDeadLetter = onQueue(
  async (env, record, id: string): Promise<Outcome<object>> => {
    const { removed } = await deadLetters(env, record.name).remove([id]);
    if (removed === 0) return deadLetterNotFound(record, id);
    return { ok: true };
  },
);

/** Every dead letter of the queue, or with `cluster` those of one failure cluster. */
export const purgeDeadLetters = onQueue(
  async (env, record, input: PurgeDeadLettersInput = {}): Promise<Outcome<{ purged: number }>> => ({
    ok: true,
    ...(await deadLetters(env, record.name).purge(input.cluster)),
  }),
);

/** The queue's dead letters grouped by the fingerprint of their final failure, largest first. */
export const listFailureClusters = onQueue(
  async (env, record, query: ClusterQuery): Promise<Outcome<{ clusters: FailureCluster[] }>> => ({
    ok: true,
    clusters: await deadLetters(env, record.name).clusters(query.limit),
  }),
);

/**
 * Sends dead letters back (to `target`, default the same queue) as fresh messages: same
 * body, key, headers, content type and priority, attempts from zero, no dedup id (the
 * original's would mark them duplicates). Each is sent before it is removed, so a failure
 * between the two leaves a copy in both places rather than in neither. Unknown ids are
 * skipped; `redriven` counts what moved.
 */
export async function redriveDeadLetters(
  env: Env,
  principal: Principal,
  name: string,
  input: RedriveInput,
): Promise<Outcome<{ redriven: number; remaining: number }>> {
  // The table checked admin on the source; the target, named in the body, needs produce.
  const source = await stored(env, name);
  if (!source.ok) return source;
  const targetName = input.target ?? name;
  const target =
    targetName === name ? source : await resolve(env, principal, "produce", targetName);
  if (!target.ok) return target;

  const dead = deadLetters(env, name);
  let redriven = 0;
  // Each page is within the dead-letter object's byte budget: the asked ids a page at a time
  // until each was looked at, or for `all` at most REDRIVE_PAGES_PER_CALL list pages.
  let unread = input.ids ?? [];
  for (let page = 0; input.ids ? unread.length > 0 : page < REDRIVE_PAGES_PER_CALL; page++) {
    let batch: DeadMessage[];
    if (input.ids) {
      ({ messages: batch, unread } = await dead.getMany(unread));
    } else {
      batch = (await dead.list({ limit: MAX_BATCH })).messages;
    }
    if (batch.length === 0) break;
    const sent = await sendToQueue(env, target.record, batch.map(asFreshMessage));
    if (!sent.ok) {
      if (redriven === 0) return sent;
      break;
    }
    const moved = sent.messages.map((message) => batch[message.index].id);
    await dead.remove(moved);
    redriven += moved.length;
    if (sent.failed.length > 0) break;
  }
  return { ok: true, redriven, remaining: await dead.count() };
}

/** A dead letter as a new send: as the original was sent, with no dedupId of its own. */
export function asFreshMessage(message: DeadMessage): NewMessage {
  return {
    body: message.body,
    contentType: message.contentType,
    headers: message.headers,
    priority: message.priority,
    ...(message.key === null ? {} : { key: message.key }),
  };
}
