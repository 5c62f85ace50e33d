import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { admit, inflight, release, type ShedClass, type Ticket } from "../../worker/admission.ts";
import { renderError, type SluiceRequest } from "../../worker/doors/http/middleware.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { BODY_DEADLINE_MS } from "../../worker/request.ts";
import {
  ADMIN_TOKEN,
  call,
  callWithEnv,
  createKey,
  createQueue,
  expectProblem,
  fetchWithEnv,
  ORIGIN,
  queueName,
  receive,
  send,
  shedCount,
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
function direct(
  method: string,
  path: string,
  json: unknown,
  limit = 1000,
  token?: string,
): Promise<Response> {
  return callWithEnv(method, path, { SLUICE_MAX_INFLIGHT: String(limit) }, { json, token });
}

/** Slots taken as other requests of `shedClass` would hold them; freed by `free`. */
function occupy(shedClass: ShedClass, count: number) {
  const limits = { ...env, SLUICE_MAX_INFLIGHT: "1000" };
  const tickets = Array.from({ length: count }, () => admit(limits, shedClass) as Ticket);
  return { free: () => tickets.forEach(release) };
}

describe("the in-flight limit", () => {
  it("sheds sends first, then receives, and never acks or extends", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered" });
    await send(name, [{ body: "m1" }, { body: "m2" }]);
    const [m1, m2] = await receive(name, { max: 2 });

    // Two receives or reads at work in this isolate.
    const working = occupy("consume", 2);
    try {
      // Limit 4: sends are shed from 2 at work, receives from 4.
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
      const ackedLast = await direct(
        "POST",
        `/v1/queues/${name}/ack`,
        { receipts: [m2.receipt] },
        1,
      );
      expect(await ackedLast.json()).toEqual({ acked: 1, failed: [] });
    } finally {
      working.free();
    }
    expect(inflight()).toBe(0);
    expect(await stats(name)).toMatchObject({ sent: 2, acked: 2 });
  });

  it("leaves health checks alone", async () => {
    const working = occupy("consume", 1);
    try {
      const response = await fetchWithEnv(new Request(`${ORIGIN}/health`), {
        SLUICE_MAX_INFLIGHT: "1",
      });
      expect(response.status).toBe(200);
    } finally {
      working.free();
    }
  });
});

describe("finding 1: no one client takes every slot", () => {
  it("finding 1: parked long polls do not shed sends", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered" });
    const consumers = [1, 2].map(() => direct("POST", `/v1/queues/${name}/receive`, { wait: 15 }));
    await vi.waitFor(() => expect(inflight()).toBe(2));

    // Limit 2: two parked receives, and a send still goes through (and wakes one).
    const sent = await direct("POST", `/v1/queues/${name}/messages`, { body: "w1" }, 2);
    expect(sent.status).toBe(201);
    await send(name, [{ body: "w2" }]);
    const woken = await Promise.all(
      consumers.map(async (answer) => ((await (await answer).json()) as { messages: [] }).messages),
    );
    expect(
      woken
        .flat()
        .map((message: { body: string }) => message.body)
        .sort(),
    ).toEqual(["w1", "w2"]);
    expect(inflight()).toBe(0);
  });

  it("finding 1: essential calls in flight do not shed sends", async () => {
    const name = queueName();
    await createQueue(name);
    const acks = occupy("essential", 10);
    try {
      const sent = await direct("POST", `/v1/queues/${name}/messages`, { body: "through" }, 10);
      expect(sent.status).toBe(201);
    } finally {
      acks.free();
    }
  });

  it("finding 1: one key parks at most its share of long polls", async () => {
    const name = queueName();
    await createQueue(name, { ordering: "unordered" });
    const consumer = await createKey(["consume"], [name]);
    const other = await createKey(["consume"], [name]);
    // Limit 10: a key may park one long poll.
    const receive = (token: string, wait: number) =>
      direct("POST", `/v1/queues/${name}/receive`, { wait }, 10, token);
    const parked = receive(consumer, 15);
    await vi.waitFor(() => expect(inflight()).toBe(1));

    const refused = await receive(consumer, 15);
    expect(refused.headers.get("retry-after")).toBe("1");
    const { detail } = await expectProblem(refused, 503, "inflight_limit");
    expect(detail).toContain("long polls");
    expect(await (await receive(consumer, 0)).json()).toEqual({ messages: [] });
    const otherParked = receive(other, 15);
    await vi.waitFor(() => expect(inflight()).toBe(2));

    await send(name, [{ body: 1 }, { body: 2 }]);
    await Promise.all([parked, otherParked]);
    expect(inflight()).toBe(0);
  });

  it("finding 1: a client that goes away frees its slot at once", async () => {
    const name = queueName();
    await createQueue(name);
    const { body, close } = trickle("{");
    const departure = new AbortController();
    const answer = fetchWithEnv(
      new Request(`${ORIGIN}/v1/queues/${name}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
        body,
        signal: departure.signal,
      }),
      {},
    );
    await vi.waitFor(() => expect(inflight()).toBe(1));
    departure.abort();
    expect(inflight()).toBe(0);
    close();
    await answer.catch(() => {});
    expect(await stats(name)).toMatchObject({ sent: 0 });
  });

  // With a declared length the body is read whole by the runtime; without one, chunk by chunk.
  it.each([
    ["a declared length", { "Content-Length": "100000" }],
    ["no declared length", {}],
  ])(
    "finding 1: a body that does not arrive in time is refused with 408, its slot freed (%s)",
    async (_, length) => {
      const name = queueName();
      await createQueue(name);
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      try {
        const { body } = trickle('{"body":');
        const answer = fetchWithEnv(
          new Request(`${ORIGIN}/v1/queues/${name}/messages`, {
            method: "POST",
            headers: {
              Authorization: `Bearer ${ADMIN_TOKEN}`,
              "Content-Type": "application/json",
              ...length,
            },
            body,
          }),
          {},
        );
        // Admitted, the route is reading the body under a deadline.
        await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1));
        vi.advanceTimersByTime(BODY_DEADLINE_MS);
        await expectProblem(await answer, 408, "request_timeout");
      } finally {
        vi.useRealTimers();
      }
      expect(inflight()).toBe(0);
      expect(await stats(name)).toMatchObject({ sent: 0 });
    },
  );
});

/** A request body that sends `start` and then nothing until `close`. */
function trickle(start: string) {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(opened) {
      controller = opened;
      opened.enqueue(new TextEncoder().encode(start));
    },
  });
  return { body, close: () => controller?.close() };
}

describe("metrics of shedding", () => {
  it("counts shed requests by reason", async () => {
    const before = await shedCount("inflight_limit");
    const name = queueName();
    await createQueue(name);
    const working = occupy("consume", 1);
    try {
      await expectProblem(
        await direct("POST", `/v1/queues/${name}/messages`, { body: 1 }, 1),
        503,
        "inflight_limit",
      );
    } finally {
      working.free();
    }
    expect(await shedCount("inflight_limit")).toBe(before + 1);
  });

  it("counts a send refused at the hard backlog once", async () => {
    const before = await shedCount("backlog_full");
    const name = queueName();
    await createQueue(name, { backlog: { soft: 1, hard: 1 } });
    await send(name, [{ body: 1 }]);
    await expectProblem(
      await call("POST", `/v1/queues/${name}/messages`, { json: { body: 2 } }),
      429,
      "backlog_full",
    );
    expect(await shedCount("backlog_full")).toBe(before + 1);
  });
});
