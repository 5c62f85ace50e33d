import { beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  call,
  callWithEnv,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
} from "./api.ts";

/**
 * Every route against every kind of caller. A route either lets the caller through (then it
 * answers `allowed`: its success status, or the 404 that proves it looked) or refuses with
 * 403 `forbidden`.
 */
type Need = "public" | "read" | "produce" | "consume" | "admin" | "keys";

interface RouteCase {
  route: string;
  need: Need;
  request: (queue: string) => { method: string; path: string; json?: unknown };
  allowed: number;
}

const ROUTES: RouteCase[] = [
  {
    route: "PUT /v1/queues/:q",
    need: "admin",
    allowed: 200,
    request: (q) => ({ method: "PUT", path: `/v1/queues/${q}`, json: {} }),
  },
  {
    route: "GET /v1/queues",
    need: "read",
    allowed: 200,
    request: () => ({ method: "GET", path: "/v1/queues" }),
  },
  {
    route: "GET /v1/queues/:q",
    need: "read",
    allowed: 200,
    request: (q) => ({ method: "GET", path: `/v1/queues/${q}` }),
  },
  {
    route: "DELETE /v1/queues/:q",
    need: "admin",
    allowed: 204,
    request: (q) => ({ method: "DELETE", path: `/v1/queues/${q}` }),
  },
  {
    route: "POST /v1/queues/:q/messages",
    need: "produce",
    allowed: 201,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/messages`, json: { body: 1 } }),
  },
  {
    route: "POST /v1/queues/:q/receive",
    need: "consume",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/receive`, json: {} }),
  },
  {
    route: "POST /v1/queues/:q/ack",
    need: "consume",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/ack`, json: { receipts: ["r"] } }),
  },
  {
    route: "POST /v1/queues/:q/nack",
    need: "consume",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/nack`, json: { receipts: ["r"] } }),
  },
  {
    route: "POST /v1/queues/:q/extend",
    need: "consume",
    allowed: 200,
    request: (q) => ({
      method: "POST",
      path: `/v1/queues/${q}/extend`,
      json: { receipts: ["r"], visibilityTimeout: 5 },
    }),
  },
  {
    route: "POST /v1/queues/:q/purge",
    need: "admin",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/purge` }),
  },
  {
    route: "GET /v1/queues/:q/messages",
    need: "consume",
    allowed: 200,
    request: (q) => ({ method: "GET", path: `/v1/queues/${q}/messages` }),
  },
  {
    route: "GET /v1/queues/:q/dlq",
    need: "consume",
    allowed: 200,
    request: (q) => ({ method: "GET", path: `/v1/queues/${q}/dlq` }),
  },
  {
    route: "GET /v1/queues/:q/dlq/:id",
    need: "consume",
    allowed: 404,
    request: (q) => ({ method: "GET", path: `/v1/queues/${q}/dlq/nope` }),
  },
  {
    route: "POST /v1/queues/:q/dlq/redrive",
    need: "admin",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/dlq/redrive`, json: { all: true } }),
  },
  {
    route: "DELETE /v1/queues/:q/dlq/:id",
    need: "admin",
    allowed: 404,
    request: (q) => ({ method: "DELETE", path: `/v1/queues/${q}/dlq/nope` }),
  },
  {
    route: "POST /v1/queues/:q/dlq/purge",
    need: "admin",
    allowed: 200,
    request: (q) => ({ method: "POST", path: `/v1/queues/${q}/dlq/purge` }),
  },
  {
    route: "POST /v1/keys",
    need: "keys",
    allowed: 201,
    request: () => ({
      method: "POST",
      path: "/v1/keys",
      json: { name: "made", scopes: ["consume"], queues: ["x"] },
    }),
  },
  {
    route: "GET /v1/keys",
    need: "keys",
    allowed: 200,
    request: () => ({ method: "GET", path: "/v1/keys" }),
  },
  {
    route: "DELETE /v1/keys/:id",
    need: "keys",
    allowed: 404,
    request: () => ({ method: "DELETE", path: "/v1/keys/key_unknown" }),
  },
  {
    route: "GET /health",
    need: "public",
    allowed: 200,
    request: () => ({ method: "GET", path: "/health" }),
  },
  {
    route: "GET /v1/openapi.json",
    need: "public",
    allowed: 200,
    request: () => ({ method: "GET", path: "/v1/openapi.json" }),
  },
  {
    route: "GET /metrics",
    need: "read",
    allowed: 200,
    request: () => ({ method: "GET", path: "/metrics" }),
  },
];

/** The callers, and which needs each one meets on queues named `mx-*`. */
const CALLERS: { caller: string; key?: { scopes: string[]; queues: string[] }; meets: Need[] }[] = [
  { caller: "the admin token", meets: ["public", "read", "produce", "consume", "admin", "keys"] },
  {
    caller: "an admin key on *",
    key: { scopes: ["admin"], queues: ["*"] },
    meets: ["public", "read", "produce", "consume", "admin", "keys"],
  },
  {
    caller: "an admin key on mx-*",
    key: { scopes: ["admin"], queues: ["mx-*"] },
    meets: ["public", "read", "produce", "consume", "admin"],
  },
  {
    caller: "a produce key",
    key: { scopes: ["produce"], queues: ["mx-*"] },
    meets: ["public", "read", "produce"],
  },
  {
    caller: "a consume key",
    key: { scopes: ["consume"], queues: ["mx-*"] },
    meets: ["public", "read", "consume"],
  },
  {
    caller: "a produce+consume key",
    key: { scopes: ["produce", "consume"], queues: ["*"] },
    meets: ["public", "read", "produce", "consume"],
  },
  {
    caller: "a key for other queues",
    key: { scopes: ["produce", "consume", "admin"], queues: ["other-*"] },
    meets: ["public"],
  },
];

/** Routes that answer for every caller, listing only what the caller may see. */
const UNSCOPED = new Set(["GET /v1/queues", "GET /metrics"]);

const tokens = new Map<string, string>();

beforeAll(async () => {
  for (const { caller, key } of CALLERS) {
    tokens.set(caller, key ? await createKey(key.scopes, key.queues) : ADMIN_TOKEN);
  }
});

describe("scopes", () => {
  const cells = CALLERS.flatMap((caller) => ROUTES.map((route) => ({ ...caller, ...route })));
  it.each(cells)("$caller → $route", async ({ caller, meets, need, route, request, allowed }) => {
    const queue = queueName("mx");
    await createQueue(queue);
    const { method, path, json } = request(queue);
    const response = await call(method, path, { token: tokens.get(caller), json });
    if (meets.includes(need) || UNSCOPED.has(route)) {
      expect(response.status, await response.clone().text()).toBe(allowed);
      if (allowed === 404)
        expect(((await response.json()) as { code: string }).code).not.toBe("forbidden");
    } else {
      await expectProblem(response, 403, "forbidden");
    }
  });

  it("lists only the queues a key's patterns match", async () => {
    const mine = queueName("mine");
    const theirs = queueName("theirs");
    await createQueue(mine);
    await createQueue(theirs);
    const token = await createKey(["consume"], ["mine-*"]);
    const { queues } = await ok("GET", "/v1/queues", { token });
    const names = queues.map((queue: { name: string }) => queue.name);
    expect(names).toContain(mine);
    expect(names).not.toContain(theirs);
  });

  it("needs produce on the target of a redrive", async () => {
    const source = queueName("mx");
    const target = queueName("elsewhere");
    await createQueue(source);
    await createQueue(target);
    const token = await createKey(["admin"], ["mx-*"]);
    const response = await call("POST", `/v1/queues/${source}/dlq/redrive`, {
      token,
      json: { all: true, target },
    });
    const problem = await expectProblem(response, 403, "forbidden");
    expect(problem.detail).toContain(target);
  });

  it("refuses a key before saying whether a queue exists", async () => {
    const token = await createKey(["consume"], ["mine-*"]);
    await expectProblem(await call("GET", "/v1/queues/not-there", { token }), 403, "forbidden");
    await expectProblem(
      await call("GET", "/v1/queues/mine-not-there", { token }),
      404,
      "queue_not_found",
    );
  });
});

describe("authentication", () => {
  it("answers a missing token with 401 and WWW-Authenticate", async () => {
    const response = await call("GET", "/v1/queues", { token: null });
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    await expectProblem(response, 401, "unauthorized");
  });

  it("answers an unknown token with 401", async () => {
    const response = await call("GET", "/v1/queues", { token: "sk_not-a-real-secret" });
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    await expectProblem(response, 401, "unauthorized");
  });

  it("stops accepting a key as soon as it is revoked", async () => {
    const created = await ok("POST", "/v1/keys", {
      json: { name: "short-lived", scopes: ["consume"], queues: ["*"] },
    });
    await ok("GET", "/v1/queues", { token: created.secret });
    expect((await call("DELETE", `/v1/keys/${created.id}`)).status).toBe(204);
    await expectProblem(
      await call("GET", "/v1/queues", { token: created.secret }),
      401,
      "unauthorized",
    );
  });

  it("accepts no admin token when SLUICE_ADMIN_TOKEN is unset", async () => {
    const response = await callWithEnv("GET", "/v1/queues", { SLUICE_ADMIN_TOKEN: "" });
    await expectProblem(response, 401, "unauthorized");
  });
});

describe("keys", () => {
  it("shows the secret once and lists keys without it", async () => {
    const created = await ok("POST", "/v1/keys", {
      json: {
        name: "billing",
        scopes: ["produce"],
        queues: ["billing-*"],
        origins: ["https://app.example.com"],
      },
    });
    expect(created).toMatchObject({
      id: expect.any(String),
      secret: expect.any(String),
      name: "billing",
      scopes: ["produce"],
      queues: ["billing-*"],
      origins: ["https://app.example.com"],
    });
    const { keys } = await ok("GET", "/v1/keys");
    const listed = keys.find((key: { id: string }) => key.id === created.id);
    expect(listed).toMatchObject({ name: "billing" });
    expect(listed).not.toHaveProperty("secret");
  });

  it("answers 404 for revoking an unknown key", async () => {
    await expectProblem(await call("DELETE", "/v1/keys/key_missing"), 404, "key_not_found");
  });
});
