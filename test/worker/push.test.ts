/**
 * What the router says about push queues: configuring push needs signing keys, a push
 * queue refuses pull receives, and setting push reaches the partitions at once.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  call,
  callWithEnv,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
} from "./api.ts";

const PUSH = { url: "https://hooks.test/sluice" };

describe("configuring push", () => {
  it("refuses push when no signing key is configured, and creates nothing", async () => {
    const name = queueName();
    const response = await callWithEnv(
      "PUT",
      `/v1/queues/${name}`,
      { SLUICE_PUSH_SIGNING_KEYS: undefined },
      { json: { push: PUSH } },
    );

    const problem = await expectProblem(response, 400, "invalid_config");
    expect(problem.detail).toContain("SLUICE_PUSH_SIGNING_KEYS");
    await expectProblem(await call("GET", `/v1/queues/${name}`), 404, "queue_not_found");
  });

  it("refuses a signing key set that names no key to sign with", async () => {
    const response = await callWithEnv(
      "PUT",
      `/v1/queues/${queueName()}`,
      { SLUICE_PUSH_KEY_ID: undefined },
      { json: { push: PUSH } },
    );

    const problem = await expectProblem(response, 400, "invalid_config");
    expect(problem.detail).toContain("set SLUICE_PUSH_KEY_ID");
  });

  it("fills in push defaults", async () => {
    const name = queueName();
    const created = await createQueue(name, { push: PUSH });
    expect(created.config.push).toEqual({ ...PUSH, batchSize: 10, timeout: 30, concurrency: 1 });
  });

  it("hands the new configuration to every partition at once", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 2 });
    // Delayed, so nothing is pushed to the made-up endpoint while the test looks.
    await send(name, [{ body: 1, key: "a", delaySeconds: 3600 }]);

    await ok("PUT", `/v1/queues/${name}`, { json: { push: PUSH } });

    for (const index of [0, 1]) {
      const [stored] = await runInDurableObject(
        env.PARTITION.getByName(`${name}/${index}`),
        (_, state) =>
          state.storage.sql
            .exec<{ value: string }>("SELECT value FROM meta WHERE name = 'context'")
            .toArray(),
      );
      expect(JSON.parse(stored.value).config.push.url).toBe(PUSH.url);
    }
  });
});

describe("pulling from a push queue", () => {
  it("refuses receives with 409 push_queue, naming the endpoint's host", async () => {
    const name = queueName();
    await createQueue(name, { push: PUSH });

    const problem = await expectProblem(
      await call("POST", `/v1/queues/${name}/receive`, { json: {} }),
      409,
      "push_queue",
    );
    expect(problem.detail).toContain("hooks.test");
  });

  it("receives again once push is removed", async () => {
    const name = queueName();
    await createQueue(name, { push: PUSH });
    await ok("PUT", `/v1/queues/${name}`, { json: { push: null } });
    await send(name, [{ body: "pulled" }]);

    expect((await receive(name)).map((m) => m.body)).toEqual(["pulled"]);
  });
});
