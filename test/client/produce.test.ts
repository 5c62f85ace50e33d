import { describe, expect, it } from "vitest";
import { SluiceError } from "../../client/index.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { client, queueName, scriptedFetch } from "./support.ts";

const admin = client();

describe("sending", () => {
  it("stores a message and answers where it went", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const sent = await admin.send(queue, { to: "ada@example.com" }, { key: "ada", priority: 3 });
    expect(sent).toEqual({
      index: 0,
      id: expect.any(String),
      partition: 0,
      seq: 1,
      duplicate: false,
    });
    const [peeked] = await admin.peek(queue);
    expect(peeked).toMatchObject({
      id: sent.id,
      body: { to: "ada@example.com" },
      key: "ada",
      priority: 3,
      contentType: "application/json",
    });
  });

  it("splits a batch of more than 100 into requests of 100, in order", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const { fetch, requests } = scriptedFetch();
    const messages = Array.from({ length: 250 }, (_, n) => ({ body: n, key: "one-key" }));
    const result = await client({ fetch }).sendBatch(queue, messages);
    expect(requests.map((request) => request.body.messages.length)).toEqual([100, 100, 50]);
    expect(result.failed).toEqual([]);
    expect(result.messages.map((message) => message.index)).toEqual(messages.map((_, n) => n));
    expect(result.messages.map((message) => message.seq)).toEqual(messages.map((_, n) => n + 1));
    expect((await admin.getQueue(queue)).stats.ready).toBe(250);
  });

  it("gives every message a dedupId unless the caller chose one", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const { fetch, requests } = scriptedFetch();
    await client({ fetch }).sendBatch(queue, [{ body: 1 }, { body: 2, dedupId: "mine" }]);
    const [first, second] = requests[0].body.messages;
    expect(first.dedupId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.dedupId).toBe("mine");
  });
});

describe("producer retries", () => {
  it("retries a send refused with 429 and 503 until it is stored, once", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const { fetch, requests } = scriptedFetch([{ status: 429 }, { status: 503 }, "network"]);
    const sent = await client({ fetch }).send(queue, "hello");
    expect(requests.map((request) => request.status)).toEqual([429, 503, null, 201]);
    expect(sent.duplicate).toBe(false);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 1, sent: 1 });
  });

  it("stores nothing twice when the answer to a stored send is lost", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { partitions: 4 });
    const { fetch, requests } = scriptedFetch(["drop", "drop"]);
    const messages = [{ body: "a" }, { body: "b" }, { body: "c", key: "k" }];
    const result = await client({ fetch }).sendBatch(queue, messages);

    expect(requests.map((request) => request.status)).toEqual([201, 201, 201]);
    const dedupIds = requests.map((request) =>
      request.body.messages.map((message: { dedupId: string }) => message.dedupId),
    );
    expect(dedupIds[1]).toEqual(dedupIds[0]);
    expect(dedupIds[2]).toEqual(dedupIds[0]);
    // The first try stored them; the retry that got through found them already there.
    expect(result.messages.map((message) => message.duplicate)).toEqual([true, true, true]);
    const peeked = await admin.peek(queue, { limit: 10 });
    expect(peeked.map((message) => message.id).sort()).toEqual(
      result.messages.map((message) => message.id).sort(),
    );
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 3, sent: 3 });
  });

  it("waits at least Retry-After before trying again", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const { fetch, requests } = scriptedFetch([{ status: 503, retryAfter: 1 }]);
    await client({ fetch }).send(queue, "patient");
    expect(requests).toHaveLength(2);
    expect(requests[1].sentAt - requests[0].answeredAt).toBeGreaterThanOrEqual(1000);
  });

  it("backs off with full jitter under a ceiling that doubles per retry", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const steps = Array.from({ length: 5 }, () => ({ status: 503 as const }));
    const { fetch, requests } = scriptedFetch(steps);
    const sluice = client({ fetch, retry: { attempts: 6, baseDelayMs: 20, maxDelayMs: 80 } });
    await sluice.send(queue, "eventually");
    const pauses = requests.slice(1).map((request, n) => request.sentAt - requests[n].answeredAt);
    const ceilings = [20, 40, 80, 80, 80];
    pauses.forEach((pause, n) => {
      // Timers fire on whole milliseconds, and a busy machine may add a little to any pause.
      expect(pause).toBeLessThanOrEqual(ceilings[n] + 50);
    });
    expect(requests).toHaveLength(6);
  });

  it("gives up after the configured attempts with the last refusal", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const steps = Array.from({ length: 3 }, () => ({ status: 503 as const }));
    const { fetch, requests } = scriptedFetch(steps);
    const failure = await client({ fetch, retry: { attempts: 3 } })
      .send(queue, "never")
      .catch((error) => error);
    expect(failure).toBeInstanceOf(SluiceError);
    expect(failure).toMatchObject({ kind: "overloaded", status: 503, code: "overloaded" });
    expect(requests).toHaveLength(3);
    expect((await admin.getQueue(queue)).stats.sent).toBe(0);
  });

  it("reports a send it could not deliver at all as a network error", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const { fetch } = scriptedFetch(["network", "network"]);
    const failure = await client({ fetch, retry: { attempts: 2 } })
      .send(queue, "lost")
      .catch((error) => error);
    expect(failure).toMatchObject({ kind: "network", status: 0, code: "network_error" });
    expect(failure.retryable).toBe(true);
  });

  it("resends only what a full partition refused, then lists it and sends no later request", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { partitions: 2, backlog: { soft: 200, hard: 200 } });
    const full = "a";
    const roomy = ["b", "c", "d", "e"].find(
      (key) => partitionForKey(key, 2) !== partitionForKey(full, 2),
    ) as string;
    for (let batch = 0; batch < 2; batch++) {
      await admin.sendBatch(
        queue,
        Array.from({ length: 100 }, () => ({ body: 0, key: full })),
      );
    }

    const { fetch, requests } = scriptedFetch();
    const messages = [
      { body: "refused", key: full },
      ...Array.from({ length: 149 }, (_, n) => ({ body: n, key: roomy })),
    ];
    const result = await client({ fetch, retry: { attempts: 2 } }).sendBatch(queue, messages);

    // Two tries in all for the refused message, the first one included.
    expect(requests.map((request) => [request.status, request.body.messages.length])).toEqual([
      [207, 100],
      [429, 1],
    ]);
    expect(result.messages.map((message) => message.index)).toEqual(
      Array.from({ length: 99 }, (_, n) => n + 1),
    );
    expect(result.failed[0]).toMatchObject({ index: 0, code: "backlog_full" });
    expect(result.failed.slice(1).map((failure) => [failure.index, failure.code])).toEqual(
      Array.from({ length: 50 }, (_, n) => [n + 100, "not_sent"]),
    );
    expect(result.failed[0].dedupId).toBe(requests[0].body.messages[0].dedupId);
    expect((await admin.getQueue(queue)).stats.ready).toBe(200 + 99);
  });
});

describe("backpressure", () => {
  it("pauses before sends while answers say slow, longer each time, and recovers after", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { backlog: { soft: 1, hard: 1000 } });
    const { fetch, requests } = scriptedFetch();
    const sluice = client({ fetch, backpressure: { initialDelayMs: 40, maxDelayMs: 160 } });

    const delays: number[] = [];
    for (let n = 0; n < 5; n++) {
      await sluice.send(queue, n);
      delays.push(sluice.sendDelayMs(queue));
    }
    // The first send finds the queue below its soft limit; every later one above it.
    expect(delays).toEqual([0, 40, 80, 160, 160]);
    for (let n = 2; n < 5; n++) {
      expect(requests[n].sentAt - requests[n - 1].answeredAt).toBeGreaterThanOrEqual(delays[n - 1]);
    }

    await admin.purge(queue);
    const recovering: number[] = [];
    for (let n = 0; n < 3; n++) {
      await sluice.send(queue, n);
      await admin.purge(queue);
      recovering.push(sluice.sendDelayMs(queue));
    }
    expect(recovering).toEqual([80, 40, 0]);
  });

  it("paces each queue on its own", async () => {
    const [pressed, calm] = [queueName(), queueName()];
    await admin.putQueue(pressed, { backlog: { soft: 1, hard: 1000 } });
    await admin.putQueue(calm);
    const sluice = client({ backpressure: { initialDelayMs: 40 } });
    await sluice.send(pressed, 1);
    await sluice.send(pressed, 2);
    await sluice.send(calm, 1);
    expect(sluice.sendDelayMs(pressed)).toBe(40);
    expect(sluice.sendDelayMs(calm)).toBe(0);
  });
});
