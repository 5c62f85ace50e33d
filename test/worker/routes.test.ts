import { describe, expect, it } from "vitest";
import { decodeReceipt, encodeReceipt } from "../../core/receipt.ts";
import { ReceiveResultSchema } from "../../worker/schemas.ts";
import { call, createQueue, expectProblem, ok, queueName, receive, send, stats } from "./api.ts";

describe("queues", () => {
  it("creates a queue with 201 and updates it with 200", async () => {
    const name = queueName();
    const created = await call("PUT", `/v1/queues/${name}`, { json: { partitions: 2 } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      name,
      config: { partitions: 2, ordering: "fifo" },
    });
    const updated = await call("PUT", `/v1/queues/${name}`, { json: { maxAttempts: 3 } });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ config: { partitions: 2, maxAttempts: 3 } });
  });

  it("creates a queue from the defaults when PUT has no body", async () => {
    const name = queueName();
    const response = await call("PUT", `/v1/queues/${name}`);
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      config: { partitions: 1, visibilityTimeout: 30 },
    });
  });

  it("lists queues with their stats", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const { queues } = await ok("GET", "/v1/queues");
    expect(queues.find((queue: { name: string }) => queue.name === name)).toMatchObject({
      name,
      stats: { ready: 1, sent: 1 },
    });
  });

  it("answers a queue's stats summed over its partitions", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 4 });
    await send(name, [
      { body: 1, key: "a" },
      { body: 2, key: "b" },
      { body: 3, key: "c" },
      { body: 4 },
    ]);
    await receive(name);
    expect(await stats(name)).toEqual({
      ready: 3,
      leased: 1,
      delayed: 0,
      deadLettered: 0,
      oldestAgeMs: expect.any(Number),
      sent: 4,
      acked: 0,
      backlogBytes: 4,
      paused: false,
      pausedUntil: null,
      pausedKeys: 0,
      heldKeys: [],
      // What the partitions' storage cost, summed (exact counts: test/durable-objects).
      usage: {
        requests: expect.any(Number),
        statements: expect.any(Number),
        rowsRead: expect.any(Number),
        rowsWritten: expect.any(Number),
      },
    });
  });

  it("deletes a queue with its messages and dead letters", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 2 });
    await send(name, [
      { body: "x", key: "a" },
      { body: "y", key: "b" },
    ]);
    expect((await call("DELETE", `/v1/queues/${name}`)).status).toBe(204);
    await expectProblem(await call("GET", `/v1/queues/${name}`), 404, "queue_not_found");
    await expectProblem(await call("DELETE", `/v1/queues/${name}`), 404, "queue_not_found");
    await createQueue(name, { partitions: 2 });
    expect(await stats(name)).toMatchObject({ ready: 0, sent: 0 });
  });

  it("purges a queue's messages", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }, { body: 2 }]);
    expect(await ok("POST", `/v1/queues/${name}/purge`)).toEqual({ purged: 2 });
    expect(await stats(name)).toMatchObject({ ready: 0 });
  });
});

describe("messages", () => {
  it("sends a batch, one message object, and a raw body", async () => {
    const name = queueName();
    await createQueue(name);
    const batch = await ok("POST", `/v1/queues/${name}/messages`, {
      json: { messages: [{ body: { n: 1 } }, { body: { n: 2 } }] },
    });
    expect(batch.messages).toEqual([
      { index: 0, id: expect.any(String), partition: 0, seq: expect.any(Number), duplicate: false },
      { index: 1, id: expect.any(String), partition: 0, seq: expect.any(Number), duplicate: false },
    ]);
    const single = await ok("POST", `/v1/queues/${name}/messages`, { json: { body: "one" } });
    expect(single.messages).toHaveLength(1);
    const raw = await call("POST", `/v1/queues/${name}/messages`, {
      body: "plain words",
      headers: { "Content-Type": "text/plain; charset=utf-8", "Sluice-Key": "k1" },
    });
    expect(raw.status).toBe(201);
    const received = await receive(name, { max: 10 });
    expect(received.map((message) => [message.body, message.contentType, message.key])).toEqual([
      [{ n: 1 }, "application/json", null],
      [{ n: 2 }, "application/json", null],
      ["one", "application/json", null],
      ["plain words", "text/plain", "k1"],
    ]);
  });

  it("stores a binary raw body as base64", async () => {
    const name = queueName();
    await createQueue(name);
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const response = await call("POST", `/v1/queues/${name}/messages`, {
      body: bytes,
      headers: { "Content-Type": "image/png", "Sluice-Priority": "3", "Sluice-Delay": "0" },
    });
    expect(response.status).toBe(201);
    const [message] = await receive(name);
    expect(message).toMatchObject({
      contentType: "application/octet-stream",
      body: "AAEC+v8=",
      priority: 3,
    });
  });

  it("answers a duplicate dedupId with the first id and stores nothing", async () => {
    const name = queueName();
    await createQueue(name);
    const [first] = await send(name, [{ body: 1, dedupId: "order-7" }]);
    const [again] = await send(name, [{ body: 1, dedupId: "order-7" }]);
    expect(again).toMatchObject({ id: first.id, duplicate: true });
    expect(await stats(name)).toMatchObject({ ready: 1 });
  });

  it("routes a key to the same partition every time", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 8 });
    const sent = await send(
      name,
      Array.from({ length: 5 }, (_, i) => ({ body: i, key: "customer-42" })),
    );
    expect(new Set(sent.map((message) => message.partition)).size).toBe(1);
  });

  it("receives in the documented shape, then acks", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: { hello: "world" }, headers: { trace: "abc" } }]);
    const answer = await ok("POST", `/v1/queues/${name}/receive`, { json: { max: 5 } });
    const { messages } = ReceiveResultSchema.parse(answer);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      body: { hello: "world" },
      headers: { trace: "abc" },
      attempts: 1,
    });
    expect(
      await ok("POST", `/v1/queues/${name}/ack`, { json: { receipts: [messages[0].receipt] } }),
    ).toEqual({
      acked: 1,
      failed: [],
    });
    expect(await stats(name)).toMatchObject({ ready: 0, leased: 0, acked: 1 });
  });

  it("receives from every partition until it has max messages", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 4 });
    await send(
      name,
      ["a", "b", "c", "d", "e", "f"].map((key) => ({ body: key, key })),
    );
    const received = await receive(name, { max: 6 });
    expect(received.map((message) => message.body).sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("receives from one partition when asked", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 2 });
    const sent = await send(name, [{ body: 1, key: "x" }]);
    const other = 1 - sent[0].partition;
    expect(await receive(name, { partition: other })).toEqual([]);
    expect(await receive(name, { partition: sent[0].partition })).toHaveLength(1);
  });

  it("long-polls until a message arrives", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 3 });
    const waiting = receive(name, { wait: 10 });
    await send(name, [{ body: "late" }]);
    const [message] = await waiting;
    expect(message.body).toBe("late");
  });

  it("reports stale and foreign receipts per item", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const [message] = await receive(name);
    await ok("POST", `/v1/queues/${name}/ack`, { json: { receipts: [message.receipt] } });
    const answer = await ok("POST", `/v1/queues/${name}/ack`, {
      json: { receipts: [message.receipt, "not-a-receipt"] },
    });
    expect(answer).toEqual({
      acked: 0,
      failed: [
        { receipt: message.receipt, code: "receipt_stale" },
        { receipt: "not-a-receipt", code: "receipt_invalid" },
      ],
    });
  });

  it("refuses a receipt for a partition the queue does not have, before any partition sees it", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const [message] = await receive(name);
    const decoded = decodeReceipt(message.receipt);
    if (!decoded) throw new Error("undecodable receipt");
    const foreign = encodeReceipt({ ...decoded, partition: 3 });
    const answer = await ok("POST", `/v1/queues/${name}/ack`, { json: { receipts: [foreign] } });
    expect(answer).toEqual({ acked: 0, failed: [{ receipt: foreign, code: "receipt_invalid" }] });
    // The message's own lease is untouched.
    const acked = await ok("POST", `/v1/queues/${name}/ack`, {
      json: { receipts: [message.receipt] },
    });
    expect(acked).toEqual({ acked: 1, failed: [] });
  });

  it("acks the last receive's receipts with the next receive, in one request", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered" });
    await send(name, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    const first = await receive(name, { max: 2 });

    const answer = await ok("POST", `/v1/queues/${name}/receive`, {
      json: { max: 5, ack: [...first.map((m) => m.receipt), "not-a-receipt"] },
    });

    const { messages, ack } = ReceiveResultSchema.parse(answer);
    expect(messages.map((m) => m.body)).toEqual([3]);
    expect(ack).toEqual({
      acked: 2,
      failed: [{ receipt: "not-a-receipt", code: "receipt_invalid" }],
    });
    expect(await stats(name)).toMatchObject({ ready: 0, leased: 1, acked: 2 });
  });

  it("acks receipts of every partition with a receive, whichever partition it leases from", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 4, ordering: "unordered" });
    await send(
      name,
      ["a", "b", "c", "d", "e", "f"].map((key) => ({ body: key, key })),
    );
    const first = await receive(name, { max: 6 });
    expect(new Set(first.map((m) => m.partition)).size).toBeGreaterThan(1);

    const answer = await ok("POST", `/v1/queues/${name}/receive`, {
      json: { max: 1, ack: first.map((m) => m.receipt) },
    });

    expect(answer).toEqual({ messages: [], ack: { acked: 6, failed: [] } });
    expect(await stats(name)).toMatchObject({ ready: 0, leased: 0, acked: 6 });
  });

  it("answers a receive without ack in the same shape as before (no ack field)", async () => {
    const name = queueName();
    await createQueue(name);
    expect(await ok("POST", `/v1/queues/${name}/receive`, { json: { max: 1 } })).toEqual({
      messages: [],
    });
  });

  it("nacks a message back for another attempt", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const [first] = await receive(name);
    const nacked = await ok("POST", `/v1/queues/${name}/nack`, {
      json: { receipts: [first.receipt], delaySeconds: 0, reason: "flaky" },
    });
    expect(nacked).toEqual({ retried: 1, deadLettered: 0, failed: [] });
    const [second] = await receive(name);
    expect(second).toMatchObject({ id: first.id, attempts: 2 });
  });

  it("extends a lease", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const [message] = await receive(name, { visibilityTimeout: 5 });
    const answer = await ok("POST", `/v1/queues/${name}/extend`, {
      json: { receipts: [message.receipt], visibilityTimeout: 600 },
    });
    expect(answer).toEqual({ extended: 1, failed: [] });
  });

  it("peeks without leasing", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: "a" }, { body: "b" }, { body: "c" }]);
    const { messages } = await ok("GET", `/v1/queues/${name}/messages?limit=2`);
    expect(
      messages.map((message: { body: string; state: string }) => [message.body, message.state]),
    ).toEqual([
      ["a", "ready"],
      ["b", "ready"],
    ]);
    const { messages: after } = await ok(
      "GET",
      `/v1/queues/${name}/messages?after=${messages[1].seq}`,
    );
    expect(after.map((message: { body: string }) => message.body)).toEqual(["c"]);
    expect(await stats(name)).toMatchObject({ ready: 3, leased: 0 });
  });
});

describe("system", () => {
  it("answers GET /health without a token", async () => {
    const response = await call("GET", "/health", { token: null });
    expect(await response.json()).toEqual({ ok: true });
  });

  it("answers an unknown path with 404 and a wrong method with 405", async () => {
    await expectProblem(await call("GET", "/v1/nothing-here"), 404, "not_found");
    const wrong = await call("PATCH", "/v1/queues/abc");
    expect(wrong.headers.get("allow")).toBe("PUT, GET, DELETE");
    await expectProblem(wrong, 405, "method_not_allowed");
  });
});
