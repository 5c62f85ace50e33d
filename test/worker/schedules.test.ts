/**
 * Schedules through the HTTP API, fired by the scheduler object's alarm on a clock the test
 * moves by hand (it starts in 2040, so no alarm fires by the real clock), and sent for real
 * through the Worker's ScheduleDelivery entrypoint into a queue.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Scheduler } from "../../durable-objects/scheduler.ts";
import { call, createKey, createQueue, expectProblem, ok, queueName, send, stats } from "./api.ts";

const START = Date.UTC(2040, 5, 1);
const MINUTE = 60_000;
const scheduler = () => env.SCHEDULER.getByName("scheduler");
let now = START;

const installClock = () =>
  runInDurableObject(scheduler(), (instance: Scheduler) => {
    instance.clock = () => now;
  });

beforeEach(async () => {
  now = START;
  await installClock();
});

async function fireAt(time: number) {
  now = time;
  await runDurableObjectAlarm(scheduler());
}

async function everyMinute(queue: string, extra: Record<string, unknown> = {}) {
  const name = queueName("s");
  const schedule = await ok("PUT", `/v1/schedules/${name}`, {
    json: {
      queue,
      message: { body: { job: name }, key: "k", headers: { from: "cron" } },
      every: 60,
      ...extra,
    },
  });
  return { name, schedule };
}

describe("schedule definitions", () => {
  it("creates (201) a cron schedule with its timezone and next 5 fire times, and replaces it (200)", async () => {
    const queue = queueName();
    await createQueue(queue);
    const name = queueName("s");
    const created = await call("PUT", `/v1/schedules/${name}`, {
      json: { queue, message: { body: "report" }, cron: "0 9 * * 1", timezone: "Europe/Paris" },
    });
    expect(created.status).toBe(201);
    const schedule = await created.json<{
      upcoming: number[];
      timezone: string;
      paused: boolean;
    }>();
    expect(schedule).toMatchObject({ timezone: "Europe/Paris", paused: false });
    // Mondays at 09:00 in Paris: 07:00 UTC in summer.
    expect(schedule.upcoming.map((t) => new Date(t).toISOString())).toEqual([
      "2040-06-04T07:00:00.000Z",
      "2040-06-11T07:00:00.000Z",
      "2040-06-18T07:00:00.000Z",
      "2040-06-25T07:00:00.000Z",
      "2040-07-02T07:00:00.000Z",
    ]);
    const replaced = await call("PUT", `/v1/schedules/${name}`, {
      json: { queue, message: { body: "report" }, every: 3600 },
    });
    expect(replaced.status).toBe(200);
    expect(await ok("GET", `/v1/schedules/${name}`)).toMatchObject({
      every: 3600,
      nextFireAt: START + 3_600_000,
    });
    const { schedules } = await ok("GET", "/v1/schedules");
    expect(schedules.map((s: { name: string }) => s.name)).toContain(name);
  });

  const invalid: [name: string, body: Record<string, unknown>, code: string][] = [
    ["both cron and every", { cron: "* * * * *", every: 60 }, "invalid_request"],
    ["neither cron nor every", {}, "invalid_request"],
    ["a 6-field cron", { cron: "0 * * * * *" }, "invalid_request"],
    ["an unknown timezone", { cron: "* * * * *", timezone: "Atlantis/Capital" }, "invalid_request"],
    ["an interval under a second", { every: 0 }, "invalid_request"],
    ["end before start", { every: 60, start: START, end: START - 1 }, "invalid_request"],
  ];
  it.each(invalid)("refuses %s with 400", async (_name, timing, code) => {
    const queue = queueName();
    await createQueue(queue);
    const name = queueName("s");
    await expectProblem(
      await call("PUT", `/v1/schedules/${name}`, {
        json: { queue, message: { body: 1 }, ...timing },
      }),
      400,
      code,
    );
    await expectProblem(await call("GET", `/v1/schedules/${name}`), 404, "schedule_not_found");
  });

  it("refuses a message with a dedupId (each fire sets its own) and a queue that does not exist", async () => {
    const queue = queueName();
    await createQueue(queue);
    await expectProblem(
      await call("PUT", `/v1/schedules/${queueName("s")}`, {
        json: { queue, message: { body: 1, dedupId: "mine" }, every: 60 },
      }),
      400,
      "invalid_request",
    );
    await expectProblem(
      await call("PUT", `/v1/schedules/${queueName("s")}`, {
        json: { queue: queueName("missing"), message: { body: 1 }, every: 60 },
      }),
      404,
      "queue_not_found",
    );
  });
});

describe("firing", () => {
  it("sends the message on time with dedupId schedule:<name>:<fire time>", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { name } = await everyMinute(queue);
    await fireAt(START + MINUTE - 1);
    expect((await stats(queue)).ready).toBe(0);
    await fireAt(START + MINUTE);

    const [message] = (await ok("GET", `/v1/queues/${queue}/messages`)).messages;
    expect(message).toMatchObject({ body: { job: name }, key: "k", headers: { from: "cron" } });
    // The fire's dedupId: sending it again is recognised as the same message.
    const [again] = await send(queue, [
      { body: "x", key: "k", dedupId: `schedule:${name}:${START + MINUTE}` },
    ]);
    expect(again).toMatchObject({ id: message.id, duplicate: true });
    expect(await ok("GET", `/v1/schedules/${name}`)).toMatchObject({
      lastFireAt: START + MINUTE,
      nextFireAt: START + 2 * MINUTE,
      lastOutcome: { ok: true, id: message.id, duplicate: false },
    });
  });

  it("sends each slot once across a restart, even when the object forgot it had sent", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { name } = await everyMinute(queue);
    await fireAt(START + MINUTE);
    await evictDurableObject(scheduler());
    await installClock();
    await fireAt(START + MINUTE);
    expect((await stats(queue)).sent).toBe(1);

    // An eviction between the send and the object's write: the slot is sent again, and the
    // queue recognises it.
    await runInDurableObject(scheduler(), (_, state) => {
      state.storage.sql.exec(
        "UPDATE schedules SET next_fire_at = ?, attempt_at = ? WHERE name = ?",
        START + MINUTE,
        START + MINUTE,
        name,
      );
    });
    await fireAt(START + MINUTE);
    expect((await stats(queue)).sent).toBe(1);
    expect(await ok("GET", `/v1/schedules/${name}`)).toMatchObject({
      lastOutcome: { ok: true, duplicate: true },
    });
  });

  it("catches up a run of missed slots with one message", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { name } = await everyMinute(queue);
    await fireAt(START + 30 * MINUTE + 5_000);
    expect((await stats(queue)).sent).toBe(1);
    expect(await ok("GET", `/v1/schedules/${name}`)).toMatchObject({
      lastFireAt: START + 30 * MINUTE,
      nextFireAt: START + 31 * MINUTE,
    });
  });

  it("pauses, resumes without catching up, and deletes", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { name } = await everyMinute(queue);
    expect(await ok("POST", `/v1/schedules/${name}/pause`)).toMatchObject({
      paused: true,
      nextFireAt: null,
    });
    await fireAt(START + 5 * MINUTE);
    now = START + 5 * MINUTE + 1;
    expect(await ok("POST", `/v1/schedules/${name}/resume`)).toMatchObject({
      paused: false,
      nextFireAt: START + 6 * MINUTE,
    });
    expect((await stats(queue)).sent).toBe(0);
    expect((await call("DELETE", `/v1/schedules/${name}`)).status).toBe(204);
    await expectProblem(await call("DELETE", `/v1/schedules/${name}`), 404, "schedule_not_found");
  });
});

describe("access", () => {
  it("needs admin on the queue to change a schedule, and any scope on it to read one", async () => {
    const queue = queueName("acc");
    await createQueue(queue);
    const { name } = await everyMinute(queue);
    const reader = await createKey(["consume"], ["acc-*"]);
    expect(await ok("GET", `/v1/schedules/${name}`, { token: reader })).toMatchObject({ queue });
    await expectProblem(
      await call("POST", `/v1/schedules/${name}/pause`, { token: reader }),
      403,
      "forbidden",
    );
    await expectProblem(
      await call("PUT", `/v1/schedules/${queueName("s")}`, {
        json: { queue, message: { body: 1 }, every: 60 },
        token: reader,
      }),
      403,
      "forbidden",
    );
    const outsider = await createKey(["admin"], ["other-*"]);
    await expectProblem(
      await call("GET", `/v1/schedules/${name}`, { token: outsider }),
      403,
      "forbidden",
    );
    const { schedules } = await ok("GET", "/v1/schedules", { token: outsider });
    expect(schedules).toEqual([]);
  });
});
