/**
 * Who may do what, beyond the scope matrix. Every scope against every route, for the admin
 * token and keys of each kind, is in test/worker/auth.test.ts ("scopes": 7 callers × 22
 * routes); the SQS door's scopes in test/sqs/auth.test.ts, the service binding's in
 * test/rpc/rpc.test.ts, WebSocket subscriptions' in test/worker/subscribe.test.ts. Here:
 * queue patterns at their edges, revocation across isolates within the key cache's time,
 * and CORS origins matched exactly, before anything is done.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../core/hex.ts";
import { KEY_CACHE_MS, matchesPattern } from "../../worker/auth.ts";
import {
  call,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
  stats,
} from "../worker/api.ts";

const APP = "https://app.example.com";

function catalog() {
  return env.CATALOG.getByName("catalog");
}

describe("queue patterns", () => {
  it.each([
    ["orders", "orders", true],
    ["orders", "orders-eu", false],
    ["orders", "my-orders", false],
    ["orders-*", "orders-eu", true],
    ["orders-*", "orders", false],
    ["*-eu", "billing-eu", true],
    ["*-eu", "billing-eu-2", false],
    ["*.fifo", "jobs.fifo", true],
    ["*.fifo", "jobs", false],
    ["a.fifo", "axfifo", false],
    ["o*s", "orders", true],
    ["o*s", "ordersx", false],
    ["*", "anything_at-all.fifo", true],
  ])("pattern %s %s queue %s", (pattern, queue, matches) => {
    expect(matchesPattern(pattern, queue)).toBe(matches);
  });

  it("holds a key to its patterns on every operation, wherever the queue is named", async () => {
    const mine = queueName("own");
    const near = `${mine}x`;
    await createQueue(mine);
    await createQueue(near);
    const token = await createKey(["produce", "consume"], [mine]);

    expect(
      (await call("POST", `/v1/queues/${mine}/messages`, { token, json: { body: 1 } })).status,
    ).toBe(201);
    await expectProblem(
      await call("POST", `/v1/queues/${near}/messages`, { token, json: { body: 1 } }),
      403,
      "forbidden",
    );
    await expectProblem(
      await call("POST", `/v1/queues/${near}/receive`, { token, json: {} }),
      403,
      "forbidden",
    );
    await expectProblem(await call("GET", `/v1/queues/${near}/dlq`, { token }), 403, "forbidden");
    expect((await stats(near)).sent).toBe(0);
  });

  it("refuses patterns that are not names and globs", async () => {
    for (const pattern of ["orders|billing", "(.*)", "[a-z]+", "orders/../x", ""]) {
      await expectProblem(
        await call("POST", "/v1/keys", {
          json: { name: "sneaky", scopes: ["consume"], queues: [pattern] },
        }),
        400,
        "invalid_request",
      );
    }
  });
});

describe("revoked keys", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("are refused by the catalog at once", async () => {
    const key = await ok("POST", "/v1/keys", {
      json: { name: "revoked", scopes: ["consume"], queues: ["*"] },
    });
    const hash = await sha256Hex(key.secret);
    expect(await catalog().authenticate(hash)).toMatchObject({ id: key.id });
    expect(await catalog().deleteKey(key.id)).toBe(true);
    expect(await catalog().authenticate(hash)).toBeNull();
  });

  it(`are refused by a router that cached them within ${KEY_CACHE_MS / 1000} s`, async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const key = await ok("POST", "/v1/keys", {
      json: { name: "cached", scopes: ["consume"], queues: ["*"] },
    });
    // The key is now in this isolate's cache; revoking it through the catalog directly is
    // what another isolate's revocation looks like from here.
    await ok("GET", "/v1/queues", { token: key.secret });
    await catalog().deleteKey(key.id);

    vi.advanceTimersByTime(KEY_CACHE_MS - 1);
    expect((await call("GET", "/v1/queues", { token: key.secret })).status).toBe(200);
    vi.advanceTimersByTime(1);
    await expectProblem(
      await call("GET", "/v1/queues", { token: key.secret }),
      401,
      "unauthorized",
    );
  });
});

describe("CORS origins", () => {
  it.each([
    "https://app.example.com.evil.example",
    "https://evil.example/https://app.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://APP.example.com.evil.example",
    "null",
  ])("refuses a page from %s for a key that lists only %s", async (origin) => {
    const token = await createKey(["consume"], ["*"], [APP]);
    const response = await call("GET", "/v1/queues", { token, headers: { Origin: origin } });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    await expectProblem(response, 403, "origin_not_allowed");
  });

  it("refuses a page from another origin before the request does anything", async () => {
    const queue = queueName("cors");
    await createQueue(queue);
    const token = await createKey(["produce"], ["*"], [APP]);
    const response = await call("POST", `/v1/queues/${queue}/messages`, {
      token,
      json: { body: "from evil" },
      headers: { Origin: "https://evil.example" },
    });
    await expectProblem(response, 403, "origin_not_allowed");
    expect((await stats(queue)).sent).toBe(0);
  });

  it("refuses a WebSocket subscription from a page the key does not list", async () => {
    const queue = queueName("cors");
    await createQueue(queue);
    const token = await createKey(["consume"], ["*"], [APP]);
    const response = await call("GET", `/v1/queues/${queue}/subscribe`, {
      token: null,
      headers: {
        Origin: "https://evil.example",
        Upgrade: "websocket",
        "Sec-WebSocket-Protocol": `sluice.v1, bearer.${token}`,
      },
    });
    expect(response.webSocket).toBeNull();
    await expectProblem(response, 403, "origin_not_allowed");
  });

  it("keeps a key without origins to pages of Sluice's own origin", async () => {
    const token = await createKey(["consume"], ["*"]);
    await expectProblem(
      await call("GET", "/v1/queues", { token, headers: { Origin: APP } }),
      403,
      "origin_not_allowed",
    );
  });
});
