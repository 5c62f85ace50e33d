/**
 * Faults in the partition's alarm and its dead-letter hand-off, injected inside the object.
 * The partition tests already cover a dead-letter object that is unreachable (the outbox
 * keeps the message and retries with backoff) and a restart with a pending outbox; these add
 * an alarm that throws halfway through its work, and a hand-off whose answer is lost after
 * the dead-letter object stored it.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadMessage } from "../../core/contract.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import {
  leases,
  messages,
  openPartition,
  receiveNow,
  storedMessages,
  type TestPartition,
} from "../durable-objects/partition-fixtures.ts";

/** Makes the partition's `skip + 1`-th SQL statement containing `fragment` throw, once. */
function failStatementOnce(partition: TestPartition, fragment: string, skip = 0) {
  return runInDurableObject(partition.stub, (_, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec.bind(sql);
    let seen = 0;
    sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
      if (query.includes(fragment) && seen++ === skip) {
        throw new Error(`injected storage fault at: ${fragment}`);
      }
      return exec(query, ...bindings);
    }) as typeof sql.exec;
  });
}

const deadLettersOf = (partition: TestPartition) => env.DEAD_LETTERS.getByName(partition.queue);

async function held(partition: TestPartition) {
  return runInDurableObject(partition.stub, (_, state) => storedMessages(state.storage.sql));
}

describe("an alarm that throws", () => {
  it("takes back all it did, and moves the messages on when it runs again", async () => {
    const partition = await openPartition({ ordering: "unordered", maxAttempts: 1 });
    await partition.stub.send(partition.context, messages(3));
    const leased = (await receiveNow(partition, 3, 10)).messages;
    partition.advance(10_000);
    const before = await held(partition);
    expect(before.map((row) => row.state)).toEqual(["leased", "leased", "leased"]);

    // The three expired leases fail to reach the outbox (one statement carries them all).
    await failStatementOnce(partition, "INSERT INTO dead_letter_outbox", 0);
    await expect(partition.runAlarm()).rejects.toThrow("injected storage fault");
    expect(await held(partition)).toEqual(before);
    expect(await partition.rows("SELECT seq FROM dead_letter_outbox")).toEqual([]);
    expect(await deadLettersOf(partition).count()).toBe(0);

    // The runtime calls a failed alarm() again (at-least-once, with backoff); so does this.
    await runInDurableObject(partition.stub, (instance: Partition) => instance.alarm());
    expect(await held(partition)).toEqual([]);
    expect(await partition.rows("SELECT seq FROM dead_letter_outbox")).toEqual([]);
    const { messages: dead } = await deadLettersOf(partition).getMany(
      leased.map((message) => message.id),
    );
    expect(dead.map((message) => message.id).sort()).toEqual(
      leased.map((message) => message.id).sort(),
    );
    expect(await partition.stub.stats(partition.context)).toMatchObject({
      leased: 0,
      deadLettered: 3,
      pendingDeadLetters: 0,
    });
  });

  it("is set again by the next call when the runtime has given up retrying it", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    await partition.stub.send(partition.context, messages(1));
    const [leased] = (await receiveNow(partition, 1, 10)).messages;
    partition.advance(10_000);
    await partition.breakDeadLetters();
    await failStatementOnce(partition, "INSERT INTO dead_letter_outbox");
    await expect(partition.runAlarm()).rejects.toThrow("injected storage fault");
    expect(await partition.alarmAt()).toBeNull();

    // Any call applies what fell due and sets the alarm for what is left: the hand-off.
    expect(await partition.stub.stats(partition.context)).toMatchObject({
      leased: 0,
      pendingDeadLetters: 1,
    });
    expect(await partition.alarmAt()).not.toBeNull();
    await partition.repairDeadLetters();
    const [pending] = await partition.rows<{ next_attempt_at: number }>(
      "SELECT next_attempt_at FROM dead_letter_outbox",
    );
    partition.advance(pending.next_attempt_at - partition.now());
    expect(await partition.runAlarm()).toBe(true);
    expect(await deadLettersOf(partition).get(leased.id)).toMatchObject({ id: leased.id });
  });
});

describe("a dead-letter hand-off whose answer is lost", () => {
  it("is tried again, and the dead-letter object keeps one copy", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    await partition.stub.send(partition.context, messages(1));
    const [leased] = (await receiveNow(partition)).messages;
    // The dead-letter object stores the hand-off, then the answer is lost on the way back.
    let answersLost = 0;
    await runInDurableObject(partition.stub, (instance: Partition) => {
      const withEnv = instance as unknown as { env: Env };
      const real = env.DEAD_LETTERS;
      withEnv.env = {
        ...withEnv.env,
        DEAD_LETTERS: {
          getByName: (name: string) => ({
            accept: async (dead: DeadMessage[]) => {
              const accepted = await real.getByName(name).accept(dead);
              if (answersLost++ === 0) throw new Error("connection reset (test)");
              return accepted;
            },
          }),
        } as unknown as Env["DEAD_LETTERS"],
      };
    });

    await partition.stub.nack(partition.context, leases([leased.receipt]), { reason: "bad" });
    await partition.runAlarm();
    const [pending] = await partition.rows<{ tries: number; next_attempt_at: number }>(
      "SELECT tries, next_attempt_at FROM dead_letter_outbox",
    );
    expect(pending.tries).toBe(1);
    expect(await deadLettersOf(partition).count()).toBe(1);

    partition.advance(pending.next_attempt_at - partition.now());
    expect(await partition.runAlarm()).toBe(true);
    expect(answersLost).toBe(2);
    expect(await partition.rows("SELECT seq FROM dead_letter_outbox")).toEqual([]);
    expect(await deadLettersOf(partition).count()).toBe(1);
    expect(await deadLettersOf(partition).get(leased.id)).toMatchObject({
      id: leased.id,
      failures: [{ reason: "bad", by: "nack" }],
    });
  });
});
