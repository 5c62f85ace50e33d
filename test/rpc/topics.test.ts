/** Topics and schedules through the service-binding door, with the key its props name. */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SluiceRpc } from "../../worker/doors/rpc.ts";
import { createQueue, ok, queueName, receive } from "../worker/api.ts";

type Binding = Service<SluiceRpc>;

async function bindAs(scopes: string[], queues: string[], topics: string[]): Promise<Binding> {
  const key = await ok("POST", "/v1/keys", { json: { name: "bound", scopes, queues, topics } });
  const entrypoints = exports as unknown as {
    SluiceRpc: (options: { props: object }) => Binding;
  };
  return entrypoints.SluiceRpc({ props: { keyId: key.id } });
}

describe("topics over RPC", () => {
  it("publishes with produce on the topic's pattern, and lists and reads the topic", async () => {
    const [a, b] = [queueName(), queueName()];
    await createQueue(a);
    await createQueue(b);
    const topic = queueName("events");
    await ok("PUT", `/v1/topics/${topic}`, {
      json: { subscriptions: [{ queue: a }, { queue: b, filter: { kind: "x" } }] },
    });
    const binding = await bindAs(["produce"], ["none"], ["events-*"]);

    const published = await binding.publish(topic, { body: { n: 1 }, dedupId: "d1" });
    expect(published).toMatchObject({
      ok: true,
      backpressure: false,
      deliveries: [
        { queue: a, messages: [{ index: 0, duplicate: false }], failed: [], filtered: [] },
        { queue: b, messages: [], failed: [], filtered: [0] },
      ],
    });
    const again = await binding.publishBatch(topic, [{ body: { n: 1 }, dedupId: "d1" }]);
    expect(again).toMatchObject({
      ok: true,
      deliveries: [{ messages: [{ duplicate: true }] }, {}],
    });
    expect(await receive(a, { max: 10 })).toHaveLength(1);

    expect(await binding.getTopic(topic)).toMatchObject({ ok: true, topic: { name: topic } });
    const listed = await binding.listTopics();
    expect(listed.ok && listed.topics.map((t) => t.name)).toEqual([topic]);
  });

  it("refuses a topic outside the key's patterns and a bad topic name", async () => {
    const binding = await bindAs(["produce"], ["*"], ["mine-*"]);
    expect(await binding.publish("theirs", { body: 1 })).toMatchObject({
      ok: false,
      status: 403,
      code: "forbidden",
    });
    expect(await binding.publish("no spaces", { body: 1 })).toMatchObject({
      ok: false,
      status: 400,
      code: "invalid_topic_name",
    });
  });
});

describe("schedules over RPC", () => {
  it("creates, reads, pauses, resumes, lists and deletes with admin on the queue", async () => {
    const queue = queueName("jobs");
    await createQueue(queue);
    const binding = await bindAs(["admin"], ["jobs-*"], []);
    const name = queueName("tick");
    const created = await binding.putSchedule(name, {
      queue,
      message: { body: "tick" },
      every: 60,
    });
    expect(created).toMatchObject({
      ok: true,
      created: true,
      schedule: { name, queue, every: 60 },
    });
    expect(await binding.pauseSchedule(name)).toMatchObject({
      ok: true,
      schedule: { paused: true },
    });
    expect(await binding.resumeSchedule(name)).toMatchObject({
      ok: true,
      schedule: { paused: false },
    });
    const listed = await binding.listSchedules();
    expect(listed.ok && listed.schedules.map((s) => s.name)).toEqual([name]);
    expect(await binding.getSchedule(name)).toMatchObject({ ok: true, schedule: { name } });
    expect(await binding.deleteSchedule(name)).toEqual({ ok: true });
    expect(await binding.getSchedule(name)).toMatchObject({
      ok: false,
      status: 404,
      code: "schedule_not_found",
    });
    expect(
      await binding.putSchedule(name, { queue, message: { body: 1 }, cron: "not cron" }),
    ).toMatchObject({ ok: false, status: 400, code: "invalid_request" });
  });
});
