/**
 * Setup shared by the partition tests: a fresh partition per test, under a clock the test
 * moves by hand, and small builders for messages and contexts.
 *
 * The clock starts far in the future, so the alarms the partition sets are never due by the
 * real clock: an alarm runs only when a test fires it with runDurableObjectAlarm.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import {
  type LeaseRef,
  MAX_BATCH,
  type NewMessage,
  type PartitionContext,
} from "../../core/contract.ts";
import { QueueConfigSchema } from "../../core/queue-config.ts";
import { decodeReceipt } from "../../core/receipt.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import { rowsOf } from "./sql.ts";

export const START = Date.UTC(2040, 0, 1);

export type PartitionStub = DurableObjectStub<Partition>;

export function contextFor(
  config: Record<string, unknown> = {},
  configVersion = 1,
): PartitionContext {
  return { config: QueueConfigSchema.parse(config), configVersion };
}

/**
 * Receipts as the router hands them to a partition: decoded to lease references. Text that
 * is not a receipt becomes a reference no partition issued (seq 0), as a forged one would be.
 */
export function leases(receipts: string[]): LeaseRef[] {
  return receipts.map((receipt) => {
    const decoded = decodeReceipt(receipt);
    return decoded ? { seq: decoded.seq, token: decoded.token } : { seq: 0, token: receipt };
  });
}

/** A JSON message; `fields` adds key, dedupId, delaySeconds, priority, headers. */
export function message(body: unknown, fields: Partial<NewMessage> = {}): NewMessage {
  return { body: JSON.stringify(body), contentType: "application/json", headers: {}, ...fields };
}

export function messages(count: number, fields: Partial<NewMessage> = {}): NewMessage[] {
  return Array.from({ length: count }, (_, i) => message(i, fields));
}

export interface TestPartition {
  queue: string;
  stub: PartitionStub;
  context: PartitionContext;
  /** The partition's clock, epoch ms. */
  now(): number;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Fires the alarm if one is set; true when it ran. */
  runAlarm(): Promise<boolean>;
  /** The time the alarm is set to, or null. */
  alarmAt(): Promise<number | null>;
  /** Runs `query` against the partition's SQLite database. */
  rows<T = Record<string, SqlStorageValue>>(
    query: string,
    ...bindings: SqlStorageValue[]
  ): Promise<T[]>;
  /** Evicts the instance (memory gone, storage kept) and puts the test clock back. */
  restart(): Promise<void>;
  /** Makes the partition's calls to the dead-letter object fail, until `repairDeadLetters`. */
  breakDeadLetters(): Promise<void>;
  repairDeadLetters(): Promise<void>;
}

/** The partition's `env`, which the base class keeps protected. */
type WithEnv = { env: Env };

const unreachableDeadLetters = {
  getByName: () => ({
    accept: async () => {
      throw new Error("dead-letter object unreachable (test)");
    },
  }),
} as unknown as Env["DEAD_LETTERS"];

/** A partition nobody else uses, of a queue configured with `config`. */
export async function openPartition(config: Record<string, unknown> = {}): Promise<TestPartition> {
  const queue = `queue-${crypto.randomUUID()}`;
  const stub = env.PARTITION.getByName(`${queue}/0`);
  let now = START;
  const installClock = () =>
    runInDurableObject(stub, (instance: Partition) => {
      instance.clock = () => now;
    });
  await installClock();
  return {
    queue,
    stub,
    context: contextFor(config),
    now: () => now,
    advance(ms) {
      now += ms;
    },
    runAlarm: () => runDurableObjectAlarm(stub),
    alarmAt: () => runInDurableObject(stub, (_, state) => state.storage.getAlarm()),
    rows: (query, ...bindings) => rowsOf(stub, query, ...bindings),
    async restart() {
      await evictDurableObject(stub);
      await installClock();
    },
    breakDeadLetters: () =>
      runInDurableObject(stub, (instance: Partition) => {
        const partition = instance as unknown as WithEnv;
        partition.env = { ...partition.env, DEAD_LETTERS: unreachableDeadLetters };
      }),
    repairDeadLetters: () =>
      runInDurableObject(stub, (instance: Partition) => {
        const partition = instance as unknown as WithEnv;
        partition.env = { ...partition.env, DEAD_LETTERS: env.DEAD_LETTERS };
      }),
  };
}

/** The bodies of delivered or peeked messages, parsed back. */
export function bodies(delivered: { body: string }[]): unknown[] {
  return delivered.map((m) => JSON.parse(m.body));
}

/** Receives once without waiting. */
export function receiveNow(partition: TestPartition, max = 1, visibilityTimeout?: number) {
  return partition.stub.receive(partition.context, { max, visibilityTimeout, waitMs: 0 });
}

/** Sends a batch the test expects to be stored; a refusal fails the test. */
export async function sendOk(partition: TestPartition, batch: NewMessage[]) {
  const outcome = await partition.stub.send(partition.context, batch);
  if (!outcome.ok) throw new Error(`send refused: ${outcome.code}`);
  return outcome;
}

/** The messages held, in send order, without leasing them (all of them by default). */
export async function peek(
  partition: TestPartition,
  options: { limit?: number; after?: number } = {},
) {
  const { limit = MAX_BATCH, after } = options;
  return (await partition.stub.peek(partition.context, { limit, after })).messages;
}

/** A message as its rows hold it: in a segment (fresh or leased) or a held row of its own. */
export interface StoredMessage {
  seq: number;
  state: "fresh" | "leased" | "waiting";
  attempts: number;
  visibleAt: number;
}

/**
 * The messages as stored, read straight from the rows in seq order: no operation runs, so
 * nothing falls due on the way (storage v2: segments and held rows).
 */
export function storedMessages(sql: SqlStorage): StoredMessage[] {
  const stored: StoredMessage[] = [];
  for (const row of sql.exec<{ state: string; meta: string; sent_at: number }>(
    "SELECT state, meta, sent_at FROM segments",
  )) {
    const state: { l: [string, number, number][]; s: number[] } = JSON.parse(row.state);
    (JSON.parse(row.meta) as [number][]).forEach(([seq], index) => {
      const slot = state.s[index] ?? 1;
      if (slot === 1) return;
      const leased = slot >= 2;
      stored.push({
        seq,
        state: leased ? "leased" : "fresh",
        attempts: leased ? 1 : 0,
        visibleAt: leased ? state.l[slot - 2][2] : row.sent_at,
      });
    });
  }
  for (const row of sql.exec<{ seq: number; state: string; attempts: number; visible_at: number }>(
    "SELECT seq, state, attempts, visible_at FROM held",
  )) {
    stored.push({
      seq: row.seq,
      state: row.state === "leased" ? "leased" : "waiting",
      attempts: row.attempts,
      visibleAt: row.visible_at,
    });
  }
  return stored.sort((a, b) => a.seq - b.seq);
}
