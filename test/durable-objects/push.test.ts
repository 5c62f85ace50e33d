/**
 * Push delivery from the partition's alarm, against an endpoint that lives in the test: the
 * partition's `fetcher` hands it each request as sent (signed, with its real body), and it
 * answers as the test says. test/e2e/push.test.ts does the same over real HTTP.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { verify } from "../../client/verify.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import { pushLeaseSeconds } from "../../durable-objects/push.ts";
import {
  message,
  messages,
  openPartition,
  storedMessages,
  type TestPartition,
} from "./partition-fixtures.ts";

const PUSH = { url: "https://hooks.test/sluice", batchSize: 10, timeout: 5, concurrency: 1 };
const NO_JITTER = { initialDelay: 10, maxDelay: 60, multiplier: 2, jitter: false };
const KEYS: Record<string, string> = JSON.parse(env.SLUICE_PUSH_SIGNING_KEYS ?? "{}");

interface PushedMessage {
  id: string;
  body: unknown;
  contentType: string;
  headers: Record<string, string>;
  key: string | null;
  attempts: number;
  sentAt: number;
  leaseExpiresAt: number;
}

interface Delivery {
  request: Request;
  raw: string;
  payload: { queue: string; partition: number; messages: PushedMessage[] };
}

type Answer = (delivery: Delivery) => Response | Promise<Response>;

/**
 * Points the partition's push requests at `answer`; returns every delivery it saw, in the
 * order they arrived. `inFlight` reports the deliveries not yet answered.
 */
async function endpoint(partition: TestPartition, answer: Answer) {
  const deliveries: Delivery[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  await runInDurableObject(partition.stub, (instance: Partition) => {
    instance.fetcher = async (input, init) => {
      const request = new Request(input, init);
      const raw = await request.clone().text();
      const delivery = { request, raw, payload: JSON.parse(raw) };
      deliveries.push(delivery);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        return await answer(delivery);
      } finally {
        inFlight--;
      }
    };
  });
  return { deliveries, mostInFlight: () => mostInFlight };
}

/** An endpoint that takes a moment to answer, so batches of several lanes overlap. */
async function slowly(response: () => Response): Promise<Response> {
  await scheduler.wait(20);
  return response();
}

const accepted = () => new Response(null, { status: 204 });

async function failuresOf(partition: TestPartition) {
  const rows = await partition.rows<{ failures: string }>("SELECT failures FROM held");
  return rows.map((row) => JSON.parse(row.failures));
}

describe("push delivery", () => {
  it("hands an endpoint a message's W3C trace context, with its lease end", async () => {
    const partition = await openPartition({ push: PUSH });
    const pushed = await endpoint(partition, accepted);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await partition.stub.send(partition.context, [
      message("traced", { headers: { traceparent, tracestate: "v=1" } }),
    ]);
    await partition.runAlarm();
    expect(pushed.deliveries[0].payload.messages[0]).toMatchObject({
      headers: { traceparent, tracestate: "v=1" },
      sentAt: partition.now(),
      leaseExpiresAt: partition.now() + pushLeaseSeconds(PUSH) * 1000,
    });
  });

  it("is due at once when a message waits on a push queue", async () => {
    const partition = await openPartition({ push: PUSH });
    await partition.stub.send(partition.context, [message("hello")]);
    expect(await partition.alarmAt()).toBe(partition.now());
  });

  it("posts signed batches of up to batchSize and acks them on a 2xx answer", async () => {
    const partition = await openPartition({
      ordering: "unordered",
      push: { ...PUSH, batchSize: 3 },
    });
    const pushed = await endpoint(partition, accepted);
    await partition.stub.send(partition.context, [
      message({ n: 0 }, { key: "k", headers: { trace: "t0" } }),
      ...messages(4),
    ]);

    await partition.runAlarm();

    expect(pushed.deliveries.map((d) => d.payload.messages.length)).toEqual([3, 2]);
    const [first] = pushed.deliveries;
    expect(first.request.method).toBe("POST");
    expect(first.request.url).toBe(PUSH.url);
    expect(first.request.headers.get("content-type")).toBe("application/json");
    expect(first.payload).toMatchObject({ queue: partition.queue, partition: 0 });
    expect(first.payload.messages[0]).toEqual({
      id: expect.any(String),
      body: { n: 0 },
      contentType: "application/json",
      headers: { trace: "t0" },
      key: "k",
      attempts: 1,
      sentAt: partition.now(),
      leaseExpiresAt: partition.now() + pushLeaseSeconds(PUSH) * 1000,
    });
    for (const delivery of pushed.deliveries) {
      const signature = delivery.request.headers.get("sluice-signature");
      const target = { queue: partition.queue, url: PUSH.url };
      expect(await verify(delivery.raw, signature, KEYS, target)).toMatchObject({
        ok: true,
        keyId: "next",
      });
    }
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({ ready: 0, leased: 0, acked: 5 });
    expect(await partition.alarmAt()).toBeNull();
  });

  it("fails a batch the endpoint refuses, quoting its answer, and retries it after the backoff", async () => {
    const partition = await openPartition({ retry: NO_JITTER, push: PUSH });
    let refuse = true;
    const pushed = await endpoint(partition, () =>
      refuse ? new Response("database is down\n", { status: 500 }) : accepted(),
    );
    await partition.stub.send(partition.context, [message("work")]);

    await partition.runAlarm();
    expect(await failuresOf(partition)).toEqual([
      [{ at: partition.now(), attempt: 1, reason: "push: HTTP 500: database is down", by: "push" }],
    ]);
    expect(await partition.stub.stats(partition.context)).toMatchObject({ delayed: 1, nacked: 1 });
    expect(await partition.alarmAt()).toBe(partition.now() + 10_000);

    refuse = false;
    partition.advance(10_000);
    await partition.runAlarm();
    expect(pushed.deliveries.map((d) => d.payload.messages[0].attempts)).toEqual([1, 2]);
    expect(await partition.stub.stats(partition.context)).toMatchObject({ ready: 0, acked: 1 });
  });

  it("dead-letters a message whose attempts run out, with the endpoint's answers as reasons", async () => {
    const partition = await openPartition({
      maxAttempts: 2,
      retry: { initialDelay: 0, jitter: false },
      push: PUSH,
    });
    const longBody = `maintenance ${"x".repeat(300)}`;
    await endpoint(partition, () => new Response(longBody, { status: 503 }));
    await partition.stub.send(partition.context, [message("doomed")]);

    await partition.runAlarm();
    // The hand-off started during the first alarm; the next one waits for it to finish.
    await partition.runAlarm();

    const reason = `push: HTTP 503: ${longBody.slice(0, 200)}`;
    const { messages: dead } = await env.DEAD_LETTERS.getByName(partition.queue).list({
      limit: 10,
    });
    expect(dead).toHaveLength(1);
    expect(dead[0].failures).toEqual([
      { at: partition.now(), attempt: 1, reason, by: "push" },
      { at: partition.now(), attempt: 2, reason, by: "push" },
    ]);
    expect(await partition.stub.stats(partition.context)).toMatchObject({
      ready: 0,
      deadLettered: 1,
    });
  });

  it("fails a batch the endpoint does not answer within push.timeout", async () => {
    const partition = await openPartition({ retry: NO_JITTER, push: { ...PUSH, timeout: 1 } });
    await endpoint(
      partition,
      ({ request }) =>
        new Promise((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        }),
    );
    await partition.stub.send(partition.context, [message("slow")]);

    await partition.runAlarm();

    expect(await failuresOf(partition)).toEqual([
      [{ at: partition.now(), attempt: 1, reason: "push: timed out after 1 s", by: "push" }],
    ]);
  });

  it("fails a batch whose endpoint cannot be reached, saying what went wrong", async () => {
    const partition = await openPartition({ retry: NO_JITTER, push: PUSH });
    await endpoint(partition, () => {
      throw new TypeError("Network connection lost.");
    });
    await partition.stub.send(partition.context, [message("a")]);

    await partition.runAlarm();

    const [[failure]] = await failuresOf(partition);
    expect(failure).toMatchObject({ reason: "push: Network connection lost.", by: "push" });
  });

  it("leases a batch for push.timeout and a margin, so its answer settles it", async () => {
    const partition = await openPartition({ push: { ...PUSH, timeout: 30 } });
    let leasesWhileOut: unknown[] = [];
    await runInDurableObject(partition.stub, (instance: Partition, state) => {
      instance.fetcher = async () => {
        leasesWhileOut = storedMessages(state.storage.sql).map(({ state, visibleAt }) => ({
          state,
          visible_at: visibleAt,
        }));
        return accepted();
      };
    });
    await partition.stub.send(partition.context, [message("a")]);

    await partition.runAlarm();

    expect(leasesWhileOut).toEqual([{ state: "leased", visible_at: partition.now() + 35_000 }]);
  });

  it("keeps at most push.concurrency batches out at once", async () => {
    const partition = await openPartition({
      ordering: "unordered",
      push: { ...PUSH, batchSize: 2, concurrency: 3 },
    });
    const pushed = await endpoint(partition, () => slowly(accepted));
    await partition.stub.send(partition.context, messages(12));

    await partition.runAlarm();

    expect(pushed.mostInFlight()).toBe(3);
    expect(pushed.deliveries).toHaveLength(6);
    expect((await partition.stub.stats(partition.context)).acked).toBe(12);
  });

  it("refuses to send unsigned: without a signing key the batch fails and says why", async () => {
    const partition = await openPartition({ retry: NO_JITTER, push: PUSH });
    const pushed = await endpoint(partition, accepted);
    await runInDurableObject(partition.stub, (instance: Partition) => {
      const withEnv = instance as unknown as { env: Env };
      withEnv.env = { ...withEnv.env, SLUICE_PUSH_SIGNING_KEYS: undefined };
    });
    await partition.stub.send(partition.context, [message("a")]);

    await partition.runAlarm();

    expect(pushed.deliveries).toHaveLength(0);
    const [[failure]] = await failuresOf(partition);
    expect(failure.reason).toMatch(/^push: not sent: .*SLUICE_PUSH_SIGNING_KEYS/);
  });
});

describe("push delivery, fifo", () => {
  it("delivers a key's messages one batch at a time, in send order", async () => {
    const partition = await openPartition({
      ordering: "fifo",
      push: { ...PUSH, batchSize: 2, concurrency: 3 },
    });
    const keysOut = new Set<string | null>();
    const pushed = await endpoint(partition, async ({ payload }) => {
      const keys = new Set(payload.messages.map((m) => m.key));
      for (const key of keys) {
        expect(keysOut.has(key), `a second batch of key ${key} went out`).toBe(false);
        keysOut.add(key);
      }
      const response = await slowly(accepted);
      for (const key of keys) keysOut.delete(key);
      return response;
    });
    await partition.stub.send(partition.context, [
      ...[1, 2, 3, 4, 5].map((n) => message(`a${n}`, { key: "a" })),
      ...[1, 2, 3].map((n) => message(`b${n}`, { key: "b" })),
    ]);

    await partition.runAlarm();

    const delivered = pushed.deliveries.flatMap((d) => d.payload.messages);
    const bodiesOf = (key: string) => delivered.filter((m) => m.key === key).map((m) => m.body);
    expect(bodiesOf("a")).toEqual(["a1", "a2", "a3", "a4", "a5"]);
    expect(bodiesOf("b")).toEqual(["b1", "b2", "b3"]);
    expect(pushed.mostInFlight()).toBe(2);
  });

  it("holds a key's later messages back while a failed batch waits for its retry", async () => {
    const partition = await openPartition({ retry: NO_JITTER, push: { ...PUSH, batchSize: 1 } });
    let refuse = true;
    const pushed = await endpoint(partition, () =>
      refuse ? new Response("busy", { status: 429 }) : accepted(),
    );
    await partition.stub.send(partition.context, [
      message("first", { key: "k" }),
      message("second", { key: "k" }),
    ]);

    await partition.runAlarm();
    expect(pushed.deliveries.map((d) => d.payload.messages[0].body)).toEqual(["first"]);

    refuse = false;
    partition.advance(10_000);
    await partition.runAlarm();
    expect(pushed.deliveries.map((d) => d.payload.messages[0].body)).toEqual([
      "first",
      "first",
      "second",
    ]);
  });
});
