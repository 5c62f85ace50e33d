import { describe, expect, it } from "vitest";
import { DeadLetterPageSchema, DeadMessageSchema } from "../../worker/schemas.ts";
import {
  call,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
  stats,
} from "./api.ts";

/** A queue whose messages die on their first nack, holding `bodies` as dead letters. */
async function queueWithDeadLetters(bodies: unknown[], config: Record<string, unknown> = {}) {
  const name = queueName("dlq");
  await createQueue(name, { maxAttempts: 1, ...config });
  await send(
    name,
    bodies.map((body, index) => ({ body, key: `k${index}`, headers: { n: String(index) } })),
  );
  const leased = await receive(name, { max: bodies.length });
  const nacked = await ok("POST", `/v1/queues/${name}/nack`, {
    json: { receipts: leased.map((message) => message.receipt), reason: "handler threw" },
  });
  expect(nacked.deadLettered).toBe(bodies.length);
  await settleDeadLetters(name);
  return name;
}

describe("dead letters", () => {
  it("lists dead letters with why they died, and counts them in the queue's stats", async () => {
    const name = await queueWithDeadLetters([{ order: 1 }]);
    const page = DeadLetterPageSchema.parse(await ok("GET", `/v1/queues/${name}/dlq`));
    expect(page.cursor).toBeNull();
    expect(page.messages).toHaveLength(1);
    expect(page.messages[0]).toMatchObject({
      queue: name,
      body: { order: 1 },
      key: "k0",
      attempts: 1,
      failures: [{ attempt: 1, reason: "handler threw", by: "nack" }],
    });
    expect(await stats(name)).toMatchObject({ deadLettered: 1, ready: 0, leased: 0 });
  });

  it("filters by reason and body text, and pages with a cursor", async () => {
    const name = await queueWithDeadLetters(["apple", "banana", "cherry"]);
    const bananas = await ok("GET", `/v1/queues/${name}/dlq?q=banan`);
    expect(bananas.messages.map((message: { body: string }) => message.body)).toEqual(["banana"]);
    expect((await ok("GET", `/v1/queues/${name}/dlq?reason=THREW`)).messages).toHaveLength(3);
    expect((await ok("GET", `/v1/queues/${name}/dlq?reason=timeout`)).messages).toHaveLength(0);
    const first = await ok("GET", `/v1/queues/${name}/dlq?limit=2`);
    const second = await ok("GET", `/v1/queues/${name}/dlq?limit=2&cursor=${first.cursor}`);
    const seen = [...first.messages, ...second.messages].map(
      (message: { body: string }) => message.body,
    );
    expect(seen.sort()).toEqual(["apple", "banana", "cherry"]);
    expect(second.cursor).toBeNull();
  });

  it("reads one dead letter by id", async () => {
    const name = await queueWithDeadLetters(["only"]);
    const [listed] = (await ok("GET", `/v1/queues/${name}/dlq`)).messages;
    const message = DeadMessageSchema.parse(await ok("GET", `/v1/queues/${name}/dlq/${listed.id}`));
    expect(message).toMatchObject({ id: listed.id, body: "only", diedAt: expect.any(Number) });
  });

  it("redrives chosen ids back to the queue as fresh messages", async () => {
    const name = await queueWithDeadLetters(["a", "b"]);
    const { messages } = await ok("GET", `/v1/queues/${name}/dlq`);
    const a = messages.find((message: { body: string }) => message.body === "a");
    expect(await ok("POST", `/v1/queues/${name}/dlq/redrive`, { json: { ids: [a.id] } })).toEqual({
      redriven: 1,
      remaining: 1,
    });
    const [again] = await receive(name);
    expect(again).toMatchObject({ body: "a", key: "k0", headers: { n: "0" }, attempts: 1 });
    expect(await stats(name)).toMatchObject({ deadLettered: 1, leased: 1 });
  });

  it("redrives everything to another queue", async () => {
    const name = await queueWithDeadLetters(["x", "y", "z"]);
    const target = queueName("target");
    await createQueue(target);
    expect(
      await ok("POST", `/v1/queues/${name}/dlq/redrive`, { json: { all: true, target } }),
    ).toEqual({
      redriven: 3,
      remaining: 0,
    });
    const moved = await receive(target, { max: 10 });
    expect(moved.map((message) => message.body).sort()).toEqual(["x", "y", "z"]);
    expect(await stats(name)).toMatchObject({ deadLettered: 0, ready: 0 });
  });

  it("redrives without the original dedupId, so the copy is not taken for a duplicate", async () => {
    const name = queueName("dlq");
    await createQueue(name, { maxAttempts: 1 });
    await send(name, [{ body: "once", dedupId: "d-1" }]);
    const [message] = await receive(name);
    await ok("POST", `/v1/queues/${name}/nack`, { json: { receipts: [message.receipt] } });
    await settleDeadLetters(name);
    await ok("POST", `/v1/queues/${name}/dlq/redrive`, { json: { all: true } });
    expect(await stats(name)).toMatchObject({ ready: 1, deadLettered: 0 });
  });

  it("deletes one dead letter, then purges the rest", async () => {
    const name = await queueWithDeadLetters(["a", "b", "c"]);
    const [first] = (await ok("GET", `/v1/queues/${name}/dlq`)).messages;
    expect((await call("DELETE", `/v1/queues/${name}/dlq/${first.id}`)).status).toBe(204);
    await expectProblem(
      await call("GET", `/v1/queues/${name}/dlq/${first.id}`),
      404,
      "dead_letter_not_found",
    );
    expect(await ok("POST", `/v1/queues/${name}/dlq/purge`)).toEqual({ purged: 2 });
    expect(await stats(name)).toMatchObject({ deadLettered: 0 });
  });
});
