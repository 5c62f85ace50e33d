import { describe, expect, it } from "vitest";
import { call, createKey, expectProblem, ORIGIN } from "./api.ts";

const APP = "https://app.example.com";

describe("CORS", () => {
  it("answers a preflight for any origin, without credentials", async () => {
    const response = await call("OPTIONS", "/v1/queues/orders/messages", {
      token: null,
      headers: {
        Origin: "https://anywhere.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://anywhere.example");
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("lets a key's listed origin read the answer", async () => {
    const token = await createKey(["consume"], ["*"], [APP]);
    const response = await call("GET", "/v1/queues", { token, headers: { Origin: APP } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    expect(response.headers.get("access-control-expose-headers")).toContain("Retry-After");
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("refuses a page from an origin the key does not list", async () => {
    const token = await createKey(["consume"], ["*"], [APP]);
    const response = await call("GET", "/v1/queues", {
      token,
      headers: { Origin: "https://evil.example" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    await expectProblem(response, 403, "origin_not_allowed");
  });

  it("lets a key with origin * serve any page", async () => {
    const token = await createKey(["consume"], ["*"], ["*"]);
    const response = await call("GET", "/v1/queues", {
      token,
      headers: { Origin: "https://other.example" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://other.example");
  });

  it("keeps the admin token to same-origin pages", async () => {
    const same = await call("GET", "/v1/queues", { headers: { Origin: ORIGIN } });
    expect(same.status).toBe(200);
    const cross = await call("GET", "/v1/queues", { headers: { Origin: APP } });
    await expectProblem(cross, 403, "origin_not_allowed");
  });

  it("lets any page read a 401, so it can tell a bad token from a network failure", async () => {
    const response = await call("GET", "/v1/queues", { token: "wrong", headers: { Origin: APP } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    await expectProblem(response, 401, "unauthorized");
  });

  it("adds no CORS headers to requests without an Origin", async () => {
    const response = await call("GET", "/v1/queues");
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});
