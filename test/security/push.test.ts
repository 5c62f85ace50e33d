/**
 * Push signatures bind a delivery to its queue and its URL, so a signed body is worth nothing
 * anywhere else; and only an admin of every queue (or a host on SLUICE_PUSH_HOSTS) may say
 * where a queue's messages are pushed.
 */
import { describe, expect, it } from "vitest";
import { verify } from "../../client/verify.ts";
import type { LeasedMessage } from "../../core/contract.ts";
import { deliver, type PushConfig } from "../../durable-objects/push.ts";
import {
  callWithEnv,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
} from "../worker/api.ts";

const KEYS = { next: "next-push-signing-secret" };
const PUSH: PushConfig = {
  url: "https://orders.example.com/hook",
  batchSize: 10,
  timeout: 5,
  concurrency: 1,
};

const MESSAGE: LeasedMessage = {
  id: "m1",
  receipt: "r1",
  body: '{"total":12}',
  contentType: "application/json",
  headers: {},
  key: null,
  priority: 0,
  attempts: 1,
  sentAt: 0,
  partition: 0,
  seq: 1,
  leaseExpiresAt: 0,
};

/** What `deliver` sends for a batch of queue `orders`: the raw body and its signature. */
async function delivered(): Promise<{ raw: string; signature: string }> {
  let sent: { raw: string; signature: string } | undefined;
  const fetcher = (async (_url: string, init: RequestInit) => {
    const headers = init.headers as Record<string, string>;
    sent = { raw: init.body as string, signature: headers["Sluice-Signature"] };
    return new Response(null, { status: 204 });
  }) as unknown as typeof fetch;
  const signing = { ok: true as const, key: { id: "next", secret: KEYS.next } };
  const result = await deliver(
    PUSH,
    { queue: "orders", partition: 0, messages: [MESSAGE] },
    signing,
    fetcher,
  );
  expect(result).toEqual({ ok: true });
  if (sent === undefined) throw new Error("nothing was sent");
  return sent;
}

describe("finding 5: push signatures", () => {
  it("finding 5: a push signature verifies only for the queue and the URL it was made for", async () => {
    const { raw, signature } = await delivered();
    expect(await verify(raw, signature, KEYS, { queue: "orders", url: PUSH.url })).toMatchObject({
      ok: true,
      keyId: "next",
    });
    for (const [queue, url] of [
      ["payments", PUSH.url],
      ["orders", "https://payments.example.com/hook"],
    ]) {
      expect(await verify(raw, signature, KEYS, { queue, url }), `${queue} ${url}`).toMatchObject({
        ok: false,
        code: "signature_mismatch",
      });
    }
  });
});

describe("finding 5: who may set push.url", () => {
  /** Sets a push URL on `host` for a queue, as a key with the admin scope on `patterns`. */
  async function pointPush(host: string, patterns: "the queue" | "every queue", allowed?: string) {
    const queue = queueName("orders");
    if (patterns === "the queue") await createQueue(queue);
    const token = await createKey(["admin"], patterns === "the queue" ? [queue] : ["*"]);
    const response = await callWithEnv(
      "PUT",
      `/v1/queues/${queue}`,
      { SLUICE_PUSH_HOSTS: allowed },
      { token, json: { push: { url: `https://${host}/hook` } } },
    );
    return { queue, response };
  }

  it("finding 5: an admin of one queue may not point its push at another team's host", async () => {
    const { queue, response } = await pointPush("payments.example.com", "the queue");
    const problem = await expectProblem(response, 403, "forbidden");
    expect(problem.detail).toContain("SLUICE_PUSH_HOSTS");
    expect((await ok("GET", `/v1/queues/${queue}`)).config.push).toBeUndefined();
  });

  it("finding 5: an admin of one queue may point its push at a host on SLUICE_PUSH_HOSTS", async () => {
    const { queue, response } = await pointPush(
      "orders.example.com",
      "the queue",
      "hooks.example.com, orders.example.com",
    );
    expect(response.status, await response.clone().text()).toBe(200);
    const { config } = await ok("GET", `/v1/queues/${queue}`);
    expect(config.push.url).toBe("https://orders.example.com/hook");
  });

  it("finding 5: an admin of every queue may point push anywhere", async () => {
    const { response } = await pointPush("anywhere.example.com", "every queue");
    expect(response.status, await response.clone().text()).toBe(201);
  });
});
