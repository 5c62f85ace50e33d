import { describe, expect, it, vi } from "vitest";
import { renderError, type SluiceRequest } from "../../worker/doors/http/middleware.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { inflight } from "../../worker/shed.ts";
import {
  call,
  callWithEnv,
  createQueue,
  expectProblem,
  fetchWithEnv,
  ORIGIN,
  queueName,
  receive,
  send,
  stats,
} from "./api.ts";

describe("backlog limits", () => {
  it("answers 429 backlog_full with Retry-After at the hard limit, storing nothing", async () => {
    const name = queueName();
    await createQueue(name, { backlog: { soft: 1, hard: 2 } });
    await send(name, [{ body: 1 }, { body: 2 }]);
    const refused = await call("POST", `/v1/queues/${name}/messages`, { json: { body: 3 } });
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    await expectProblem(refused, 429, "backlog_full");
    expect(await stats(name)).toMatchObject({ ready: 2, sent: 2 });
  });

  it("marks a 2xx send above the soft limit with Sluice-Backpressure: slow", async () => {
    const name = queueName();
    await createQueue(name, { backlog: { soft: 2, hard: 10 } });
    const calm = await call("POST", `/v1/queues/${name}/messages`, {
      json: { messages: [{ body: 1 }, { body: 2 }] },
    });
    expect(calm.status).toBe(201);
    expect(calm.headers.get("sluice-backpressure")).toBeNull();
    const pressed = await call("POST", `/v1/queues/${name}/messages`, { json: { body: 3 } });
    expect(pressed.status).toBe(201);
    expect(pressed.headers.get("sluice-backpressure")).toBe("slow");
  });

  it("stores the part of a batch whose partition has room and lists the rest as failed", async () => {
    const name = queueName();
    await createQueue(name, { partitions: 2, backlog: { soft: 1, hard: 1 } });
    const full = "key-a";
    const roomy = ["key-b", "key-c", "key-d", "key-e"].find(
      (key) => partitionForKey(key, 2) !== partitionForKey(full, 2),
    );
    await send(name, [{ body: "first", key: full }]);
    const response = await call("POST", `/v1/queues/${name}/messages`, {
      json: {
        messages: [
          { body: "refused", key: full },
          { body: "stored", key: roomy },
        ],
      },
    });
    expect(response.status).toBe(207);
    expect(await response.json()).toEqual({
      messages: [
        {
          index: 1,
          id: expect.any(String),
          partition: partitionForKey(roomy as string, 2),
          seq: 1,
          duplicate: false,
        },
      ],
      failed: [
        { index: 0, code: "backlog_full", detail: expect.stringContaining("hard backlog limit") },
      ],
    });
    expect(await stats(name)).toMatchObject({ ready: 2, sent: 2 });
  });
});

describe("overloaded objects", () => {
  it("turns a Durable Object's overloaded error into 503 overloaded with Retry-After", async () => {
    const error = Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
    const request = new Request(`${ORIGIN}/v1/queues/q/messages`, {
      method: "POST",
    }) as SluiceRequest;
    const response = renderError(error, request);
    expect(response.headers.get("retry-after")).toBe("1");
    await expectProblem(response, 503, "overloaded");
  });
});

/** A request straight to the Worker's handler, with SLUICE_MAX_INFLIGHT set for it alone. */
function direct(method: string, path: string, json: unknown, limit = 1000): Promise<Response> {
  return callWithEnv(method, path, { SLUICE_MAX_INFLIGHT: String(limit) }, { json });
}

describe("the in-flight limit", () => {
  it("sheds sends first, then receives, and never acks or extends", async () => {
    const name = queueName();
    // Unordered, so each parked consumer can take a message while the other holds one.
    await createQueue(name, { ordering: "unordered" });
    await send(name, [{ body: "m1" }, { body: "m2" }]);
    const [m1, m2] = await receive(name, { max: 2 });

    // Two consumers park on the empty queue: two requests in flight.
    const parked = [1, 2].map(() => direct("POST", `/v1/queues/${name}/receive`, { wait: 15 }));
    await vi.waitFor(() => expect(inflight()).toBe(2));

    // Limit 4: sends are shed from 2 in flight, receives from 4.
    const shedSend = await direct("POST", `/v1/queues/${name}/messages`, { body: "shed" }, 4);
    expect(shedSend.headers.get("retry-after")).toBe("1");
    await expectProblem(shedSend, 503, "inflight_limit");
    const stillReceives = await direct("POST", `/v1/queues/${name}/receive`, {}, 4);
    expect(await stillReceives.json()).toEqual({ messages: [] });
    const acked = await direct("POST", `/v1/queues/${name}/ack`, { receipts: [m1.receipt] }, 4);
    expect(await acked.json()).toEqual({ acked: 1, failed: [] });

    // Limit 2: receives are shed too; acks and extends still go through.
    const shedReceive = await direct("POST", `/v1/queues/${name}/receive`, {}, 2);
    await expectProblem(shedReceive, 503, "inflight_limit");
    const extended = await direct(
      "POST",
      `/v1/queues/${name}/extend`,
      { receipts: [m2.receipt], visibilityTimeout: 60 },
      1,
    );
    expect(await extended.json()).toEqual({ extended: 1, failed: [] });
    const ackedLast = await direct("POST", `/v1/queues/${name}/ack`, { receipts: [m2.receipt] }, 1);
    expect(await ackedLast.json()).toEqual({ acked: 1, failed: [] });

    // Sends under the default limit wake the parked consumers.
    await send(name, [{ body: "w1" }]);
    await send(name, [{ body: "w2" }]);
    const woken = await Promise.all(
      parked.map(
        async (response) => ((await (await response).json()) as { messages: [] }).messages,
      ),
    );
    expect(
      woken
        .flat()
        .map((message: { body: string }) => message.body)
        .sort(),
    ).toEqual(["w1", "w2"]);
    expect(inflight()).toBe(0);
    expect(await stats(name)).toMatchObject({ sent: 4, acked: 2 });
  });

  it("leaves health checks alone", async () => {
    const { name, consumer } = await parkConsumer();
    const response = await fetchWithEnv(new Request(`${ORIGIN}/health`), {
      SLUICE_MAX_INFLIGHT: "1",
    });
    expect(response.status).toBe(200);
    await send(name, [{ body: "release" }]);
    await consumer;
  });
});

describe("metrics of shedding", () => {
  it("counts shed requests by reason", async () => {
    const before = await shedCount("inflight_limit");
    const { name, consumer } = await parkConsumer();
    await expectProblem(
      await direct("POST", `/v1/queues/${name}/messages`, { body: 1 }, 1),
      503,
      "inflight_limit",
    );
    await send(name, [{ body: "release" }]);
    await consumer;
    expect(await shedCount("inflight_limit")).toBe(before + 1);
  });
});

/** A consumer long-polling an empty queue: one request in flight until a send wakes it. */
async function parkConsumer() {
  const name = queueName();
  await createQueue(name);
  const consumer = direct("POST", `/v1/queues/${name}/receive`, { wait: 15 });
  await vi.waitFor(() => expect(inflight()).toBe(1));
  return { name, consumer };
}

async function shedCount(reason: string): Promise<number> {
  const text = await (await call("GET", "/metrics")).text();
  const line = text
    .split("\n")
    .find((row) => row.startsWith(`sluice_shed_total{reason="${reason}"}`));
  return Number(line?.split(" ")[1]);
}
