/**
 * Flow control through the doors: pause and resume over HTTP (the queue on every partition,
 * a key on its own), stats and /metrics, a key's own limits, the configuration's checks, the
 * SQS door and the RPC door while paused. The exactness of limits is test/durable-objects.
 */

import { exports } from "cloudflare:workers";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import type { SluiceRpc } from "../../worker/doors/rpc.ts";
import { queueUrl } from "../../worker/doors/sqs/queue-attributes.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { adminClient, ORIGIN } from "../sqs/support.ts";
import { call, createQueue, expectProblem, ok, queueName, receive, send, stats } from "./api.ts";

describe("pause and resume over HTTP", () => {
  it("pauses every partition: receives get nothing, sends are taken, stats say so", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 3, ordering: "unordered" });
    expect(await ok("POST", `/v1/queues/${name}/pause`)).toEqual({
      key: null,
      paused: true,
      until: null,
    });
    await send(name, [{ body: 1, key: "a" }, { body: 2, key: "b" }, { body: 3 }]);
    expect(await receive(name, { max: 10 })).toEqual([]);
    expect(await stats(name)).toMatchObject({ paused: true, pausedUntil: null, ready: 3 });

    expect(await ok("POST", `/v1/queues/${name}/resume`)).toEqual({
      key: null,
      paused: false,
      until: null,
    });
    expect(await receive(name, { max: 10 })).toHaveLength(3);
    expect(await stats(name)).toMatchObject({ paused: false });
  });

  it("pauses one key, in the partition that holds it, and shows it held", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 2 });
    await ok("POST", `/v1/queues/${name}/pause`, { json: { key: "stop" } });
    await send(name, [
      { body: 1, key: "stop" },
      { body: 2, key: "go" },
    ]);
    const leased = [...(await receive(name, { max: 10 })), ...(await receive(name, { max: 10 }))];
    expect(leased.map((m: { key: string }) => m.key)).toEqual(["go"]);
    const queue = await stats(name);
    expect(queue).toMatchObject({ paused: false, pausedKeys: 1 });
    expect(queue.heldKeys).toEqual([
      {
        key: "stop",
        partition: partitionForKey("stop", 2),
        reason: "paused",
        oldestWaitMs: expect.any(Number),
      },
    ]);
    expect(await ok("GET", `/v1/queues/${name}/keys/stop`)).toMatchObject({
      key: "stop",
      partition: partitionForKey("stop", 2),
      paused: { until: null },
      waiting: 1,
    });
    await ok("POST", `/v1/queues/${name}/resume`, { json: { key: "stop" } });
    expect((await receive(name, { max: 10, partition: partitionForKey("stop", 2) })).length).toBe(
      1,
    );
  });

  it("keeps a paused queue paused on the partitions it grows", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered" });
    await ok("POST", `/v1/queues/${name}/pause`);
    await ok("PUT", `/v1/queues/${name}`, { json: { partitions: 4 } });
    await send(
      name,
      ["a", "b", "c", "d", "e", "f"].map((key) => ({ body: key, key })),
    );
    for (let index = 0; index < 4; index++) {
      expect(await receive(name, { max: 10, partition: index })).toEqual([]);
    }
    await ok("POST", `/v1/queues/${name}/resume`);
    expect(await receive(name, { max: 10 })).toHaveLength(6);
  });

  it("refuses a pause whose end has passed, changing nothing", async () => {
    const name = queueName();
    await createQueue(name);
    await expectProblem(
      await call("POST", `/v1/queues/${name}/pause`, { json: { until: Date.now() - 1_000 } }),
      400,
      "invalid_request",
    );
    expect(await stats(name)).toMatchObject({ paused: false });
  });

  it("needs admin", async () => {
    const name = queueName();
    await createQueue(name);
    const key = await ok("POST", "/v1/keys", {
      json: { name: "worker", scopes: ["produce", "consume"], queues: [name] },
    });
    const response = await call("POST", `/v1/queues/${name}/pause`, { token: key.secret });
    await expectProblem(response, 403, "forbidden");
  });
});

describe("the OpenAPI document", () => {
  it("describes the pause body, the key endpoints and the flow fields of a queue", async () => {
    const doc = await ok("GET", "/v1/openapi.json");
    const text = JSON.stringify(doc);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/queues/{q}/pause",
        "/v1/queues/{q}/resume",
        "/v1/queues/{q}/keys/{key}",
      ]),
    );
    for (const phrase of [
      "resume by itself at this time (epoch ms)",
      "at most this many of the key's messages leased at once",
      "round-robin over keys",
      "keys whose ready messages the last receives had to leave behind",
    ]) {
      expect(text).toContain(phrase);
    }
  });
});

describe("/metrics", () => {
  it("shows a paused queue, its paused keys and each held key's oldest wait", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered", keyLimits: { concurrency: 1 } });
    await send(name, [
      { body: 1, key: "busy" },
      { body: 2, key: "busy" },
    ]);
    await receive(name, { max: 10 });
    await ok("POST", `/v1/queues/${name}/pause`, { json: { key: "other" } });
    const text = await (await call("GET", "/metrics")).text();
    expect(text).toContain(`sluice_queue_paused{queue="${name}"} 0`);
    expect(text).toContain(`sluice_queue_paused_keys{queue="${name}"} 1`);
    expect(text).toMatch(
      new RegExp(
        `sluice_key_held_oldest_wait_seconds\\{queue="${name}",key="busy",reason="concurrency"\\} \\d`,
      ),
    );
    await ok("POST", `/v1/queues/${name}/pause`);
    const paused = await (await call("GET", "/metrics")).text();
    expect(paused).toContain(`sluice_queue_paused{queue="${name}"} 1`);
  });
});

describe("key limits over HTTP", () => {
  it("sets a key's own limits over the queue's keyLimits, and drops them with {}", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered", keyLimits: { concurrency: 2 } });
    const set = await ok("PUT", `/v1/queues/${name}/keys/tenant-1`, {
      json: { rate: 5, burst: 1 },
    });
    expect(set).toMatchObject({
      key: "tenant-1",
      limits: { rate: 5, burst: 1 },
      effective: { rate: 5, burst: 1, concurrency: 2 },
      paused: null,
    });
    await send(
      name,
      [1, 2, 3].map((body) => ({ body, key: "tenant-1" })),
    );
    expect(await receive(name, { max: 10 })).toHaveLength(1);
    expect((await stats(name)).heldKeys).toMatchObject([{ key: "tenant-1", reason: "rate" }]);

    const dropped = await ok("PUT", `/v1/queues/${name}/keys/tenant-1`, { json: {} });
    expect(dropped).toMatchObject({ limits: null, effective: { concurrency: 2 } });
  });

  it("refuses limits and configurations that cannot hold", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 4 });
    await expectProblem(
      await call("PUT", `/v1/queues/${name}/keys/k`, { json: { burst: 3 } }),
      400,
      "invalid_request",
    );
    await expectProblem(
      await call("PUT", `/v1/queues/${name}`, { json: { maxInFlight: 3 } }),
      400,
      "invalid_config",
    );
    await expectProblem(
      await call("PUT", `/v1/queues/${name}`, {
        json: { ordering: "priority", fairness: "keys" },
      }),
      400,
      "invalid_config",
    );
    const queue = await ok("PUT", `/v1/queues/${name}`, { json: { maxInFlight: 4 } });
    expect(queue.config).toMatchObject({ maxInFlight: 4, fairness: "oldest" });
    const cleared = await ok("PUT", `/v1/queues/${name}`, { json: { maxInFlight: null } });
    expect(cleared.config.maxInFlight).toBeUndefined();
  });
});

describe("the other doors while paused", () => {
  it("the SQS door's ReceiveMessage returns no messages", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: "waiting" }]);
    await ok("POST", `/v1/queues/${name}/pause`);
    const sqs = adminClient();
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl(ORIGIN, name),
        MaxNumberOfMessages: 10,
      }),
    );
    expect(answer.Messages ?? []).toEqual([]);
    await ok("POST", `/v1/queues/${name}/resume`);
    const resumed = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl(ORIGIN, name),
        MaxNumberOfMessages: 10,
      }),
    );
    expect(resumed.Messages).toHaveLength(1);
  });

  it("the RPC door pauses and resumes as the HTTP API does", async () => {
    const name = queueName();
    await createQueue(name);
    const key = await ok("POST", "/v1/keys", {
      json: { name: "ops", scopes: ["admin", "consume"], queues: [name] },
    });
    const entrypoints = exports as unknown as {
      SluiceRpc: (options: { props: object }) => Service<SluiceRpc>;
    };
    const binding = entrypoints.SluiceRpc({ props: { keyId: key.id } });
    expect(await binding.pauseQueue(name, { key: "k" })).toEqual({
      ok: true,
      key: "k",
      paused: true,
      until: null,
    });
    expect(await binding.getKey(name, "k")).toMatchObject({
      ok: true,
      key: { key: "k", paused: { until: null } },
    });
    expect(await binding.putKeyLimits(name, "k", { concurrency: 1 })).toMatchObject({
      ok: true,
      key: { limits: { concurrency: 1 } },
    });
    expect(await binding.resumeQueue(name, { key: "k" })).toMatchObject({ paused: false });
  });
});
