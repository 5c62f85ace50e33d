/**
 * Model-based test: random sequences of sends, receives, acks, nacks, extends, passing time,
 * pauses and resumes (of the queue and of keys), keys' own limits and restarts, under random
 * key limits and in-flight caps, run against the real partition object and against a plain
 * in-memory model of the same semantics (partition-model.ts), comparing every answer: which
 * messages are delivered and with what attempts and lease ends, per-item receipt failures,
 * refusals, stats, the messages held, and the dead letters with their whole history. Besides
 * agreeing, both must keep the invariants: never more of a key leased than its concurrency,
 * never more of the queue than maxInFlight, never more deliveries of a key in a second than its
 * bucket allows, and nothing lost (every message sent is held, acked, dead or expired).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NewMessage, PartitionStats } from "../../core/contract.ts";
import type { KeyLimits } from "../../core/queue-config.ts";
import { leases, openPartition, type TestPartition } from "./partition-fixtures.ts";
import { type ModelReceipt, PartitionModel } from "./partition-model.ts";

/**
 * Which receipt an ack, nack or extend names: one of a lease the model holds as current, any
 * one issued earlier (counting back from the newest, so often stale), or junk.
 */
type ReceiptPick = { live: number } | { issued: number } | "junk";

type Action =
  | { kind: "send"; messages: Omit<NewMessage, "body" | "contentType" | "headers">[] }
  | { kind: "receive"; max: number; visibilityTimeout?: number }
  | { kind: "ack"; picks: ReceiptPick[] }
  | { kind: "nack"; picks: ReceiptPick[]; delaySeconds?: number; reason?: string }
  | { kind: "extend"; picks: ReceiptPick[]; visibilityTimeout: number }
  | { kind: "advance"; ms: number; alarm: boolean }
  | { kind: "peek" }
  | { kind: "pause"; key: string | null; forMs?: number }
  | { kind: "resume"; key: string | null }
  | { kind: "limits"; key: string; limits: KeyLimits | null }
  | { kind: "restart" };

const flowKey = fc.constantFrom<string | null>(null, "a", "b");

const configArbitrary = fc
  .record({
    ordering: fc.constantFrom("fifo", "unordered", "priority"),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    visibilityTimeout: fc.constantFrom(10, 30),
    retry: fc.record({
      initialDelay: fc.constantFrom(0, 1, 2),
      multiplier: fc.constantFrom(1, 2),
      maxDelay: fc.constant(10),
      jitter: fc.constant(false),
    }),
    retention: fc.constantFrom(60, 120),
    dedupWindow: fc.constantFrom(0, 10),
    backlog: fc.constantFrom({ soft: 2, hard: 4 }, { soft: 1_000, hard: 10_000 }),
    maxInFlight: fc.constantFrom(undefined, 2, 4),
    fairness: fc.constantFrom("oldest", "keys"),
    keyLimits: fc.constantFrom<KeyLimits | undefined>(
      undefined,
      { concurrency: 1 },
      { concurrency: 2 },
      { rate: 1, burst: 2 },
      { rate: 0.5, concurrency: 2 },
    ),
  })
  // Fairness over keys would override priority: the configuration refuses the two together.
  .map((config) => (config.ordering === "priority" ? { ...config, fairness: "oldest" } : config));

const pickArbitrary: fc.Arbitrary<ReceiptPick> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ live: fc.nat({ max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ issued: fc.nat({ max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant("junk" as const) },
);

const picksArbitrary = fc.array(pickArbitrary, { minLength: 1, maxLength: 2 });

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      messages: fc.array(
        fc.record(
          {
            key: fc.constantFrom("a", "a", "b"),
            priority: fc.integer({ min: 0, max: 9 }),
            delaySeconds: fc.constantFrom(0, 0, 3, 20),
            dedupId: fc.constantFrom("d1", "d2"),
          },
          { requiredKeys: ["delaySeconds"] },
        ),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        kind: fc.constant("receive" as const),
        max: fc.integer({ min: 1, max: 4 }),
        visibilityTimeout: fc.constantFrom(5, 20, 60),
      },
      { requiredKeys: ["kind", "max"] },
    ),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("ack" as const), picks: picksArbitrary }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        kind: fc.constant("nack" as const),
        picks: picksArbitrary,
        delaySeconds: fc.constantFrom(0, 4),
        reason: fc.constant("handler failed"),
      },
      { requiredKeys: ["kind", "picks"] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("extend" as const),
      picks: picksArbitrary,
      visibilityTimeout: fc.constantFrom(1, 15, 60),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.constantFrom(500, 1_000, 1_000, 2_000, 3_000, 5_000, 10_000, 30_000, 61_000),
      alarm: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "peek" as const }) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        kind: fc.constant("pause" as const),
        key: flowKey,
        forMs: fc.constantFrom(1_500, 5_000),
      },
      { requiredKeys: ["kind", "key"] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("resume" as const), key: flowKey }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("limits" as const),
      key: fc.constantFrom("a", "b"),
      limits: fc.constantFrom<KeyLimits | null>(
        null,
        { concurrency: 1 },
        { rate: 2, burst: 1 },
        { rate: 1, burst: 3, concurrency: 2 },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
);

/** Deliveries by key: when each lease of it was handed out, for the rate invariant. */
type Deliveries = Map<string, number[]>;

/**
 * The invariants, checked on the model after each step (the object agrees with it on every
 * answer and on the messages it holds, so they hold for the object too).
 */
function expectInvariants(
  model: PartitionModel,
  deliveries: Deliveries,
  leasedNow: ReadonlySet<string>,
) {
  const leased = model.messages.filter((m) => m.state === "leased");
  if (model.config.maxInFlight !== undefined) {
    expect(leased.length).toBeLessThanOrEqual(model.config.maxInFlight);
  }
  for (const key of ["a", "b"]) {
    const limits = model.limitsOf(key);
    // A limit lowered while more were out lets those run on: a receive adds none past it.
    const out = leased.filter((m) => m.key === key).length;
    if (limits.concurrency !== undefined && leasedNow.has(key)) {
      expect(out).toBeLessThanOrEqual(limits.concurrency);
    }
    if (limits.rate === undefined) continue;
    // Under the limits in force now: a change of limits starts a new count.
    const burst = limits.burst ?? Math.max(1, Math.ceil(limits.rate));
    const recent = (deliveries.get(key) ?? []).filter((at) => at > model.now - 1_000);
    expect(recent.length).toBeLessThanOrEqual(burst + limits.rate);
  }
  // Nothing lost: every message sent is held, acked, dead or expired.
  const stats = model.stats();
  expect(model.messages.length + stats.acked + stats.deadLettered + stats.expired).toBe(stats.sent);
}

/** Runs one sequence against a fresh partition and the model, failing at the first difference. */
async function check(config: Record<string, unknown>, actions: Action[]): Promise<void> {
  const partition = await openPartition(config);
  const model = new PartitionModel(partition.context.config, partition.now());
  /** Message ids by seq, learnt from the object's send answers. */
  const ids = new Map<number, string>();
  /** Every receipt issued so far, with the lease the model knows it by. */
  const issued: { receipt: string; lease: ModelReceipt }[] = [];
  let bodies = 0;

  const deliveries: Deliveries = new Map();
  const expectStats = (stats: PartitionStats) => {
    const { pendingDeadLetters, usage, flow, ...rest } = stats;
    expect(rest).toEqual(model.stats());
    const { heldKeys, ...flowRest } = flow;
    expect(flowRest).toEqual(model.flow());
    for (const held of heldKeys) expect(["a", "b"]).toContain(held.key);
    expect(pendingDeadLetters).toBeLessThanOrEqual(model.dead.length);
    expect(usage.requests).toBeGreaterThan(0);
  };
  const resolve = (picks: ReceiptPick[]) => {
    // Which leases are current depends on what has fallen due by now; the object applies
    // the same at the start of the call, so sweeping the model first changes no answer.
    model.sweep();
    return picks.map((pick) => {
      const live = issued.filter(({ lease }) => lease !== "invalid" && model.holdsLease(lease));
      if (pick !== "junk" && "live" in pick && live.length > 0) {
        return live[pick.live % live.length];
      }
      if (pick !== "junk" && "issued" in pick && issued.length > 0) {
        return issued[issued.length - 1 - (pick.issued % issued.length)];
      }
      return { receipt: "junk-receipt", lease: "invalid" as const };
    });
  };

  for (const action of actions) {
    /** Keys the step leased messages of. */
    const leasedNow = new Set<string>();
    switch (action.kind) {
      case "send": {
        const batch: NewMessage[] = action.messages.map((fields) => ({
          ...fields,
          body: JSON.stringify(`m${bodies++}`),
          contentType: "application/json",
          headers: {},
        }));
        const real = await partition.stub.send(partition.context, batch);
        const expected = model.send(batch);
        expect(real.ok).toBe(expected.ok);
        if (real.ok && expected.ok) {
          expect(real.messages.map(({ seq, duplicate }) => ({ seq, duplicate }))).toEqual(
            expected.messages,
          );
          for (const sent of real.messages) {
            if (sent.duplicate) expect(sent.id).toBe(ids.get(sent.seq));
            else ids.set(sent.seq, sent.id);
          }
          expect(real.backpressure).toBe(expected.backpressure);
        }
        expectStats(real.stats);
        break;
      }
      case "receive": {
        const real = await partition.stub.receive(partition.context, {
          max: action.max,
          visibilityTimeout: action.visibilityTimeout,
          waitMs: 0,
        });
        const expected = model.receive(action.max, action.visibilityTimeout);
        expect(
          real.messages.map((m) => ({
            id: m.id,
            seq: m.seq,
            body: m.body,
            key: m.key,
            priority: m.priority,
            attempts: m.attempts,
            leaseExpiresAt: m.leaseExpiresAt,
          })),
        ).toEqual(
          expected.map((m) => ({
            id: ids.get(m.seq),
            seq: m.seq,
            body: m.body,
            key: m.key,
            priority: m.priority,
            attempts: m.attempts,
            leaseExpiresAt: m.visibleAt,
          })),
        );
        for (const [i, leased] of real.messages.entries()) {
          if (leased.key !== null) {
            leasedNow.add(leased.key);
            deliveries.set(leased.key, [...(deliveries.get(leased.key) ?? []), model.now]);
          }
          issued.push({
            receipt: leased.receipt,
            lease: { seq: leased.seq, lease: expected[i].leases },
          });
        }
        expectStats(real.stats);
        break;
      }
      case "ack": {
        const named = resolve(action.picks);
        const real = await partition.stub.ack(
          partition.context,
          leases(named.map((n) => n.receipt)),
        );
        const expected = model.ack(named.map((n) => n.lease));
        expect({ acked: real.acked, failed: real.failed }).toEqual(expected);
        expectStats(real.stats);
        break;
      }
      case "nack": {
        const named = resolve(action.picks);
        const options = { delaySeconds: action.delaySeconds, reason: action.reason };
        const real = await partition.stub.nack(
          partition.context,
          leases(named.map((n) => n.receipt)),
          options,
        );
        const expected = model.nack(
          named.map((n) => n.lease),
          options,
        );
        const { stats, ...answer } = real;
        expect(answer).toEqual(expected);
        expectStats(stats);
        break;
      }
      case "extend": {
        const named = resolve(action.picks);
        const real = await partition.stub.extend(
          partition.context,
          leases(named.map((n) => n.receipt)),
          action.visibilityTimeout,
        );
        const expected = model.extend(
          named.map((n) => n.lease),
          action.visibilityTimeout,
        );
        expect({ extended: real.extended, failed: real.failed }).toEqual(expected);
        expectStats(real.stats);
        break;
      }
      case "advance": {
        partition.advance(action.ms);
        model.now += action.ms;
        if (action.alarm) {
          await partition.runAlarm();
          model.sweep();
        }
        break;
      }
      case "peek":
        await expectSameMessages(partition, model);
        break;
      case "pause":
      case "resume": {
        const until = action.kind === "pause" && action.forMs ? model.now + action.forMs : null;
        const change =
          action.kind === "pause"
            ? { kind: "pause" as const, key: action.key, until }
            : { kind: "resume" as const, key: action.key };
        const real = await partition.stub.flow(partition.context, change);
        if (action.kind === "pause") model.pause(action.key, until);
        else model.resume(action.key);
        const { heldKeys, ...flow } = real.flow;
        expect(flow).toEqual(model.flow());
        for (const held of heldKeys) expect(["a", "b"]).toContain(held.key);
        break;
      }
      case "limits": {
        const { key, limits } = action;
        await partition.stub.flow(partition.context, { kind: "limits", key, limits });
        model.setLimits(action.key, action.limits);
        // The rate invariant counts under the limits in force: start afresh.
        deliveries.delete(action.key);
        break;
      }
      case "restart":
        await partition.restart();
        model.restart();
        break;
    }
    expectInvariants(model, deliveries, leasedNow);
  }

  await expectSameMessages(partition, model);
  await expectSameDeadLetters(partition, model, ids);
}

async function expectSameMessages(partition: TestPartition, model: PartitionModel) {
  const real = await partition.stub.peek(partition.context, { limit: 100 });
  model.sweep();
  expect(
    real.messages.map(({ seq, body, state, visibleAt, attempts }) => ({
      seq,
      body,
      state,
      visibleAt,
      attempts,
    })),
  ).toEqual(
    model.messages.map(({ seq, body, state, visibleAt, attempts }) => ({
      seq,
      body,
      state,
      visibleAt,
      attempts,
    })),
  );
}

/** Once the alarm has run, every dead message is with the dead-letter object, history and all. */
async function expectSameDeadLetters(
  partition: TestPartition,
  model: PartitionModel,
  ids: Map<number, string>,
) {
  await partition.runAlarm();
  const stats = await partition.stub.stats(partition.context);
  expect(stats.pendingDeadLetters).toBe(0);
  const { messages } = await env.DEAD_LETTERS.getByName(partition.queue).list({ limit: 100 });
  expect(
    messages
      .map(({ id, seq, attempts, failures, diedAt }) => ({ id, seq, attempts, failures, diedAt }))
      .sort((a, b) => a.seq - b.seq),
  ).toEqual(
    model.dead.map((dead) => ({ id: ids.get(dead.seq), ...dead })).sort((a, b) => a.seq - b.seq),
  );
}

describe("partition against its model", () => {
  it("agrees on every answer for random sequences of operations", async () => {
    await fc.assert(
      fc.asyncProperty(
        configArbitrary,
        fc.array(actionArbitrary, { minLength: 8, maxLength: 30, size: "max" }),
        check,
      ),
      { numRuns: 250 },
    );
  }, 120_000);
});
