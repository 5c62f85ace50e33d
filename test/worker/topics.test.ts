/**
 * Topics through the HTTP API: subscriptions with header filters, a publish fanned out to
 * every matching queue, partial refusals (207), retries that store nothing new, access by
 * topic pattern, and what a deleted queue leaves behind.
 */
import { describe, expect, it } from "vitest";
import { call, createQueue, expectProblem, ok, queueName, receive, send, stats } from "./api.ts";

async function putTopic(name: string, subscriptions: unknown[]) {
  return ok("PUT", `/v1/topics/${name}`, { json: { subscriptions } });
}

function publish(topic: string, json: unknown, token?: string) {
  return call("POST", `/v1/topics/${topic}/messages`, { json, token });
}

/** A key with these scopes on the queue and topic patterns; returns its secret. */
async function keyFor(scopes: string[], queues: string[], topics: string[]): Promise<string> {
  const key = await ok("POST", "/v1/keys", {
    json: { name: `topics ${scopes.join("+")}`, scopes, queues, topics },
  });
  return key.secret;
}

async function queues(count: number, config: Record<string, unknown> = {}): Promise<string[]> {
  const names = Array.from({ length: count }, () => queueName("sub"));
  for (const name of names) await createQueue(name, config);
  return names;
}

describe("topic definitions", () => {
  it("creates (201), replaces (200), reads, lists and deletes a topic", async () => {
    const [a, b] = await queues(2);
    const topic = queueName("t");
    const created = await call("PUT", `/v1/topics/${topic}`, {
      json: { subscriptions: [{ queue: a, filter: { region: "eu" } }, { queue: b }] },
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      name: topic,
      subscriptions: [
        { queue: a, filter: { region: ["eu"] } },
        { queue: b, filter: null },
      ],
    });
    const replaced = await call("PUT", `/v1/topics/${topic}`, {
      json: { subscriptions: [{ queue: b }] },
    });
    expect(replaced.status).toBe(200);
    expect((await ok("GET", `/v1/topics/${topic}`)).subscriptions).toEqual([
      { queue: b, filter: null },
    ]);
    const { topics } = await ok("GET", "/v1/topics");
    expect(topics.map((t: { name: string }) => t.name)).toContain(topic);
    expect((await call("DELETE", `/v1/topics/${topic}`)).status).toBe(204);
    await expectProblem(await call("GET", `/v1/topics/${topic}`), 404, "topic_not_found");
  });

  const invalidFilters: [name: string, filter: unknown][] = [
    ["an empty filter", {}],
    ["a header with no condition", { region: [] }],
    ["a number", { region: 5 }],
    ["an unknown operator", { region: [{ suffix: "x" }] }],
    ["an empty prefix", { region: [{ prefix: "" }] }],
    ["exists that is not a boolean", { region: [{ exists: "yes" }] }],
    ["a bad header name", { "a b": "x" }],
  ];
  it.each(invalidFilters)("refuses %s with 400, storing nothing", async (_name, filter) => {
    const [queue] = await queues(1);
    const topic = queueName("t");
    const problem = await expectProblem(
      await call("PUT", `/v1/topics/${topic}`, { json: { subscriptions: [{ queue, filter }] } }),
      400,
      "invalid_request",
    );
    expect(problem.detail).toContain("body.subscriptions[0].filter");
    await expectProblem(await call("GET", `/v1/topics/${topic}`), 404, "topic_not_found");
  });

  it("refuses a subscription to a queue that does not exist (404) and a bad topic name (400)", async () => {
    await expectProblem(
      await call("PUT", `/v1/topics/${queueName("t")}`, {
        json: { subscriptions: [{ queue: queueName("missing") }] },
      }),
      404,
      "queue_not_found",
    );
    await expectProblem(
      await call("PUT", "/v1/topics/no.dots", { json: { subscriptions: [] } }),
      400,
      "invalid_topic_name",
    );
  });
});

describe("publishing", () => {
  it("stores one copy per matching queue, keeping key, headers and priority (201)", async () => {
    const [eu, any, us] = await queues(3);
    const topic = queueName("t");
    await putTopic(topic, [
      { queue: eu, filter: { region: ["eu-west", { prefix: "eu-" }] } },
      { queue: any },
      { queue: us, filter: { region: "us" } },
    ]);
    const response = await publish(topic, {
      messages: [
        { body: { n: 1 }, key: "k1", headers: { region: "eu-north" }, priority: 3 },
        { body: { n: 2 }, headers: { region: "us" } },
      ],
    });
    expect(response.status).toBe(201);
    const { deliveries } = await response.json<{
      deliveries: { queue: string; messages: { index: number }[]; filtered: number[] }[];
    }>();
    expect(deliveries.map((d) => [d.queue, d.messages.map((m) => m.index), d.filtered])).toEqual([
      [eu, [0], [1]],
      [any, [0, 1], []],
      [us, [1], [0]],
    ]);
    const [copy] = await receive(eu);
    expect(copy).toMatchObject({
      body: { n: 1 },
      key: "k1",
      headers: { region: "eu-north" },
      priority: 3,
    });
    expect((await receive(any, { max: 10 })).map((m) => m.body)).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await receive(us)).map((m) => m.body)).toEqual([{ n: 2 }]);
  });

  it("answers 207 when one queue is at its hard backlog; the other two keep their copies", async () => {
    const [first, full, last] = await queues(3);
    await ok("PUT", `/v1/queues/${full}`, { json: { backlog: { soft: 1, hard: 1 } } });
    await send(full, [{ body: "already here" }]);
    const topic = queueName("t");
    await putTopic(topic, [{ queue: first }, { queue: full }, { queue: last }]);

    const response = await publish(topic, { body: "fan out", dedupId: "p-1" });
    expect(response.status).toBe(207);
    const { deliveries } = await response.json<{
      deliveries: {
        queue: string;
        messages: unknown[];
        failed: { index: number; code: string }[];
      }[];
    }>();
    expect(
      deliveries.map((d) => [d.queue, d.messages.length, d.failed.map((f) => f.code)]),
    ).toEqual([
      [first, 1, []],
      [full, 0, ["backlog_full"]],
      [last, 1, []],
    ]);
    expect((await stats(first)).ready).toBe(1);
    expect((await stats(full)).ready).toBe(1);
    expect((await stats(last)).ready).toBe(1);
  });

  it("stores nothing new anywhere when a publish is retried with its dedupId", async () => {
    const names = await queues(3);
    const topic = queueName("t");
    await putTopic(
      topic,
      names.map((queue) => ({ queue })),
    );
    const message = { body: "once", dedupId: "order-42" };
    const first = await (await publish(topic, message)).json<{
      deliveries: { messages: { id: string; duplicate: boolean }[] }[];
    }>();
    const retried = await publish(topic, message);
    expect(retried.status).toBe(201);
    const again = await retried.json<{
      deliveries: { messages: { id: string; duplicate: boolean }[] }[];
    }>();
    for (const [index, delivery] of again.deliveries.entries()) {
      expect(delivery.messages).toEqual([
        expect.objectContaining({ id: first.deliveries[index].messages[0].id, duplicate: true }),
      ]);
    }
    for (const name of names) expect((await stats(name)).sent).toBe(1);
  });

  it("refuses a publish no queue could store, with the queue's refusal and Retry-After", async () => {
    const [full] = await queues(1, { backlog: { soft: 1, hard: 1 } });
    await send(full, [{ body: "already here" }]);
    const topic = queueName("t");
    await putTopic(topic, [{ queue: full }]);
    const response = await publish(topic, { body: "x" });
    expect(response.headers.get("retry-after")).not.toBeNull();
    await expectProblem(response, 429, "backlog_full");
  });

  it("takes a raw body with Sluice-* headers, as a queue send does", async () => {
    const [queue] = await queues(1);
    const topic = queueName("t");
    await putTopic(topic, [{ queue }]);
    const response = await call("POST", `/v1/topics/${topic}/messages`, {
      body: "plain text",
      headers: { "Content-Type": "text/plain", "Sluice-Key": "raw" },
    });
    expect(response.status).toBe(201);
    expect(await receive(queue)).toMatchObject([{ body: "plain text", key: "raw" }]);
  });

  it("answers 404 for a topic that does not exist", async () => {
    await expectProblem(await publish(queueName("t"), { body: 1 }), 404, "topic_not_found");
  });
});

describe("a deleted queue's subscriptions", () => {
  it("are dropped with the queue: publishes go to the others, and the topic no longer lists it", async () => {
    const [kept, deleted] = await queues(2);
    const topic = queueName("t");
    await putTopic(topic, [{ queue: kept }, { queue: deleted }]);
    expect((await call("DELETE", `/v1/queues/${deleted}`)).status).toBe(204);

    // Published at once, while this isolate's copy of the topic still lists the queue.
    const response = await publish(topic, { body: "after" });
    expect(response.status).toBe(201);
    expect(
      (await response.json<{ deliveries: { queue: string }[] }>()).deliveries.map((d) => d.queue),
    ).toEqual([kept]);
    expect((await stats(kept)).ready).toBe(1);
    expect((await ok("GET", `/v1/topics/${topic}`)).subscriptions).toEqual([
      { queue: kept, filter: null },
    ]);
    // A queue made again under the name is not subscribed.
    await createQueue(deleted);
    await publish(topic, { body: "later" });
    expect((await stats(deleted)).ready).toBe(0);
  });
});

describe("access", () => {
  it("lets a key publish with produce on the topic's pattern, not on the queues", async () => {
    const [queue] = await queues(1);
    const topic = queueName("orders");
    await putTopic(topic, [{ queue }]);
    const publisher = await keyFor(["produce"], ["nothing-here"], ["orders-*"]);
    expect((await publish(topic, { body: 1 }, publisher)).status).toBe(201);

    const outsider = await keyFor(["produce"], ["*"], ["billing-*"]);
    await expectProblem(await publish(topic, { body: 1 }, outsider), 403, "forbidden");
    const consumer = await keyFor(["consume"], ["*"], ["*"]);
    await expectProblem(await publish(topic, { body: 1 }, consumer), 403, "forbidden");
  });

  it("needs admin on the topic and on every queue it subscribes", async () => {
    const [mine, theirs] = await queues(2);
    const topic = queueName("t");
    const admin = await keyFor(["admin"], [mine], ["*"]);
    await expectProblem(
      await call("PUT", `/v1/topics/${topic}`, {
        json: { subscriptions: [{ queue: mine }, { queue: theirs }] },
        token: admin,
      }),
      403,
      "forbidden",
    );
    const response = await call("PUT", `/v1/topics/${topic}`, {
      json: { subscriptions: [{ queue: mine }] },
      token: admin,
    });
    expect(response.status).toBe(201);
  });
});

describe("topic metrics", () => {
  it("counts published, delivered per subscription and filtered out", async () => {
    const [a, b] = await queues(2);
    const topic = queueName("t");
    await putTopic(topic, [{ queue: a }, { queue: b, filter: { kind: "x" } }]);
    await publish(topic, { messages: [{ body: 1 }, { body: 2, headers: { kind: "x" } }] });
    const text = await (await call("GET", "/metrics")).text();
    expect(text).toContain(`sluice_topic_published_total{topic="${topic}"} 2`);
    expect(text).toContain(`sluice_topic_delivered_total{topic="${topic}",queue="${a}"} 2`);
    expect(text).toContain(`sluice_topic_delivered_total{topic="${topic}",queue="${b}"} 1`);
    expect(text).toContain(`sluice_topic_filtered_total{topic="${topic}",queue="${b}"} 1`);
  });
});
