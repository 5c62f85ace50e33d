import { describe, expect, it } from "vitest";
import {
  bodies,
  leases,
  message,
  openPartition,
  receiveNow,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

/** Sends one batch of `message(body, fields)`, expecting it stored. */
async function send(partition: TestPartition, ...batch: Parameters<typeof message>[]) {
  await sendOk(
    partition,
    batch.map(([body, fields]) => message(body, fields)),
  );
}

const keyed = (body: string, key: string): Parameters<typeof message> => [body, { key }];

async function ack(partition: TestPartition, receipts: string[]) {
  const outcome = await partition.stub.ack(partition.context, leases(receipts));
  expect(outcome.failed).toEqual([]);
}

describe("fifo ordering", () => {
  it("delivers a key's messages in send order", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("a2", "a"), keyed("a3", "a"));
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["a1", "a2", "a3"]);
  });

  it("withholds a key's next message while one is leased", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("a2", "a"));

    const first = await receiveNow(partition);
    expect(bodies(first.messages)).toEqual(["a1"]);
    expect((await receiveNow(partition)).messages).toEqual([]);

    await ack(partition, [first.messages[0].receipt]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a2"]);
  });

  it("hands out other keys while one key is locked, oldest head first", async () => {
    const partition = await openPartition();
    await send(partition, keyed("b1", "b"), keyed("a1", "a"), keyed("b2", "b"), keyed("c1", "c"));

    expect(bodies((await receiveNow(partition)).messages)).toEqual(["b1"]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a1"]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["c1"]);
    expect((await receiveNow(partition)).messages).toEqual([]);
  });

  it("takes a run of one key in one receive, then the next key", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("b1", "b"), keyed("a2", "a"), keyed("b2", "b"));
    expect(bodies((await receiveNow(partition, 3)).messages)).toEqual(["a1", "a2", "b1"]);
  });

  it("keeps a key locked until every message of a run is settled", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("a2", "a"), keyed("a3", "a"));
    const run = (await receiveNow(partition, 2)).messages;
    expect(bodies(run)).toEqual(["a1", "a2"]);

    await ack(partition, [run[1].receipt]);
    expect((await receiveNow(partition)).messages).toEqual([]);
    await ack(partition, [run[0].receipt]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a3"]);
  });

  it("keeps a key locked while a later message of a run is leased, even once the head is back", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("a2", "a"));
    const run = (await receiveNow(partition, 2)).messages;
    await partition.stub.nack(partition.context, leases([run[0].receipt]), { delaySeconds: 0 });

    expect((await receiveNow(partition)).messages).toEqual([]);
    await ack(partition, [run[1].receipt]);
    const again = (await receiveNow(partition)).messages;
    expect(bodies(again)).toEqual(["a1"]);
    expect(again[0].attempts).toBe(2);
  });

  it("holds back a key's later messages while its nacked head waits out a delay", async () => {
    const partition = await openPartition();
    await send(partition, keyed("a1", "a"), keyed("a2", "a"), keyed("b1", "b"));
    const head = (await receiveNow(partition)).messages[0];
    await partition.stub.nack(partition.context, leases([head.receipt]), { delaySeconds: 10 });

    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["b1"]);
    partition.advance(9_999);
    expect((await receiveNow(partition, 10)).messages).toEqual([]);
    partition.advance(1);
    const again = (await receiveNow(partition, 10)).messages;
    expect(bodies(again)).toEqual(["a1", "a2"]);
    expect(again.map((m) => m.attempts)).toEqual([2, 1]);
  });

  it("redelivers an expired head before the key's later messages", async () => {
    const partition = await openPartition({ retry: { initialDelay: 0, jitter: false } });
    await send(partition, keyed("a1", "a"), keyed("a2", "a"));
    await receiveNow(partition, 1, 30);

    partition.advance(30_000);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a1"]);
  });

  it("holds back a key's later messages behind a message sent with a delay", async () => {
    const partition = await openPartition();
    await send(
      partition,
      ["a1", { key: "a", delaySeconds: 5 }],
      keyed("a2", "a"),
      keyed("b1", "b"),
    );

    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["b1"]);
    partition.advance(5_000);
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["a1", "a2"]);
  });

  it("ends a run at a message that is not visible yet", async () => {
    const partition = await openPartition();
    await send(
      partition,
      keyed("a1", "a"),
      ["a2", { key: "a", delaySeconds: 5 }],
      keyed("a3", "a"),
    );
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["a1"]);
  });

  it("puts messages without a key in one group", async () => {
    const partition = await openPartition();
    await send(partition, ["n1"], ["n2"], keyed("a1", "a"));

    const first = (await receiveNow(partition)).messages;
    expect(bodies(first)).toEqual(["n1"]);
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["a1"]);
    await ack(partition, [first[0].receipt]);
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["n2"]);
  });

  it("moves a key on when its head is dead-lettered", async () => {
    const partition = await openPartition({ maxAttempts: 1 });
    await send(partition, keyed("a1", "a"), keyed("a2", "a"));
    const head = (await receiveNow(partition)).messages[0];
    await partition.stub.nack(partition.context, leases([head.receipt]), {});
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a2"]);
  });
});

describe("unordered", () => {
  it("delivers any visible message oldest first, without locking keys", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await send(partition, keyed("a1", "a"), keyed("a2", "a"), ["n1"]);

    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a1"]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["a2"]);
    expect(bodies((await receiveNow(partition)).messages)).toEqual(["n1"]);
  });

  it("passes over a message waiting out a retry delay", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await send(partition, keyed("a1", "a"), keyed("a2", "a"));
    const first = (await receiveNow(partition)).messages[0];
    await partition.stub.nack(partition.context, leases([first.receipt]), { delaySeconds: 60 });
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["a2"]);
  });
});

describe("priority ordering", () => {
  it("delivers higher priority first and send order within a priority", async () => {
    const partition = await openPartition({ ordering: "priority" });
    await send(
      partition,
      ["low1", { priority: 1 }],
      ["high1", { priority: 9 }],
      ["none"],
      ["low2", { priority: 1 }],
      ["high2", { priority: 9 }],
    );
    const delivered = (await receiveNow(partition, 10)).messages;
    expect(bodies(delivered)).toEqual(["high1", "high2", "low1", "low2", "none"]);
    expect(delivered.map((m) => m.priority)).toEqual([9, 9, 1, 1, 0]);
  });

  it("puts a retried message back in its place by priority and seq", async () => {
    const partition = await openPartition({ ordering: "priority" });
    await send(partition, ["high", { priority: 5 }], ["low", { priority: 1 }]);
    const high = (await receiveNow(partition)).messages[0];
    await send(partition, ["high later", { priority: 5 }]);
    await partition.stub.nack(partition.context, leases([high.receipt]), { delaySeconds: 0 });

    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual([
      "high",
      "high later",
      "low",
    ]);
  });
});

describe("long polling", () => {
  /**
   * Starts a receive that waits, and makes sure it is parked before going on. The answer
   * comes wrapped, so awaiting this does not await the receive.
   */
  async function parkedReceive(partition: TestPartition, waitMs: number, max = 10) {
    const started = Date.now();
    const pending = partition.stub
      .receive(partition.context, { max, waitMs })
      .then((answer) => ({ ...answer, waitedMs: Date.now() - started }));
    // Calls to one object are delivered in order: once this answers, the receive has looked
    // for messages, found none and parked.
    await partition.stub.stats(partition.context);
    return { answer: pending };
  }

  it("answers empty once the wait is over when nothing arrives", async () => {
    const partition = await openPartition();
    const answer = await (await parkedReceive(partition, 200)).answer;
    expect(answer.messages).toEqual([]);
    expect(answer.waitedMs).toBeGreaterThanOrEqual(190);
  });

  it("is woken by a send", async () => {
    const partition = await openPartition();
    const parked = await parkedReceive(partition, 20_000);
    await send(partition, ["hello"]);

    const answer = await parked.answer;
    expect(bodies(answer.messages)).toEqual(["hello"]);
    expect(answer.waitedMs).toBeLessThan(10_000);
  });

  it("is woken when a delayed message falls due on the alarm", async () => {
    const partition = await openPartition();
    await send(partition, ["later", { delaySeconds: 5 }]);
    const parked = await parkedReceive(partition, 20_000);

    partition.advance(5_000);
    expect(await partition.runAlarm()).toBe(true);
    const answer = await parked.answer;
    expect(bodies(answer.messages)).toEqual(["later"]);
    expect(answer.waitedMs).toBeLessThan(10_000);
  });

  it("is woken when a nack makes a message visible again", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    await send(partition, ["retry me"]);
    const leased = (await receiveNow(partition)).messages[0];
    const parked = await parkedReceive(partition, 20_000);

    await partition.stub.nack(partition.context, leases([leased.receipt]), { delaySeconds: 0 });
    const answer = await parked.answer;
    expect(bodies(answer.messages)).toEqual(["retry me"]);
    expect(answer.messages[0].attempts).toBe(2);
  });

  it("serves one message to one of two waiting receives, never to both", async () => {
    const partition = await openPartition();
    const first = await parkedReceive(partition, 1_000);
    const second = await parkedReceive(partition, 1_000);
    await send(partition, ["only one"]);

    const answers = await Promise.all([first.answer, second.answer]);
    const delivered = answers.flatMap((a) => a.messages);
    expect(bodies(delivered)).toEqual(["only one"]);
    expect(answers.map((a) => a.messages.length).sort()).toEqual([0, 1]);
  });

  it("serves every waiting receive when enough messages arrive", async () => {
    const partition = await openPartition({ ordering: "unordered" });
    const waiting = [
      await parkedReceive(partition, 20_000, 1),
      await parkedReceive(partition, 20_000, 1),
    ];
    await partition.stub.send(partition.context, [message("m1"), message("m2")]);

    const answers = await Promise.all(waiting.map((w) => w.answer));
    expect(answers.flatMap((a) => bodies(a.messages)).sort()).toEqual(["m1", "m2"]);
    for (const answer of answers) expect(answer.waitedMs).toBeLessThan(10_000);
  });
});
