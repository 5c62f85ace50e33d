/**
 * Model-based test: random sequences of sends, receives, acks, nacks, extends and passing
 * time, run against the real partition object and against a plain in-memory model of the
 * same semantics (partition-model.ts), comparing every answer: which messages are delivered
 * and with what attempts and lease ends, per-item receipt failures, refusals, stats, the
 * messages held, and the dead letters with their whole history.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NewMessage, PartitionStats } from "../../core/contract.ts";
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
  | { kind: "peek" };

const configArbitrary = fc.record({
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
});

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
);

/** Runs one sequence against a fresh partition and the model, failing at the first difference. */
async function check(config: Record<string, unknown>, actions: Action[]): Promise<void> {
  const partition = await openPartition(config);
  const model = new PartitionModel(partition.context.config, partition.now());
  /** Message ids by seq, learnt from the object's send answers. */
  const ids = new Map<number, string>();
  /** Every receipt issued so far, with the lease the model knows it by. */
  const issued: { receipt: string; lease: ModelReceipt }[] = [];
  let bodies = 0;

  const expectStats = (stats: PartitionStats) => {
    const { pendingDeadLetters, usage, ...rest } = stats;
    expect(rest).toEqual(model.stats());
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
    }
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
