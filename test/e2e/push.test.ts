/**
 * Push delivery over real HTTP: the Worker runs under `wrangler dev`, its partitions' alarms
 * POST to a Node HTTP server on 127.0.0.1, which checks every signature with the SDK's
 * verify() and answers as each test's endpoint says.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verify } from "../../client/verify.ts";
import { type DevServer, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const KEYS = { "2026-01": "old-push-secret-0123456789", "2026-06": "new-push-secret-0123456789" };
const SIGNING_KEY_ID = "2026-06";
/** Retry at once, so a test waits for the endpoint, not for backoff. */
const RETRY_AT_ONCE = { initialDelay: 0, jitter: false };
const DELIVERY_TIMEOUT_MS = 30_000;

interface PushedMessage {
  id: string;
  body: unknown;
  key: string | null;
  attempts: number;
}

interface Delivery {
  path: string;
  raw: string;
  signature: string | undefined;
  messages: PushedMessage[];
}

/** What an endpoint answers; `undefined` never answers (a hung endpoint). */
type Answer = { status: number; body?: string } | undefined;

let server: DevServer;
let call: Call;
let endpoint: Server;
let endpointUrl: string;
const deliveries: Delivery[] = [];
const answers = new Map<string, (delivery: Delivery) => Answer | Promise<Answer>>();

beforeAll(async () => {
  endpoint = createServer((request, response) => void serve(request, response));
  await new Promise<void>((listening) => endpoint.listen(0, "127.0.0.1", listening));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
  server = await startDevServer({
    vars: { SLUICE_PUSH_SIGNING_KEYS: JSON.stringify(KEYS), SLUICE_PUSH_KEY_ID: SIGNING_KEY_ID },
  });
  call = adminCall(server);
});

afterAll(async () => {
  await server?.stop();
  endpoint?.closeAllConnections();
  await new Promise((closed) => endpoint?.close(closed));
});

async function serve(request: IncomingMessage, response: ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  const header = request.headers["sluice-signature"];
  const delivery: Delivery = {
    path: request.url ?? "",
    raw,
    signature: Array.isArray(header) ? header[0] : header,
    messages: JSON.parse(raw).messages,
  };
  deliveries.push(delivery);
  const answer = await answers.get(delivery.path)?.(delivery);
  if (answer === undefined) return;
  response.writeHead(answer.status, { "content-type": "text/plain" });
  response.end(answer.body ?? "");
}

/** An endpoint path of its own for each test, answered by `answer`. */
function route(name: string, answer: (delivery: Delivery) => Answer | Promise<Answer>): string {
  answers.set(`/${name}`, answer);
  return `${endpointUrl}/${name}`;
}

function deliveriesTo(url: string): Delivery[] {
  return deliveries.filter((delivery) => `${endpointUrl}${delivery.path}` === url);
}

async function createQueue(name: string, config: Record<string, unknown>) {
  const created = await call("PUT", `/v1/queues/${name}`, config);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

async function send(name: string, messages: Record<string, unknown>[]) {
  const sent = await call("POST", `/v1/queues/${name}/messages`, { messages });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
}

/** Polls until `check` returns a value, or fails after DELIVERY_TIMEOUT_MS. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function queueStats(name: string) {
  const { body } = await call<{ stats: Record<string, number> }>("GET", `/v1/queues/${name}`);
  return body.stats;
}

function drained(name: string, acked: number) {
  return eventually(`${acked} messages of ${name} acked`, async () => {
    const stats = await queueStats(name);
    return stats.acked === acked && stats.ready + stats.leased + stats.delayed === 0
      ? stats
      : undefined;
  });
}

describe("push delivery over HTTP", () => {
  it("retries a batch the endpoint refuses twice and acks it when it answers 2xx", async () => {
    let answered = 0;
    const url = route("flaky", () =>
      ++answered <= 2 ? { status: 500, body: "not yet" } : { status: 200, body: "ok" },
    );
    await createQueue("push-flaky", { retry: RETRY_AT_ONCE, push: { url, timeout: 5 } });
    await send("push-flaky", [{ body: { order: 1 } }, { body: { order: 2 } }, { body: "three" }]);

    await drained("push-flaky", 3);

    const pushed = deliveriesTo(url);
    expect(pushed).toHaveLength(3);
    for (const [index, delivery] of pushed.entries()) {
      expect(delivery.messages.map((m) => m.body)).toEqual([{ order: 1 }, { order: 2 }, "three"]);
      expect(delivery.messages.map((m) => m.attempts)).toEqual([index + 1, index + 1, index + 1]);
      const target = { queue: "push-flaky", url };
      expect(await verify(delivery.raw, delivery.signature, KEYS, target)).toMatchObject({
        ok: true,
        keyId: SIGNING_KEY_ID,
      });
    }
    expect(JSON.parse(pushed[0].raw)).toMatchObject({ queue: "push-flaky", partition: 0 });
    const tampered = pushed[2].raw.replace('"order":2', '"order":20');
    const target = { queue: "push-flaky", url };
    expect(await verify(tampered, pushed[2].signature, KEYS, target)).toMatchObject({
      ok: false,
      code: "signature_mismatch",
    });
    const { body: dead } = await call<{ messages: unknown[] }>("GET", "/v1/queues/push-flaky/dlq");
    expect(dead.messages).toEqual([]);
  });

  it("keeps each key's messages in send order across lanes and failed batches", async () => {
    const keysOut = new Set<string>();
    const overlaps: string[] = [];
    const accepted: Delivery[] = [];
    let answered = 0;
    let out = 0;
    let mostOut = 0;
    const url = route("ordered", async (delivery) => {
      const keys = [...new Set(delivery.messages.map((m) => m.key ?? ""))];
      overlaps.push(...keys.filter((key) => keysOut.has(key)));
      for (const key of keys) keysOut.add(key);
      mostOut = Math.max(mostOut, ++out);
      await new Promise((r) => setTimeout(r, 20)); // a little work, so lanes overlap
      out--;
      for (const key of keys) keysOut.delete(key);
      if (++answered % 3 === 2) return { status: 503, body: "flaky" };
      accepted.push(delivery);
      return { status: 204 };
    });
    await createQueue("push-ordered", {
      ordering: "fifo",
      maxAttempts: 10,
      retry: RETRY_AT_ONCE,
      push: { url, batchSize: 2, concurrency: 3, timeout: 5 },
    });
    const keys = ["a", "b", "c"];
    for (let n = 1; n <= 6; n++) {
      await send(
        "push-ordered",
        keys.map((key) => ({ key, body: `${key}${n}` })),
      );
    }

    await drained("push-ordered", 18);

    expect(overlaps).toEqual([]);
    expect(mostOut, "batches out at once").toBeGreaterThan(1);
    for (const key of keys) {
      const delivered = accepted.flatMap((d) => d.messages).filter((m) => m.key === key);
      expect(delivered.map((m) => m.body)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `${key}${n}`));
    }
    expect(deliveriesTo(url).every((d) => d.messages.length <= 2)).toBe(true);
    expect(deliveriesTo(url).length).toBeGreaterThan(accepted.length);
  });

  it("dead-letters a message when its attempts run out, with the endpoint's answer as reason", async () => {
    const answer = `upstream unavailable: ${"retry later. ".repeat(30)}`;
    const url = route("broken", () => ({ status: 503, body: answer }));
    await createQueue("push-broken", {
      maxAttempts: 3,
      retry: RETRY_AT_ONCE,
      push: { url, timeout: 5 },
    });
    await send("push-broken", [{ body: { order: 7 } }]);

    const [dead] = await eventually("a dead letter", async () => {
      const { body } = await call<{ messages: DeadLetter[] }>("GET", "/v1/queues/push-broken/dlq");
      return body.messages.length > 0 ? body.messages : undefined;
    });

    const reason = `push: HTTP 503: ${answer.slice(0, 200).trim()}`;
    expect(dead.body).toEqual({ order: 7 });
    expect(dead.failures.map((f) => [f.attempt, f.by, f.reason])).toEqual([
      [1, "push", reason],
      [2, "push", reason],
      [3, "push", reason],
    ]);
    expect(deliveriesTo(url)).toHaveLength(3);
  });

  it("fails a batch the endpoint does not answer within push.timeout", async () => {
    const url = route("hung", () => undefined);
    await createQueue("push-hung", { maxAttempts: 1, push: { url, timeout: 1 } });
    await send("push-hung", [{ body: "waits forever" }]);

    const [dead] = await eventually("a dead letter", async () => {
      const { body } = await call<{ messages: DeadLetter[] }>("GET", "/v1/queues/push-hung/dlq");
      return body.messages.length > 0 ? body.messages : undefined;
    });

    expect(dead.failures.map((f) => [f.by, f.reason])).toEqual([
      ["push", "push: timed out after 1 s"],
    ]);
  });
});

interface DeadLetter {
  body: unknown;
  failures: { attempt: number; by: string; reason: string }[];
}
