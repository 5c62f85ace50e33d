/**
 * Redrive jobs in the dead-letter object, on a clock the test moves by hand and with the
 * Worker's delivery replaced by a target that keeps what it is sent by dedupId, as a queue
 * within its dedup window does.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadMessage } from "../../core/contract.ts";
import {
  type CanaryFate,
  type Landing,
  type MoveOutcome,
  type NewRedriveJob,
  type RedriveDelivery,
  redriveDedupId,
} from "../../core/redrive.ts";
import { RETRY_MS } from "../../durable-objects/dead-letters/redrive-jobs.ts";
import type { DeadLetters } from "../../durable-objects/dead-letters.ts";

const START = 1_000_000;

function dead(n: number, reason: string): DeadMessage {
  return {
    id: `msg-${n}`,
    queue: "orders",
    partition: 0,
    seq: n,
    body: JSON.stringify({ n }),
    contentType: "application/json",
    headers: {},
    key: `k${n % 3}`,
    priority: 0,
    sentAt: 1_000 + n,
    attempts: 1,
    failures: [{ at: 2_000 + n, attempt: 1, reason, by: "nack" }],
    diedAt: 10_000 + n,
  };
}

/** A target queue: one landing per dedupId however often it is sent (its dedup window). */
class FakeTarget implements RedriveDelivery {
  landings = new Map<string, Landing>();
  sends = 0;
  /** Moves whose answer is lost after the target stored them (the object stops, say). */
  loseAnswers = 0;
  refusal: MoveOutcome | null = null;
  fate: (landing: Landing) => CanaryFate = () => ({ state: "pending" });

  async move(jobId: string, _target: string, messages: DeadMessage[]): Promise<MoveOutcome> {
    this.sends++;
    if (this.refusal) return this.refusal;
    const landed = messages.map((message) => {
      const dedupId = redriveDedupId(jobId, message.id);
      const landing = this.landings.get(dedupId) ?? {
        source: message.id,
        id: `moved-${message.id}`,
        partition: 0,
        seq: this.landings.size + 1,
      };
      this.landings.set(dedupId, landing);
      return landing;
    });
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw new Error("the answer was lost");
    }
    return { ok: true, landed };
  }

  async fates(_target: string, landings: Landing[]): Promise<CanaryFate[]> {
    return landings.map((landing) => this.fate(landing));
  }
}

/**
 * A dead-letter object for queue `orders-…` with 5 timeouts and 2 declines, on a fake clock; its
 * jobs send back to the same queue unless told otherwise.
 */
async function open(target = new FakeTarget()) {
  const queue = `orders-${crypto.randomUUID()}`;
  const stub = env.DEAD_LETTERS.getByName(queue);
  let now = START;
  const install = () =>
    runInDurableObject(stub, (instance: DeadLetters) => {
      instance.clock = () => now;
      instance.delivery = target;
    });
  await install();
  await stub.accept([
    ...[1, 2, 3, 4, 5].map((n) => dead(n, `timeout after ${n * 100} ms`)),
    ...[6, 7].map((n) => dead(n, `card declined: 'reason ${n}'`)),
  ]);
  return {
    stub,
    target,
    /** Moves the clock on and runs the alarm, as the runtime would when it falls due. */
    async step(ms = 60_000) {
      now += ms;
      await install();
      return runDurableObjectAlarm(stub);
    },
    async restart() {
      await evictDurableObject(stub);
      await install();
    },
    start: (job: Partial<NewRedriveJob> = {}) =>
      stub.createJob({
        filter: { cluster: "timeout after <n> ms" },
        rate: 2,
        target: queue,
        createdBy: "key_test",
        ...job,
      }),
  };
}

const ids = (messages: DeadMessage[]) => messages.map((m) => m.id).sort();

describe("redrive jobs", () => {
  it("moves what the filter matches at its rate, a step per alarm, and ends done", async () => {
    const { stub, target, step, start } = await open();
    const job = await start();
    expect(job).toMatchObject({ state: "running", moved: 0, remaining: 5, canary: null });

    expect(await step()).toBe(true);
    expect(await stub.getJob(job.id)).toMatchObject({ state: "running", moved: 2, remaining: 3 });
    await step();
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ moved: 5, remaining: 0 });
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ state: "done", moved: 5, detail: null });
    expect(await step()).toBe(false); // no alarm is left set

    expect(target.landings.size).toBe(5);
    expect(ids((await stub.list({ limit: 10 })).messages)).toEqual(["msg-6", "msg-7"]);
    expect((await stub.clusters()).map((c) => c.count)).toEqual([2]);
  });

  it("moves each message once when an answer is lost and the object restarts mid-job", async () => {
    const { stub, target, step, restart, start } = await open();
    const job = await start({ rate: 2 });
    await step();
    target.loseAnswers = 1;
    await step(); // msg 3 and 4 reach the target, but the object never hears so
    expect(await stub.getJob(job.id)).toMatchObject({ moved: 2, remaining: 3 });
    expect((await stub.getJob(job.id))?.detail).toContain("did not answer");

    await restart();
    await step(RETRY_MS);
    await step();
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ state: "done", moved: 5, remaining: 0 });
    // Sent again with the same dedupIds: five landings, one per dead letter.
    expect([...target.landings.values()].map((l) => l.source).sort()).toEqual(
      ["msg-1", "msg-2", "msg-3", "msg-4", "msg-5"].sort(),
    );
    expect(target.sends).toBe(4);
    expect(await stub.count()).toBe(2);
  });

  it("moves a canary first and goes on once every canary message was acked", async () => {
    const { stub, target, step, start } = await open();
    const job = await start({ canary: 2, rate: 10 });
    expect(job).toMatchObject({ state: "canary", canary: { size: 2, moved: 0 } });
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({
      state: "canary",
      moved: 2,
      remaining: 3,
      canary: { size: 2, moved: 2, acked: 0, failed: 0 },
    });
    await step(); // both still pending at the target
    expect(await stub.getJob(job.id)).toMatchObject({ state: "canary", moved: 2 });
    expect((await stub.getJob(job.id))?.detail).toContain("waiting");

    target.fate = () => ({ state: "acked" });
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({
      state: "running",
      canary: { acked: 2, failed: 0 },
    });
    await step();
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ state: "done", moved: 5, remaining: 0 });
  });

  it("stops with canary_failed when a canary message fails again, moving nothing more", async () => {
    const { stub, target, step, start } = await open();
    const job = await start({ canary: 2, rate: 10 });
    await step();
    target.fate = (landing) =>
      landing.seq === 1 ? { state: "acked" } : { state: "failed", detail: "dead-lettered: boom" };
    await step();
    const stopped = await stub.getJob(job.id);
    expect(stopped).toMatchObject({
      state: "canary_failed",
      moved: 2,
      remaining: 3,
      failedAgain: 1,
      canary: { size: 2, moved: 2, acked: 1, failed: 1 },
    });
    expect(stopped?.detail).toMatch(
      /canary message moved-msg-\d \(dead letter msg-\d\) failed again at 'orders-[\w-]+': dead-lettered: boom/,
    );
    expect(await step()).toBe(false);
    expect(target.landings.size).toBe(2);
  });

  it("moves only the dead letters that died before it began", async () => {
    const { stub, step, start } = await open();
    const job = await start({ rate: 100 });
    // A moved message that dies again comes back as a new dead letter, later.
    await stub.accept([{ ...dead(8, "timeout after 1 ms"), diedAt: START + 1 }]);
    await step();
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ state: "done", moved: 5, remaining: 0 });
    expect(ids((await stub.list({ limit: 10, cluster: "timeout after <n> ms" })).messages)).toEqual(
      ["msg-8"],
    );
  });

  it("counts moved messages that died here again as failed again", async () => {
    const { stub, step, start } = await open();
    const job = await start({ rate: 100 });
    await step();
    await stub.accept([
      { ...dead(1, "timeout after 9 ms"), id: "moved-msg-1", diedAt: START + 90_000 },
    ]);
    expect(await stub.getJob(job.id)).toMatchObject({ moved: 5, failedAgain: 1 });
  });

  it("waits when the target refuses for now, and fails when it refuses for good", async () => {
    const { stub, target, step, start } = await open();
    const job = await start();
    target.refusal = { ok: false, code: "backlog_full", detail: "queue full", retry: true };
    await step();
    expect(await stub.getJob(job.id)).toMatchObject({ state: "running", moved: 0 });
    expect((await stub.getJob(job.id))?.detail).toContain("queue full");
    target.refusal = { ok: false, code: "queue_not_found", detail: "no queue", retry: false };
    await step(RETRY_MS);
    expect(await stub.getJob(job.id)).toMatchObject({ state: "failed", moved: 0, remaining: 5 });
    expect(await step()).toBe(false);
  });

  it("cancels a job: it moves nothing more, and an ended job stays as it ended", async () => {
    const { stub, target, step, start } = await open();
    const job = await start();
    await step();
    expect(await stub.cancelJob(job.id)).toMatchObject({ state: "cancelled", moved: 2 });
    expect(await step()).toBe(false);
    expect(target.landings.size).toBe(2);
    expect(await stub.cancelJob("job_unknown")).toBeNull();

    const other = await start({ filter: { key: "k0" }, rate: 100 });
    await step();
    await step();
    expect(await stub.getJob(other.id)).toMatchObject({ state: "done" });
    expect(await stub.cancelJob(other.id)).toMatchObject({ state: "done" });
    expect((await stub.listJobs()).map((j) => j.id)).toEqual([other.id, job.id]);
  });
});
