/** The SDK's topics and schedules: publish with retries that never store a copy twice. */
import { describe, expect, it } from "vitest";
import { client, queueName, scriptedFetch } from "./support.ts";

async function topicWith(count: number) {
  const sluice = client();
  const queues = Array.from({ length: count }, () => queueName("sdk"));
  for (const queue of queues) await sluice.putQueue(queue);
  const topic = queueName("t");
  const created = await sluice.putTopic(topic, {
    subscriptions: queues.map((queue) => ({ queue })),
  });
  expect(created).toMatchObject({ created: true, name: topic });
  return { topic, queues };
}

describe("sluice.publish", () => {
  it("stores one copy per subscribed queue, each with its own id", async () => {
    const { topic, queues } = await topicWith(2);
    const result = await client().publish(
      topic,
      { hello: "world" },
      { headers: { kind: "greeting" } },
    );
    expect(result.deliveries.map((delivery) => [delivery.queue, delivery.messages.length])).toEqual(
      [
        [queues[0], 1],
        [queues[1], 1],
      ],
    );
    for (const queue of queues) {
      expect(await client().receive(queue)).toMatchObject([
        { body: { hello: "world" }, headers: { kind: "greeting" } },
      ]);
    }
  });

  it("retries a lost answer with the same dedupId, so no queue stores a second copy", async () => {
    const { topic, queues } = await topicWith(2);
    const { fetch, requests } = scriptedFetch(["drop", "network"]);
    const result = await client({ fetch }).publish(topic, "once");
    expect(requests).toHaveLength(3);
    const dedupIds = new Set(requests.map((request) => request.body.messages[0].dedupId));
    expect(dedupIds.size).toBe(1);
    expect(result.deliveries.every((delivery) => delivery.messages[0].duplicate)).toBe(true);
    for (const queue of queues) expect((await client().getQueue(queue)).stats.sent).toBe(1);
  });

  it("resolves with the refusals of queues still full after the retries, the others stored", async () => {
    const sluice = client({ retry: { attempts: 2 } });
    const { topic, queues } = await topicWith(2);
    await sluice.putQueue(queues[1], { backlog: { soft: 1, hard: 1 } });
    await sluice.send(queues[1], "already here");
    const result = await sluice.publish(topic, "fan out");
    expect(result.deliveries.map((delivery) => [delivery.queue, delivery.messages.length])).toEqual(
      [
        [queues[0], 1],
        [queues[1], 0],
      ],
    );
    expect(result.deliveries[1].failed[0].code).toBe("backlog_full");
    expect((await sluice.getQueue(queues[0])).stats.sent).toBe(1);
  });
});

describe("schedules from the SDK", () => {
  it("creates, reads, pauses, resumes, lists and deletes", async () => {
    const sluice = client();
    const queue = queueName("sdk");
    await sluice.putQueue(queue);
    const name = queueName("nightly");
    const created = await sluice.putSchedule(name, {
      queue,
      message: { body: { report: "daily" } },
      cron: "0 2 * * *",
      timezone: "Asia/Tokyo",
    });
    expect(created).toMatchObject({ created: true, queue, timezone: "Asia/Tokyo" });
    expect(created.upcoming).toHaveLength(5);
    expect((await sluice.pauseSchedule(name)).paused).toBe(true);
    expect((await sluice.resumeSchedule(name)).paused).toBe(false);
    expect((await sluice.listSchedules()).map((schedule) => schedule.name)).toContain(name);
    expect((await sluice.getSchedule(name)).message).toMatchObject({ body: { report: "daily" } });
    await sluice.deleteSchedule(name);
    await expect(sluice.getSchedule(name)).rejects.toMatchObject({ code: "schedule_not_found" });
  });
});
