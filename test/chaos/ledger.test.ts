import { describe, expect, it } from "vitest";
import {
  type DeadRecord,
  type DeliveryRecord,
  type FinalState,
  type History,
  judge,
  type SendRecord,
} from "./ledger.ts";

/**
 * The crash test is only as good as its judge: each case below is a history with one
 * violation planted, and the judge must count it (and a clean history must pass).
 */
const MAX_ATTEMPTS = 3;

function sent(key: string, index: number, id: string | null = `${key}-${index}`): SendRecord {
  return { ref: `${key}.${index}`, key, index, id, tries: 1, answeredDuplicate: false };
}

let batches = 0;

/** A delivery in its own answer at `at`, settled `fate` 10 ms later, leased for 2 s. */
function delivered(
  send: SendRecord,
  at: number,
  fields: Partial<DeliveryRecord> = {},
): DeliveryRecord {
  return {
    id: send.id as string,
    ref: send.ref,
    key: send.key,
    index: send.index,
    attempts: 1,
    batch: batches++,
    position: 0,
    requestedAt: at - 5,
    receivedAt: at,
    leaseExpiresAt: at + 2_000,
    fate: "acked",
    settleSentAt: at + 10,
    ...fields,
  };
}

function dead(send: SendRecord, diedAt: number, attempts = MAX_ATTEMPTS): DeadRecord {
  return { id: send.id as string, ref: send.ref, attempts, failures: attempts, diedAt };
}

/** The stats a drained queue answers for what the history stored, acked and dead-lettered. */
function drained(sent: number, deadLettered = 0): FinalState {
  return {
    ready: 0,
    leased: 0,
    delayed: 0,
    deadLettered,
    sent,
    acked: sent - deadLettered,
    backlogBytes: 0,
    peeked: 0,
  };
}

function history(fields: Partial<History>): History {
  return {
    sends: [],
    deliveries: [],
    dead: [],
    final: drained(fields.sends?.length ?? 0, fields.dead?.length ?? 0),
    maxAttempts: MAX_ATTEMPTS,
    ...fields,
  };
}

describe("the chaos judge", () => {
  it("passes a history where everything was delivered in order and acked once", () => {
    const [a0, a1, b0] = [sent("a", 0), sent("a", 1), sent("b", 0)];
    const verdict = judge(
      history({
        sends: [a0, a1, b0],
        deliveries: [delivered(a0, 100), delivered(b0, 105), delivered(a1, 200)],
      }),
    );
    expect(verdict).toMatchObject({ ok: true, sent: 3, delivered: 3, lost: 0, reordered: 0 });
    expect(verdict.examples).toEqual([]);
  });

  it("counts a message answered 2xx and never delivered as lost", () => {
    const [a0, a1] = [sent("a", 0), sent("a", 1)];
    const verdict = judge(history({ sends: [a0, a1], deliveries: [delivered(a0, 100)] }));
    expect(verdict).toMatchObject({ ok: false, lost: 1 });
    expect(verdict.examples[0]).toContain("a.1");
  });

  it("counts a dead letter as delivered", () => {
    const a0 = sent("a", 0);
    const verdict = judge(history({ sends: [a0], dead: [dead(a0, 100)] }));
    expect(verdict).toMatchObject({ ok: true, lost: 0, deadLettered: 1 });
  });

  it("allows a redelivery after an expired lease or an ack the crash swallowed", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [
          delivered(a0, 100, { fate: "vanished", settleSentAt: null }),
          delivered(a0, 2_200, { attempts: 2, fate: "ackUnknown" }),
          delivered(a0, 4_400, { attempts: 3 }),
        ],
      }),
    );
    expect(verdict).toMatchObject({ ok: true, duplicated: 2, unexplained: 0 });
  });

  it("counts a redelivery after a nack as a retry, not a duplicate", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [delivered(a0, 100, { fate: "nacked" }), delivered(a0, 300, { attempts: 2 })],
      }),
    );
    expect(verdict).toMatchObject({ ok: true, duplicated: 0, retried: 1 });
  });

  it("refuses a redelivery after a confirmed ack", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [delivered(a0, 100), delivered(a0, 2_200, { attempts: 2 })],
      }),
    );
    expect(verdict).toMatchObject({ ok: false, unexplained: 1 });
  });

  it("refuses a delivery whose attempt count did not grow (a forgotten lease)", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [
          delivered(a0, 100, { fate: "vanished", settleSentAt: null }),
          delivered(a0, 2_200),
        ],
      }),
    );
    expect(verdict).toMatchObject({ ok: false, attemptsNotGrowing: 1 });
  });

  it("counts a key's later message first delivered before the earlier one was settled", () => {
    const [a0, a1] = [sent("a", 0), sent("a", 1)];
    const verdict = judge(
      history({
        sends: [a0, a1],
        deliveries: [delivered(a1, 100), delivered(a0, 200)],
      }),
    );
    expect(verdict).toMatchObject({ ok: false, reordered: 1 });
  });

  it("allows one key's run leased together in one answer, in order", () => {
    const [a0, a1] = [sent("a", 0), sent("a", 1)];
    const first = delivered(a0, 100);
    const verdict = judge(
      history({
        sends: [a0, a1],
        deliveries: [first, delivered(a1, 100, { batch: first.batch, position: 1 })],
      }),
    );
    expect(verdict).toMatchObject({ ok: true, reordered: 0, locksBroken: 0 });
  });

  it("allows the next message once the earlier one is dead", () => {
    const [a0, a1] = [sent("a", 0), sent("a", 1)];
    const verdict = judge(
      history({
        sends: [a0, a1],
        deliveries: [delivered(a1, 500)],
        dead: [dead(a0, 400)],
      }),
    );
    expect(verdict).toMatchObject({ ok: true, reordered: 0 });
  });

  it("counts a key's message handed out while another of the key was leased", () => {
    const [a0, a1] = [sent("a", 0), sent("a", 1)];
    const first = delivered(a0, 100, { fate: "nacked", settleSentAt: 150 });
    const verdict = judge(
      history({
        sends: [a0, a1],
        deliveries: [
          first,
          delivered(a1, 100, {
            batch: first.batch,
            position: 1,
            fate: "vanished",
            settleSentAt: null,
          }),
          // a.0 again while a.1's lease (until 2 100) is held.
          delivered(a0, 400, { attempts: 2 }),
          delivered(a1, 2_500, { attempts: 2 }),
        ],
      }),
    );
    expect(verdict).toMatchObject({ ok: false, locksBroken: 1 });
  });

  it("refuses a message that used its last attempt unacked and is no dead letter", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [delivered(a0, 100, { attempts: MAX_ATTEMPTS, fate: "nacked" })],
        final: drained(1, 1),
      }),
    );
    expect(verdict).toMatchObject({ ok: false, missingDeadLetters: 1 });
  });

  it("refuses a dead letter with attempts left, or one whose ack was confirmed", () => {
    const [a0, b0] = [sent("a", 0), sent("b", 0)];
    const verdict = judge(
      history({
        sends: [a0, b0],
        deliveries: [delivered(b0, 100)],
        dead: [dead(a0, 100, 2), dead(b0, 200)],
      }),
    );
    expect(verdict).toMatchObject({ ok: false, wrongDeadLetters: 2 });
  });

  it("refuses a dedup id stored as two messages", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [delivered(a0, 100), delivered({ ...a0, id: "copy" }, 200)],
        final: drained(2),
      }),
    );
    expect(verdict).toMatchObject({ ok: false, storedTwice: 1 });
  });

  it("refuses stats that disagree with what was drained", () => {
    const a0 = sent("a", 0);
    const verdict = judge(
      history({
        sends: [a0],
        deliveries: [delivered(a0, 100)],
        final: { ...drained(2), ready: 1 },
      }),
    );
    expect(verdict.ok).toBe(false);
    expect(verdict.statsMismatches).toEqual([
      "the drained queue still holds 1 messages by its stats",
      "stats count 2 messages sent, the clients saw 1 stored",
      "stats count 2 acked; the clients confirmed 1, and at most 1 can have been",
    ]);
  });
});
