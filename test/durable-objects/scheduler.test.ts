/**
 * The scheduler object on a clock the test moves by hand, with the Worker's delivery replaced
 * by one that records each fire (test/worker/schedules.test.ts sends for real). The clock
 * starts in 2040, so the alarms the object sets never fire by the real clock.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { FireOutcome, ScheduleFire, ScheduleTiming } from "../../core/schedule.ts";
import type { Scheduler } from "../../durable-objects/scheduler.ts";

const START = Date.UTC(2040, 0, 1);
const MINUTE = 60_000;
const iso = (time: number) => new Date(time).toISOString();

async function openScheduler(start = START) {
  const stub = env.SCHEDULER.getByName(`scheduler-${crypto.randomUUID()}`);
  let now = start;
  const fires: ScheduleFire[] = [];
  let answer = (): FireOutcome => ({ ok: true, id: `m${fires.length}`, duplicate: false });
  const install = () =>
    runInDurableObject(stub, (instance: Scheduler) => {
      instance.clock = () => now;
      instance.delivery = {
        deliver: async (fire) => {
          fires.push(fire);
          return answer();
        },
      };
    });
  await install();
  return {
    stub,
    fires,
    fireTimes: () => fires.map((fire) => iso(fire.fireAt)),
    setClock(time: number) {
      now = time;
    },
    answer(next: () => FireOutcome) {
      answer = next;
    },
    runAlarm: () => runDurableObjectAlarm(stub),
    alarmAt: () => runInDurableObject(stub, (_, state) => state.storage.getAlarm()),
    async restart() {
      await evictDurableObject(stub);
      await install();
    },
    put: (name: string, timing: ScheduleTiming, paused = false) =>
      stub.put(name, { queue: "jobs", message: '{"body":"tick"}', timing, paused }),
  };
}

describe("schedules fire on time", () => {
  it("fires an interval schedule at each slot, and not before", async () => {
    const s = await openScheduler();
    const put = await s.put("tick", { every: 60 });
    expect(put).toMatchObject({
      ok: true,
      created: true,
      schedule: { nextFireAt: START + MINUTE },
    });
    expect(await s.alarmAt()).toBe(START + MINUTE);

    s.setClock(START + MINUTE - 1);
    await s.runAlarm();
    expect(s.fires).toEqual([]);

    s.setClock(START + MINUTE);
    await s.runAlarm();
    expect(s.fires).toEqual([
      { schedule: "tick", queue: "jobs", message: '{"body":"tick"}', fireAt: START + MINUTE },
    ]);
    expect(await s.alarmAt()).toBe(START + 2 * MINUTE);
    expect(await s.stub.get("tick")).toMatchObject({
      lastFireAt: START + MINUTE,
      nextFireAt: START + 2 * MINUTE,
      lastOutcome: { ok: true, id: "m1" },
    });
  });

  it("lists the next 5 fire times of a cron schedule in its timezone", async () => {
    const s = await openScheduler(Date.UTC(2040, 0, 2, 12));
    const put = await s.put("weekdays", { cron: "0 9 * * 1-5", timezone: "America/New_York" });
    if (!put.ok) throw new Error(put.detail);
    // 2040-01-02 is a Monday, 07:00 in New York; 09:00 there is 14:00 UTC in winter.
    expect(put.schedule.upcoming.map(iso)).toEqual([
      "2040-01-02T14:00:00.000Z",
      "2040-01-03T14:00:00.000Z",
      "2040-01-04T14:00:00.000Z",
      "2040-01-05T14:00:00.000Z",
      "2040-01-06T14:00:00.000Z",
    ]);
    expect(put.schedule.nextFireAt).toBe(Date.UTC(2040, 0, 2, 14));
  });

  it("keeps to start and end", async () => {
    const s = await openScheduler();
    const put = await s.put("window", {
      every: 60,
      start: START + 10 * MINUTE,
      end: START + 12 * MINUTE + 1,
    });
    if (!put.ok) throw new Error(put.detail);
    expect(put.schedule.upcoming).toEqual([
      START + 10 * MINUTE,
      START + 11 * MINUTE,
      START + 12 * MINUTE,
    ]);
    for (const minute of [10, 11, 12]) {
      s.setClock(START + minute * MINUTE);
      await s.runAlarm();
    }
    expect(s.fires.map((fire) => fire.fireAt)).toEqual(put.schedule.upcoming);
    expect(await s.alarmAt()).toBeNull();
    expect(await s.stub.get("window")).toMatchObject({ nextFireAt: null, upcoming: [] });
  });

  it("refuses a timing that is not one: both kinds, a bad cron, a bad timezone", async () => {
    const s = await openScheduler();
    const refused = await Promise.all([
      s.put("a", { every: 60, cron: "* * * * *" }),
      s.put("b", {}),
      s.put("c", { cron: "* * * * * *" }),
      s.put("d", { cron: "61 * * * *" }),
      s.put("e", { cron: "* * * * *", timezone: "Mars/Olympus" }),
      s.put("f", { every: 60, timezone: "UTC" }),
      s.put("g", { every: 60, start: START, end: START }),
      s.put("h", { cron: "0 0 31 2 *" }),
      s.put("i", { every: 60, start: 8.64e15 }),
    ]);
    for (const outcome of refused)
      expect(outcome).toMatchObject({ ok: false, code: "invalid_schedule" });
    expect(await s.stub.list()).toEqual([]);
  });
});

describe("daylight saving, as cron does (Europe/Berlin, 2040)", () => {
  it("fires a time the spring-forward skips once, when the clock passes it", async () => {
    const s = await openScheduler(Date.UTC(2040, 2, 23, 12));
    await s.put("nightly", { cron: "30 2 * * *", timezone: "Europe/Berlin" });
    for (const at of ["2040-03-24T01:30:00Z", "2040-03-25T01:00:00Z", "2040-03-26T00:30:00Z"]) {
      s.setClock(Date.parse(at));
      await s.runAlarm();
    }
    // 02:30 CET, then 03:00 CEST on the night 02:00 becomes 03:00, then 02:30 CEST.
    expect(s.fireTimes()).toEqual([
      "2040-03-24T01:30:00.000Z",
      "2040-03-25T01:00:00.000Z",
      "2040-03-26T00:30:00.000Z",
    ]);
  });

  it("fires a time the fall-back repeats once, the first time", async () => {
    const s = await openScheduler(Date.UTC(2040, 9, 27, 12));
    await s.put("nightly", { cron: "30 2 * * *", timezone: "Europe/Berlin" });
    expect(await s.alarmAt()).toBe(Date.parse("2040-10-28T00:30:00Z"));
    // 02:30 CEST happens; an hour later 02:30 CET happens again and is not fired.
    s.setClock(Date.parse("2040-10-28T00:30:00Z"));
    await s.runAlarm();
    s.setClock(Date.parse("2040-10-28T01:30:00Z"));
    await s.runAlarm();
    expect(s.fireTimes()).toEqual(["2040-10-28T00:30:00.000Z"]);
    expect(await s.alarmAt()).toBe(Date.parse("2040-10-29T01:30:00Z"));
  });
});

describe("exactly once per slot", () => {
  it("does not fire a slot again after a restart", async () => {
    const s = await openScheduler();
    await s.put("tick", { every: 60 });
    s.setClock(START + MINUTE);
    await s.runAlarm();
    await s.restart();
    await s.runAlarm();
    expect(s.fireTimes()).toEqual([iso(START + MINUTE)]);
    expect(await s.alarmAt()).toBe(START + 2 * MINUTE);
  });

  it("sends one fire, the latest, for every slot missed while nothing ran", async () => {
    const s = await openScheduler();
    await s.put("tick", { every: 60 });
    await s.restart();
    s.setClock(START + 10 * MINUTE + 30_000);
    await s.runAlarm();
    expect(s.fireTimes()).toEqual([iso(START + 10 * MINUTE)]);
    expect(await s.alarmAt()).toBe(START + 11 * MINUTE);
  });

  it("tries a fire the queue refused for now again, and moves on after one it cannot take", async () => {
    const s = await openScheduler();
    await s.put("tick", { every: 60 });
    s.answer(() => ({ ok: false, code: "backlog_full", detail: "full", retry: true }));
    s.setClock(START + MINUTE);
    await s.runAlarm();
    expect(await s.alarmAt()).toBe(START + MINUTE + 30_000);
    expect(await s.stub.get("tick")).toMatchObject({
      nextFireAt: START + MINUTE,
      lastFireAt: null,
      lastOutcome: { ok: false, code: "backlog_full" },
    });

    s.answer(() => ({ ok: false, code: "queue_not_found", detail: "gone", retry: false }));
    s.setClock(START + MINUTE + 30_000);
    await s.runAlarm();
    // The same slot was tried again; a refusal that will not pass is recorded and skipped.
    expect(s.fireTimes()).toEqual([iso(START + MINUTE), iso(START + MINUTE)]);
    expect(await s.stub.get("tick")).toMatchObject({
      nextFireAt: START + 2 * MINUTE,
      lastOutcome: { ok: false, code: "queue_not_found" },
    });
  });
});

describe("pause and resume", () => {
  it("sends nothing while paused and does not catch up on resume", async () => {
    const s = await openScheduler();
    await s.put("tick", { every: 60 });
    await s.stub.setPaused("tick", true);
    expect(await s.alarmAt()).toBeNull();
    s.setClock(START + 5 * MINUTE + 1);
    await s.runAlarm();
    const resumed = await s.stub.setPaused("tick", false);
    expect(resumed).toMatchObject({ paused: false, nextFireAt: START + 6 * MINUTE });
    expect(s.fires).toEqual([]);
  });

  it("deletes a schedule and its alarm", async () => {
    const s = await openScheduler();
    await s.put("tick", { every: 60 });
    expect(await s.stub.delete("tick")).toBe(true);
    expect(await s.stub.delete("tick")).toBe(false);
    expect(await s.alarmAt()).toBeNull();
  });
});
