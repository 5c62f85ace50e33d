/**
 * Fairness over keys behind a deep backlog (docs/architecture.md, "Flow control"): a key with
 * a ready message is served within a bounded number of receives however many messages of a
 * hot key lie ahead of it, and a receive reads as many rows whatever the depth.
 */
import { describe, expect, it } from "vitest";
import type { LeasedMessage } from "../../core/contract.ts";
import {
  leases,
  messages,
  openPartition,
  receiveNow,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

function keysOf(leased: LeasedMessage[]): (string | null)[] {
  return leased.map((m) => m.key);
}

function openFair() {
  return openPartition({
    ordering: "unordered",
    fairness: "keys",
    backlog: { soft: 1_000_000, hard: 2_000_000 },
  });
}

/** Sends `count` messages of `key`, 100 a round (a segment each). */
async function sendMany(partition: TestPartition, key: string, count: number) {
  for (let sent = 0; sent < count; sent += 100) {
    await sendOk(partition, messages(Math.min(100, count - sent), { key }));
  }
}

/** Receives up to `max` and acks them; answers them and the rows the receive read. */
async function receiveAndAck(partition: TestPartition, max: number) {
  const usage = async () => (await partition.stub.stats(partition.context)).usage;
  const before = await usage();
  const { messages: leased } = await receiveNow(partition, max);
  const rowsRead = (await usage()).rowsRead - before.rowsRead;
  await partition.stub.ack(partition.context, leases(leased.map((m) => m.receipt)));
  return { leased, rowsRead };
}

describe('fairness: "keys" behind a deep hot backlog', () => {
  it("serves each cold message within two receives while the hot backlog grows past 10,000", async () => {
    // Like the bench's noisy neighbour: more hot messages are sent than consumers take.
    const partition = await openFair();
    const late: string[] = [];
    for (let step = 0; step < 80; step++) {
      if (step === 50) await partition.restart();
      await sendMany(partition, "hot", 200);
      const cold = `cold-${step % 5}`;
      await sendOk(partition, messages(1, { key: cold }));
      const served: (string | null)[] = [];
      for (let receive = 0; receive < 2; receive++) {
        served.push(...keysOf((await receiveAndAck(partition, 10)).leased));
      }
      if (!served.includes(cold)) late.push(`step ${step}`);
    }
    // Before readFair, every step from 27 on (over 5,010 hot messages ahead) was late.
    expect(late).toEqual([]);
    const { stats } = await receiveNow(partition, 1);
    // Nothing lost: 80 steps of 201 sent, 20 received, and the one just received.
    expect(stats.ready).toBe(80 * 201 - 80 * 20 - 1);
  });

  it("reaches 25 cold keys behind 6,000 hot messages in 3 receives of 10, reading as many rows as behind 3,000", async () => {
    const rowsByDepth: number[][] = [];
    for (const depth of [6_000, 3_000]) {
      const partition = await openFair();
      await sendMany(partition, "hot", depth);
      for (let k = 0; k < 25; k++) await sendOk(partition, messages(1, { key: `cold-${k}` }));
      const answers = [];
      for (let receive = 0; receive < 3; receive++)
        answers.push(await receiveAndAck(partition, 10));
      // Keys are looked at ten a receive, in the order they were last looked at (here: sent);
      // never served before, the cold keys go before the hot key once it has been served.
      expect(answers.map(({ leased }) => keysOf(leased))).toEqual([
        ["hot", ...Array.from({ length: 9 }, (_, k) => `cold-${k}`)],
        Array.from({ length: 10 }, (_, k) => `cold-${k + 9}`),
        [...Array.from({ length: 6 }, (_, k) => `cold-${k + 19}`), "hot", "hot", "hot", "hot"],
      ]);
      rowsByDepth.push(answers.map(({ rowsRead }) => rowsRead));
    }
    expect(rowsByDepth[0]).toEqual(rowsByDepth[1]);
  });

  it("hands out a key's messages spread through the backlog in order, each once, long before the backlog drains", async () => {
    const partition = await openFair();
    const warmSeqs: number[] = [];
    for (let part = 0; part < 6; part++) {
      await sendMany(partition, "hot", 500);
      const { messages: sent } = await sendOk(partition, messages(1, { key: "warm" }));
      warmSeqs.push(sent[0].seq);
    }
    const delivered: number[] = [];
    const warmAt: number[] = [];
    for (let receive = 0; delivered.length < 3_006; receive++) {
      const { leased } = await receiveAndAck(partition, 10);
      expect(leased.length).toBeGreaterThan(0);
      for (const message of leased) {
        delivered.push(message.seq);
        if (message.key === "warm") warmAt.push(receive);
      }
    }
    expect(new Set(delivered).size).toBe(3_006);
    expect(delivered.filter((seq) => warmSeqs.includes(seq))).toEqual(warmSeqs);
    // The first two lie in the oldest 1,000 every receive reads; a look at the key reads on
    // from where its messages may begin until it finds them (up to 1,000 more messages), so
    // the rest come two a receive. Oldest first, the sixth would wait for the 3,000 hot
    // messages ahead of it: 300 receives.
    expect(warmAt).toEqual([0, 1, 2, 2, 3, 3]);
  });
});
