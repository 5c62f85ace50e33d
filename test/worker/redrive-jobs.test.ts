/**
 * Redrive jobs through the HTTP API, run by the dead-letter object's alarm on a clock the test
 * moves by hand, and sent for real through the Worker's RedriveDelivery entrypoint.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RedriveDelivery } from "../../core/redrive.ts";
import type { DeadLetters } from "../../durable-objects/dead-letters.ts";
import { RedriveJobSchema } from "../../worker/schemas.ts";
import { client } from "../client/support.ts";
import { bindingFor } from "../rpc/binding.ts";
import {
  call,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
} from "./api.ts";

/** A queue whose messages die at their first nack, holding `count` dead letters. */
async function queueWithDeadLetters(count: number, config: Record<string, unknown> = {}) {
  const name = queueName("jobs");
  await createQueue(name, { maxAttempts: 1, ...config });
  await send(
    name,
    Array.from({ length: count }, (_, n) => ({ body: { n }, key: `k${n}` })),
  );
  await nackAll(name, "payment service 503");
  return name;
}

async function nackAll(name: string, reason: string) {
  const leased = await receive(name, { max: 100 });
  await ok("POST", `/v1/queues/${name}/nack`, {
    json: { receipts: leased.map((m) => m.receipt), reason },
  });
  await settleDeadLetters(name);
  return leased;
}

/** The dead-letter object of `queue` on a clock that moves a minute a step. */
function runner(queue: string) {
  const stub = env.DEAD_LETTERS.getByName(queue);
  let offset = 0;
  let wrap: ((real: RedriveDelivery) => RedriveDelivery) | null = null;
  const install = () =>
    runInDurableObject(stub, (instance: DeadLetters) => {
      instance.clock = () => Date.now() + offset;
      if (wrap) instance.delivery = wrap(instance.delivery);
    });
  return {
    stub,
    async step() {
      offset += 60_000;
      await install();
      await runDurableObjectAlarm(stub);
    },
    /** The next steps' moves reach the queue, but their answers are lost. */
    async loseAnswers(lose: boolean) {
      wrap = lose
        ? (real) => ({
            move: async (...args) => {
              await real.move(...args);
              throw new Error("the object stopped before it heard");
            },
            fates: (...args) => real.fates(...args),
          })
        : null;
      await evictDurableObject(stub);
      await install();
    },
  };
}

async function job(queue: string, id: string) {
  return RedriveJobSchema.parse(await ok("GET", `/v1/queues/${queue}/dlq/redrive-jobs/${id}`));
}

async function bodiesIn(queue: string): Promise<number[]> {
  const messages = await receive(queue, { max: 100 });
  return messages.map((m) => m.body.n).sort((a, b) => a - b);
}

describe("redrive jobs over HTTP", () => {
  it("moves every dead letter exactly once across lost answers and restarts", async () => {
    const queue = await queueWithDeadLetters(5);
    const created = await call("POST", `/v1/queues/${queue}/dlq/redrive-jobs`, {
      json: { rate: 2 },
    });
    expect(created.status).toBe(201);
    const { id } = RedriveJobSchema.parse(await created.json());
    const run = runner(queue);

    await run.step();
    await run.loseAnswers(true);
    await run.step(); // two more reach the queue; the object never hears
    expect(await job(queue, id)).toMatchObject({ state: "running", moved: 2, remaining: 3 });
    await run.loseAnswers(false); // a restart, with the Worker answering again
    await run.step();
    await run.step();
    await run.step();
    expect(await job(queue, id)).toMatchObject({
      state: "done",
      moved: 5,
      remaining: 0,
      failedAgain: 0,
      createdBy: "admin",
    });
    expect(await bodiesIn(queue)).toEqual([0, 1, 2, 3, 4]);
    expect((await ok("GET", `/v1/queues/${queue}/dlq`)).messages).toEqual([]);
  });

  it("goes on after its canary of 2 is acked at the target, and ends done", async () => {
    const queue = await queueWithDeadLetters(4);
    const target = queueName("target");
    await createQueue(target);
    const { id } = await ok("POST", `/v1/queues/${queue}/dlq/redrive-jobs`, {
      json: { target, canary: 2, rate: 100 },
    });
    const run = runner(queue);
    await run.step();
    expect(await job(queue, id)).toMatchObject({
      state: "canary",
      moved: 2,
      canary: { size: 2, moved: 2, acked: 0 },
    });
    const canaries = await receive(target, { max: 10 });
    expect(canaries).toHaveLength(2);
    await run.step(); // leased, not yet acked
    expect(await job(queue, id)).toMatchObject({ state: "canary", moved: 2 });
    await ok("POST", `/v1/queues/${target}/ack`, {
      json: { receipts: canaries.map((m) => m.receipt) },
    });
    await run.step();
    expect(await job(queue, id)).toMatchObject({ state: "running", canary: { acked: 2 } });
    await run.step();
    await run.step();
    expect(await job(queue, id)).toMatchObject({ state: "done", moved: 4, remaining: 0 });
    expect((await bodiesIn(target)).length).toBe(2);
  });

  it("stops with canary_failed when a canary message is dead-lettered again", async () => {
    const queue = await queueWithDeadLetters(3);
    const { id } = await ok("POST", `/v1/queues/${queue}/dlq/redrive-jobs`, {
      json: { canary: 1, rate: 100 },
    });
    const run = runner(queue);
    await run.step();
    await nackAll(queue, "payment service 503 again");
    await run.step();
    const stopped = await job(queue, id);
    expect(stopped).toMatchObject({
      state: "canary_failed",
      moved: 1,
      remaining: 2,
      failedAgain: 1,
      canary: { size: 1, moved: 1, failed: 1 },
    });
    expect(stopped.detail).toContain("dead-lettered: payment service 503 again");
    await run.step();
    expect(await job(queue, id)).toMatchObject({ moved: 1 });
  });

  it("lists and cancels jobs", async () => {
    const queue = await queueWithDeadLetters(2);
    const { id } = await ok("POST", `/v1/queues/${queue}/dlq/redrive-jobs`, {
      json: { filter: { reason: "503", key: "k1" } },
    });
    expect(
      (await ok("GET", `/v1/queues/${queue}/dlq/redrive-jobs`)).jobs.map(
        (j: { id: string }) => j.id,
      ),
    ).toEqual([id]);
    expect(await ok("POST", `/v1/queues/${queue}/dlq/redrive-jobs/${id}/cancel`)).toMatchObject({
      state: "cancelled",
      moved: 0,
      remaining: 1,
    });
    await runner(queue).step();
    // The SDK and the service binding answer the same jobs.
    const listed = (await ok("GET", `/v1/queues/${queue}/dlq/redrive-jobs`)).jobs;
    expect(await client().listRedriveJobs(queue)).toEqual(listed);
    expect(await client().getRedriveJob(queue, id)).toEqual(listed[0]);
    const key = await ok("POST", "/v1/keys", {
      json: { name: "bound", scopes: ["admin"], queues: [queue] },
    });
    const binding = bindingFor(key.id);
    expect(await binding.getRedriveJob(queue, id)).toEqual({ ok: true, job: listed[0] });
    const started = await binding.createRedriveJob(queue, { filter: { key: "k0" }, canary: 1 });
    expect(started).toMatchObject({ ok: true, job: { state: "canary", createdBy: key.id } });
    expect((await ok("GET", `/v1/queues/${queue}/dlq`)).messages).toHaveLength(2);
  });

  it("refuses bad jobs, unknown jobs and targets the key may not send to", async () => {
    const queue = await queueWithDeadLetters(1);
    const path = `/v1/queues/${queue}/dlq/redrive-jobs`;
    await expectProblem(await call("POST", path, { json: { rate: 0 } }), 400, "invalid_request");
    await expectProblem(
      await call("POST", path, { json: { filter: { color: "red" } } }),
      400,
      "invalid_request",
    );
    await expectProblem(
      await call("POST", path, { json: { target: queueName("nowhere") } }),
      404,
      "queue_not_found",
    );
    await expectProblem(await call("GET", `${path}/job_nope`), 404, "redrive_job_not_found");
    await expectProblem(
      await call("POST", `${path}/job_nope/cancel`),
      404,
      "redrive_job_not_found",
    );
    const other = queueName("other");
    await createQueue(other);
    const admin = await createKey(["admin"], [queue]);
    await expectProblem(
      await call("POST", path, { json: { target: other }, token: admin }),
      403,
      "forbidden",
    );
    const consumer = await createKey(["consume"], [queue]);
    await expectProblem(await call("POST", path, { json: {}, token: consumer }), 403, "forbidden");
    expect((await ok("GET", path, { token: consumer })).jobs).toEqual([]);
  });
});
