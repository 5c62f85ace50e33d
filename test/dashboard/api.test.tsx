import { describe, expect, it, vi } from "vitest";
import { ApiError, createApi, deadLetterSearch } from "../../dashboard/src/api.ts";

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
  it("names dead-letter filters as the API does: text becomes q, times stay epoch ms", () => {
    expect(
      deadLetterSearch({
        limit: 50,
        cursor: "c1",
        reason: "time out",
        text: "order-7",
        since: 1000,
        until: 2000,
      }),
    ).toBe("limit=50&cursor=c1&reason=time+out&q=order-7&since=1000&until=2000");
    expect(deadLetterSearch({ limit: 20 })).toBe("limit=20");
  });

  it("sends the token as a Bearer header and the queue name encoded in the path", async () => {
    const fetch = respond(200, { messages: [], cursor: null }, "application/json");
    await createApi({ token: "s3cret", fetch }).listDeadLetters("orders.fifo", {
      limit: 10,
      reason: "x",
    });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/v1/queues/orders.fifo/dlq?limit=10&reason=x");
    expect(new Headers(init?.headers).get("authorization")).toBe("Bearer s3cret");
  });

  it("posts redrive requests as JSON", async () => {
    const fetch = respond(200, { redriven: 2, remaining: 0 }, "application/json");
    const answer = await createApi({ token: "t", fetch }).redrive("orders", {
      ids: ["a", "b"],
      target: "retry",
    });
    expect(answer).toEqual({ redriven: 2, remaining: 0 });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/v1/queues/orders/dlq/redrive");
    expect(init?.method).toBe("POST");
    expect(JSON.parse(String(init?.body))).toEqual({ ids: ["a", "b"], target: "retry" });
  });

  it("turns a problem+json refusal into an ApiError with its code and detail", async () => {
    const fetch = respond(404, {
      type: "urn:sluice:problem:queue_not_found",
      title: "Not Found",
      status: 404,
      detail: "no queue named 'orders'",
      code: "queue_not_found",
    });
    const failure = await createApi({ token: "t", fetch })
      .getQueue("orders")
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({
      status: 404,
      code: "queue_not_found",
      detail: "no queue named 'orders'",
    });
  });

  it("reports a rejected token so the app can ask for another", async () => {
    const onUnauthorized = vi.fn();
    const fetch = respond(401, {
      title: "Unauthorized",
      status: 401,
      detail: "revoked",
      code: "unauthorized",
    });
    await expect(createApi({ token: "old", fetch, onUnauthorized }).listQueues()).rejects.toThrow(
      ApiError,
    );
    expect(onUnauthorized).toHaveBeenCalledWith(
      expect.objectContaining({ status: 401, code: "unauthorized" }),
    );
  });

  it("reports an unreachable server as status 0 with what to check", async () => {
    const offline = vi.fn<typeof fetch>(async () => {
      throw new TypeError("Failed to fetch");
    });
    const failure = await createApi({ token: "t", fetch: offline })
      .listQueues()
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ status: 0, code: "unreachable" });
    expect((failure as ApiError).detail).toContain("Failed to fetch");
  });
});
