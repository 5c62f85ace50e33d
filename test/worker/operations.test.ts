/**
 * The operation table (worker/operations.ts) is the one description of the API: the router,
 * the OpenAPI document, the RPC entrypoint, the access check and the shed classes are read
 * from it. These tests hold each of them to the table: every entry is routed, documented and
 * scoped, and nothing else is.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Principal } from "../../worker/auth.ts";
import { routes } from "../../worker/doors/http/router.ts";
import { RPC_OPERATIONS, SluiceRpc } from "../../worker/doors/rpc.ts";
import { invoke, isPublicPath, OPERATIONS, operations } from "../../worker/operations.ts";
import { PATH_PARAMETERS } from "../../worker/request.ts";
import { call, createKey, expectProblem } from "./api.ts";

const described = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
const TABLE = OPERATIONS.map((op) => described(op.method, op.path));

/** A path the operation answers: each parameter filled in. */
function concrete(path: string): string {
  return path.replace(/:(\w+)/g, (_, name) => `${name}-1`);
}

// biome-ignore lint/suspicious/noExplicitAny: the document is plain JSON
async function openApi(): Promise<any> {
  return (await call("GET", "/v1/openapi.json", { token: null })).json();
}

describe("the operation table", () => {
  it("lists each method and path once", () => {
    expect(new Set(TABLE).size).toBe(TABLE.length);
  });

  it("is what the router routes, in its order, and nothing else", () => {
    expect(routes.map(([method, , , path]) => described(method, path ?? ""))).toEqual(TABLE);
  });

  it("is what the OpenAPI document describes, and nothing else", async () => {
    const doc = await openApi();
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((method) =>
        described(method, path.replace(/\{(\w+)\}/g, ":$1")),
      ),
    );
    expect(documented.sort()).toEqual([...TABLE].sort());
    for (const op of OPERATIONS) {
      const entry = doc.paths[op.path.replace(/:(\w+)/g, "{$1}")][op.method.toLowerCase()];
      expect(entry.summary).toBe(op.summary);
      expect(Object.keys(entry.responses).sort()).toEqual(
        [...Object.keys(op.answers), "default"].sort(),
      );
      expect(entry.security, op.path).toEqual(op.scope === "public" ? [] : undefined);
    }
  });

  it("gives every entry a scope, a shed class and, unless public, a service call to check", () => {
    for (const op of OPERATIONS) {
      expect(["public", "read", "produce", "consume", "admin"]).toContain(op.scope);
      expect(["produce", "consume", "essential"]).toContain(op.shed);
      const calls = [op.act, op.actFor].filter((act) => act !== undefined);
      expect(calls.length, `${op.method} ${op.path}`).toBe(op.scope === "public" ? 0 : 1);
    }
  });

  it("names only path parameters the router checks and the document describes", () => {
    for (const op of OPERATIONS) {
      for (const [, name] of op.path.matchAll(/:(\w+)/g)) {
        expect(Object.keys(PATH_PARAMETERS), op.path).toContain(name);
      }
    }
  });

  it("makes public exactly the paths of public entries", () => {
    for (const op of OPERATIONS)
      expect(isPublicPath(concrete(op.path))).toBe(op.scope === "public");
    expect(isPublicPath("/health/")).toBe(true);
    expect(isPublicPath("/v1/nothing-here")).toBe(false);
  });

  it("sheds sends first and never sheds acks, nacks or extends", () => {
    expect(operations.send.shed).toBe("produce");
    for (const op of [operations.ack, operations.nack, operations.extend]) {
      expect(op.shed).toBe("essential");
    }
  });
});

describe("the RPC entrypoint", () => {
  it("has a method for each entry of RPC_OPERATIONS, and no other", () => {
    const methods = Object.getOwnPropertyNames(SluiceRpc.prototype).filter(
      (name) => name !== "constructor",
    );
    expect(methods.sort()).toEqual(Object.keys(RPC_OPERATIONS).sort());
  });

  it("performs only operations of the table", () => {
    for (const op of Object.values(RPC_OPERATIONS)) expect(OPERATIONS).toContain(op);
  });
});

describe("access, as the table says", () => {
  it("refuses every entry on a queue to a key whose patterns miss it, naming the entry's scope", async () => {
    const key = {
      id: "key_0000000000000001",
      name: "elsewhere",
      scopes: ["produce", "consume", "admin"],
      queues: ["elsewhere-*"],
      topics: ["elsewhere-*"],
      origins: [],
      createdAt: 0,
    };
    const principal = { kind: "key", key } as unknown as Principal;
    for (const op of OPERATIONS.filter((entry) => entry.path.includes(":q"))) {
      const outcome = await invoke(op, env, principal, "mine");
      const scope = op.scope === "read" ? "any scope" : `the '${op.scope}' scope`;
      expect(outcome, `${op.method} ${op.path}`).toEqual({
        ok: false,
        code: "forbidden",
        detail: `API key 'elsewhere' does not have ${scope} on queue 'mine'`,
      });
    }
  });

  it("refuses every entry on a topic to a key whose topic patterns miss it", async () => {
    const key = {
      id: "key_0000000000000002",
      name: "elsewhere",
      scopes: ["produce", "consume", "admin"],
      queues: ["*"],
      topics: ["elsewhere-*"],
      origins: [],
      createdAt: 0,
    };
    const principal = { kind: "key", key } as unknown as Principal;
    const onTopics = OPERATIONS.filter((entry) => entry.path.includes(":t"));
    expect(onTopics.length).toBeGreaterThan(0);
    for (const op of onTopics) {
      const outcome = await invoke(op, env, principal, "mine");
      const scope = op.scope === "read" ? "any scope" : `the '${op.scope}' scope`;
      expect(outcome, `${op.method} ${op.path}`).toEqual({
        ok: false,
        code: "forbidden",
        detail: `API key 'elsewhere' does not have ${scope} on topic 'mine' (its topics patterns)`,
      });
    }
  });

  it("lets a listing answer any key, with only what it may read", async () => {
    const token = await createKey(["consume"], ["nothing-matches-*"]);
    const response = await call("GET", "/v1/queues", { token });
    expect(await response.json()).toEqual({ queues: [] });
  });

  it("needs admin on every queue for the key endpoints", async () => {
    const token = await createKey(["admin"], ["some-*"]);
    await expectProblem(await call("GET", "/v1/keys", { token }), 403, "forbidden");
  });
});
