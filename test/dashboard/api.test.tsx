import { describe, expect, it, vi } from "vitest";
import { SluiceError } from "../../client/errors.ts";
import { createApi } from "../../dashboard/src/api.ts";

function respond(status: number, body?: unknown, type = "application/problem+json") {
  return vi.fn<typeof fetch>(
    async () =>
      new Response(body === undefined ? null : JSON.stringify(body), {
        status,
        headers: { "content-type": type },
      }),
  );
}

describe("API client", () => {
  it("sends dead-letter filters in the API's names, times as epoch ms", async () => {
    const fetch = respond(200, { messages: [], cursor: null }, "application/json");
    const api = createApi({ token: "t", fetch });
    await api.listDeadLetters("orders", {
      limit: 50,
      cursor: "c1",
      reason: "time out",
      q: "order-7",
      since: 1000,
      until: 2000,
    });
    await api.listDeadLetters("orders", { limit: 20 });
    expect(fetch.mock.calls.map(([url]) => url)).toEqual([
      `${location.origin}/v1/queues/orders/dlq?limit=50&cursor=c1&reason=time+out&q=order-7&since=1000&until=2000`,
      `${location.origin}/v1/queues/orders/dlq?limit=20`,
    ]);
  });

  it("sends the token as a Bearer header and the queue name encoded in the path", async () => {
    const fetch = respond(200, { messages: [], cursor: null }, "application/json");
    await createApi({ token: "s3cret", fetch }).listDeadLetters("orders.fifo", {
      limit: 10,
      reason: "x",
    });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(`${location.origin}/v1/queues/orders.fifo/dlq?limit=10&reason=x`);
    expect(new Headers(init?.headers).get("authorization")).toBe("Bearer s3cret");
  });

  it("posts redrive requests as JSON", async () => {
    const fetch = respond(200, { redriven: 2, remaining: 0 }, "application/json");
    const answer = await createApi({ token: "t", fetch }).redriveDeadLetters("orders", {
      ids: ["a", "b"],
      target: "retry",
    });
    expect(answer).toEqual({ redriven: 2, remaining: 0 });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(`${location.origin}/v1/queues/orders/dlq/redrive`);
    expect(init?.method).toBe("POST");
    expect(JSON.parse(String(init?.body))).toEqual({ ids: ["a", "b"], target: "retry" });
  });

  it("turns a problem+json refusal into a SluiceError with its code, title and detail", async () => {
    const fetch = respond(404, {
      type: "urn:sluice:problem:queue_not_found",
      title: "Not Found",
      status: 404,
      detail: "no queue named 'orders'",
      code: "queue_not_found",
    });
    const failure = await createApi({ token: "t", fetch })
      .getDeadLetter("orders", "m1")
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SluiceError);
    expect(failure).toMatchObject({
      status: 404,
      code: "queue_not_found",
      title: "Not Found",
      detail: "no queue named 'orders'",
    });
  });

  it("shows a refusal at once rather than retrying it", async () => {
    const fetch = respond(503, {
      title: "Service Unavailable",
      status: 503,
      detail: "a partition is overloaded",
      code: "overloaded",
    });
    await expect(createApi({ token: "t", fetch }).send("orders", "hello")).rejects.toMatchObject({
      status: 503,
      code: "overloaded",
    });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("reports a rejected token so the app can ask for another", async () => {
    const onUnauthorized = vi.fn();
    const fetch = respond(401, {
      title: "Unauthorized",
      status: 401,
      detail: "revoked",
      code: "unauthorized",
    });
    const failure = await createApi({ token: "old", fetch, onUnauthorized })
      .listQueues()
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SluiceError);
    expect(failure).toMatchObject({ status: 401, code: "unauthorized" });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("reports an unreachable server as status 0 with what to check", async () => {
    const offline = vi.fn<typeof fetch>(async () => {
      throw new TypeError("Failed to fetch");
    });
    const failure = await createApi({ token: "t", fetch: offline })
      .listQueues()
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({
      status: 0,
      code: "network_error",
      title: "Sluice could not be reached",
    });
    expect((failure as SluiceError).detail).toContain("Failed to fetch");
  });
});
