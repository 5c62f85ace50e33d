import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

/** A fresh catalog per test (production has one, named "catalog"), with three queues. */
async function catalog() {
  const stub = env.CATALOG.getByName(`catalog-${crypto.randomUUID()}`);
  for (const queue of ["billing", "audit", "email"]) await stub.putQueue(queue, {});
  return stub;
}

describe("topics in the catalog", () => {
  it("creates a topic with its subscriptions in order, at version 1", async () => {
    const stub = await catalog();
    const outcome = await stub.putTopic("orders", {
      subscriptions: [{ queue: "billing", filter: { region: ["eu"] } }, { queue: "audit" }],
    });
    expect(outcome).toMatchObject({
      ok: true,
      created: true,
      topic: {
        name: "orders",
        version: 1,
        subscriptions: [
          { queue: "billing", filter: { region: ["eu"] } },
          { queue: "audit", filter: null },
        ],
      },
    });
    if (!outcome.ok) return;
    expect(await stub.getTopic("orders")).toEqual(outcome.topic);
    expect(await stub.listTopics()).toEqual([outcome.topic]);
  });

  it("replaces the subscriptions whole; a PUT that changes nothing keeps the version", async () => {
    const stub = await catalog();
    await stub.putTopic("orders", { subscriptions: [{ queue: "billing" }, { queue: "audit" }] });
    const same = await stub.putTopic("orders", {
      subscriptions: [{ queue: "billing" }, { queue: "audit" }],
    });
    expect(same).toMatchObject({ ok: true, created: false, topic: { version: 1 } });
    const changed = await stub.putTopic("orders", { subscriptions: [{ queue: "email" }] });
    expect(changed).toMatchObject({
      ok: true,
      created: false,
      topic: { version: 2, subscriptions: [{ queue: "email", filter: null }] },
    });
  });

  it("refuses a subscription to a queue that does not exist, storing nothing", async () => {
    const stub = await catalog();
    const outcome = await stub.putTopic("orders", {
      subscriptions: [{ queue: "billing" }, { queue: "nope" }],
    });
    expect(outcome).toMatchObject({ ok: false, code: "queue_not_found" });
    expect(await stub.getTopic("orders")).toBeNull();
  });

  it("refuses an invalid filter, a repeated queue and a bad name", async () => {
    const stub = await catalog();
    const refusals = await Promise.all([
      stub.putTopic("orders", { subscriptions: [{ queue: "billing", filter: {} }] }),
      stub.putTopic("orders", { subscriptions: [{ queue: "billing" }, { queue: "billing" }] }),
      stub.putTopic("bad/name", { subscriptions: [] }),
    ]);
    for (const refusal of refusals)
      expect(refusal).toMatchObject({ ok: false, code: "invalid_topic" });
    expect(await stub.listTopics()).toEqual([]);
  });

  it("drops a deleted queue's subscriptions and bumps each topic it left", async () => {
    const stub = await catalog();
    await stub.putTopic("orders", { subscriptions: [{ queue: "billing" }, { queue: "audit" }] });
    await stub.putTopic("refunds", { subscriptions: [{ queue: "billing" }] });
    await stub.putTopic("signups", { subscriptions: [{ queue: "email" }] });
    expect(await stub.deleteQueue("billing")).toBe(true);

    const topics = await stub.listTopics();
    expect(
      topics.map(({ name, version, subscriptions }) => ({ name, version, subscriptions })),
    ).toEqual([
      { name: "orders", version: 2, subscriptions: [{ queue: "audit", filter: null }] },
      { name: "refunds", version: 2, subscriptions: [] },
      { name: "signups", version: 1, subscriptions: [{ queue: "email", filter: null }] },
    ]);
    // A queue made again under the name starts unsubscribed.
    await stub.putQueue("billing", {});
    expect((await stub.getTopic("refunds"))?.subscriptions).toEqual([]);
  });

  it("deletes a topic with its subscriptions, and keeps topics across a restart", async () => {
    const stub = await catalog();
    await stub.putTopic("orders", { subscriptions: [{ queue: "billing" }] });
    await stub.putTopic("refunds", { subscriptions: [{ queue: "audit" }] });
    expect(await stub.deleteTopic("orders")).toBe(true);
    expect(await stub.deleteTopic("orders")).toBe(false);
    await evictDurableObject(stub);
    expect((await stub.listTopics()).map((topic) => topic.name)).toEqual(["refunds"]);
  });
});
