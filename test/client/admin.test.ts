import { describe, expect, it } from "vitest";
import { client, queueName, scriptedFetch, settleDeadLetters } from "./support.ts";

const admin = client();

describe("queue administration", () => {
  it("creates, changes, reads, lists and deletes a queue", async () => {
    const queue = queueName();
    const created = await admin.putQueue(queue, { maxAttempts: 3 });
    expect(created).toMatchObject({ name: queue, created: true, config: { maxAttempts: 3 } });
    const changed = await admin.putQueue(queue, { visibilityTimeout: 60 });
    expect(changed).toMatchObject({
      created: false,
      config: { maxAttempts: 3, visibilityTimeout: 60 },
    });

    await admin.send(queue, "counted");
    const read = await admin.getQueue(queue);
    expect(read.stats).toMatchObject({ ready: 1, sent: 1 });
    expect((await admin.listQueues()).map((listed) => listed.name)).toContain(queue);

    await admin.deleteQueue(queue);
    expect((await admin.listQueues()).map((listed) => listed.name)).not.toContain(queue);
  });

  it("peeks without leasing and purges", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    await admin.sendBatch(queue, [{ body: "a" }, { body: "b", contentType: "text/plain" }]);
    const peeked = await admin.peek(queue, { limit: 1 });
    expect(peeked).toMatchObject([{ body: "a", state: "ready" }]);
    expect(await admin.purge(queue)).toBe(2);
    expect(await admin.peek(queue)).toEqual([]);
  });
});

describe("flow control", () => {
  it("pauses and resumes a queue and a key, and sets a key's own limits", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered", keyLimits: { concurrency: 2 } });
    expect(await admin.pause(queue)).toEqual({ key: null, paused: true, until: null });
    await admin.send(queue, "held", { key: "k" });
    expect(await admin.receive(queue, { max: 10 })).toEqual([]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ paused: true, ready: 1 });
    expect(await admin.resume(queue)).toEqual({ key: null, paused: false, until: null });

    const until = Date.now() + 60_000;
    expect(await admin.pause(queue, { key: "k", until })).toEqual({
      key: "k",
      paused: true,
      until,
    });
    expect(await admin.getKey(queue, "k")).toMatchObject({ paused: { until }, waiting: 1 });
    expect(await admin.putKeyLimits(queue, "k", { rate: 3 })).toMatchObject({
      limits: { rate: 3 },
      effective: { rate: 3, concurrency: 2 },
    });
    await admin.resume(queue, "k");
    expect(await admin.receive(queue, { max: 10 })).toHaveLength(1);
  });
});

describe("receiving by hand", () => {
  it("receives, extends, nacks and acks by receipt", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered" });
    await admin.sendBatch(queue, [{ body: 1 }, { body: 2 }]);
    const [first, second] = await admin.receive(queue, { max: 2, visibilityTimeout: 5 });
    expect((await admin.extend(queue, first.receipt, 60)).extended).toBe(1);
    expect(await admin.nack(queue, second.receipt, { delaySeconds: 0, reason: "later" })).toEqual({
      retried: 1,
      deadLettered: 0,
      failed: [],
    });
    expect(await admin.ack(queue, [first.receipt, second.receipt])).toEqual({
      acked: 1,
      failed: [{ receipt: second.receipt, code: "receipt_stale" }],
    });
    const [again] = await admin.receive(queue);
    expect(again).toMatchObject({ body: second.body, attempts: 2 });
  });
  it("acks the last receive's messages with the next receive", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered" });
    await admin.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    const first = await admin.receive(queue, { max: 2 });

    const next = await admin.ackAndReceive(
      queue,
      first.map((message) => message.receipt),
      { max: 2 },
    );

    expect(next.acked).toEqual({ acked: 2, failed: [] });
    expect(next.messages.map((message) => message.body)).toEqual([3]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ acked: 2, leased: 1 });
  });

  it("tries a receive carrying acks again after a refusal, not after a lost answer", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered" });
    await admin.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    const [first] = await admin.receive(queue);
    // The first attempt is shed (it acks nothing), the second answered and the answer lost.
    const { fetch, requests } = scriptedFetch([{ status: 503 }, "drop"]);
    const flaky = client({ fetch });

    const lost = await flaky.ackAndReceive(queue, [first.receipt]).catch((error) => error);

    expect(lost).toMatchObject({ kind: "network", status: 0 });
    expect(requests.map((request) => request.step)).toEqual([{ status: 503 }, "drop"]);
    // The lost answer's request acked the message: sent again, it would have called it stale.
    expect((await admin.getQueue(queue)).stats).toMatchObject({ acked: 1, leased: 1 });
    expect(await admin.ack(queue, first.receipt)).toEqual({
      acked: 0,
      failed: [{ receipt: first.receipt, code: "receipt_stale" }],
    });
  });
});

describe("dead letters", () => {
  async function deadQueue(count: number) {
    const queue = queueName();
    await admin.putQueue(queue, { maxAttempts: 1 });
    const ids: string[] = [];
    for (let n = 0; n < count; n++) {
      ids.push((await admin.send(queue, { n })).id);
      const [message] = await admin.receive(queue);
      await admin.nack(queue, message.receipt, { reason: `broken ${n}` });
    }
    await settleDeadLetters(queue);
    return { queue, ids };
  }

  it("lists, reads, filters and pages dead letters", async () => {
    const { queue, ids } = await deadQueue(3);
    const firstPage = await admin.listDeadLetters(queue, { limit: 2 });
    expect(firstPage.messages).toHaveLength(2);
    expect(firstPage.cursor).not.toBeNull();
    const lastPage = await admin.listDeadLetters(queue, {
      limit: 2,
      cursor: firstPage.cursor as string,
    });
    expect(
      [...firstPage.messages, ...lastPage.messages].map((message) => message.id).sort(),
    ).toEqual([...ids].sort());
    const filtered = await admin.listDeadLetters(queue, { reason: "broken 1" });
    expect(filtered.messages.map((message) => message.id)).toEqual([ids[1]]);
    const one = await admin.getDeadLetter(queue, ids[0]);
    expect(one).toMatchObject({ id: ids[0], body: { n: 0 }, failures: [{ reason: "broken 0" }] });
  });

  it("redrives, deletes and purges dead letters", async () => {
    const { queue, ids } = await deadQueue(3);
    expect(await admin.redriveDeadLetters(queue, { ids: [ids[0]] })).toEqual({
      redriven: 1,
      remaining: 2,
    });
    expect((await admin.peek(queue)).map((message) => message.body)).toEqual([{ n: 0 }]);
    await admin.deleteDeadLetter(queue, ids[1]);
    expect(await admin.purgeDeadLetters(queue)).toBe(1);
    expect((await admin.listDeadLetters(queue)).messages).toEqual([]);
  });
});

describe("keys", () => {
  it("creates a key whose secret works as a token, lists it and revokes it", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const key = await admin.createKey({ name: "worker", scopes: ["produce"], queues: [queue] });
    expect(key.secret).toMatch(/^sk_/);
    await client({ token: key.secret }).send(queue, "from the key");
    expect((await admin.listKeys()).map((listed) => listed.id)).toContain(key.id);
    await admin.deleteKey(key.id);
    expect((await admin.listKeys()).map((listed) => listed.id)).not.toContain(key.id);
  });
});
