import { describe, expect, it } from "vitest";
import { SluiceError } from "../../client/index.ts";
import { client, queueName } from "./support.ts";

const admin = client();
/** No retries: each refusal surfaces at once. */
const once = client({ retry: { attempts: 1 } });

async function failureOf(call: Promise<unknown>): Promise<SluiceError> {
  const failure = await call.then(
    () => expect.unreachable("the call succeeded"),
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(SluiceError);
  return failure as SluiceError;
}

describe("typed errors", () => {
  it("reports a bad input as validation, with the API's detail", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const failure = await failureOf(admin.send(queue, "late", { delaySeconds: 2_000_000 }));
    expect(failure).toMatchObject({
      kind: "validation",
      status: 400,
      code: "invalid_request",
      retryable: false,
    });
    expect(failure.detail).toContain("delaySeconds");
    expect(failure.message).toContain("invalid_request (400)");
  });

  it("reports an oversized message as validation (413)", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { maxMessageBytes: 10 });
    const failure = await failureOf(admin.send(queue, "far more than ten bytes"));
    expect(failure).toMatchObject({ kind: "validation", status: 413, code: "message_too_large" });
  });

  it("reports an unknown token and a missing scope as auth", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const stranger = client({ token: "sk_nobody" });
    expect(await failureOf(stranger.send(queue, 1))).toMatchObject({
      kind: "auth",
      status: 401,
      code: "unauthorized",
    });
    const { secret } = await admin.createKey({
      name: "reader",
      scopes: ["consume"],
      queues: [queue],
    });
    expect(await failureOf(client({ token: secret }).send(queue, 1))).toMatchObject({
      kind: "auth",
      status: 403,
      code: "forbidden",
    });
  });

  it("reports a missing queue as not_found and a shrinking change as conflict", async () => {
    expect(await failureOf(admin.getQueue(queueName()))).toMatchObject({
      kind: "not_found",
      code: "queue_not_found",
    });
    const queue = queueName();
    await admin.putQueue(queue, { partitions: 2 });
    expect(await failureOf(admin.putQueue(queue, { partitions: 1 }))).toMatchObject({
      kind: "conflict",
      status: 409,
      code: "partitions_shrink",
    });
  });

  it("reports a full queue as rate_limited with the Retry-After it was given", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { backlog: { soft: 1, hard: 1 } });
    await admin.send(queue, "fills it");
    const failure = await failureOf(once.send(queue, "no room"));
    expect(failure).toMatchObject({
      kind: "rate_limited",
      status: 429,
      code: "backlog_full",
      retryable: true,
    });
    expect(failure.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it("reads an answer that is not a problem (a proxy's error page) as a server error", async () => {
    const proxied = client({
      fetch: async () => new Response("<html>Bad Gateway</html>", { status: 502 }),
    });
    expect(await failureOf(proxied.listQueues())).toMatchObject({
      kind: "server",
      status: 502,
      code: "http_502",
      detail: "<html>Bad Gateway</html>",
      retryable: false,
    });
  });

  it("carries a title for people: the problem's, else the answer's status text", async () => {
    expect(await failureOf(admin.getQueue(queueName()))).toMatchObject({
      status: 404,
      title: "Not Found",
    });
    const proxied = client({
      fetch: async () =>
        new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    });
    expect(await failureOf(proxied.listQueues())).toMatchObject({ title: "Bad Gateway" });
    const bare = client({ fetch: async () => new Response("", { status: 502 }) });
    expect(await failureOf(bare.listQueues())).toMatchObject({
      title: "HTTP 502",
      detail: "HTTP 502",
    });
    const offline = client({
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
    });
    expect(await failureOf(offline.listQueues())).toMatchObject({
      status: 0,
      code: "network_error",
      title: "Sluice could not be reached",
    });
  });
});
