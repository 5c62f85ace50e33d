/**
 * Request size limits hold against a caller who never stops sending: a declared length over
 * the limit is refused before the body is read, and a body without a declared length is cut
 * off just past the limit. Nothing is stored either way.
 */
import { describe, expect, it } from "vitest";
import { MAX_REQUEST_BYTES } from "../../worker/request.ts";
import { call, createQueue, expectProblem, queueName, stats } from "../worker/api.ts";

const CHUNK_BYTES = 64 * 1024;

/** A body that never ends, counting what the server pulled from it. */
function endlessBody() {
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x61);
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      counter.pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, counter };
}

describe("request size limits", () => {
  const queue = queueName("big");
  const routes = [
    ["a raw send", () => `/v1/queues/${queue}/messages`, "application/octet-stream"],
    ["a JSON send", () => `/v1/queues/${queue}/messages`, "application/json"],
    ["a receive", () => `/v1/queues/${queue}/receive`, "application/json"],
    ["an ack", () => `/v1/queues/${queue}/ack`, "application/json"],
    ["a key", () => "/v1/keys", "application/json"],
  ] as const;

  it.each(routes)(
    "refuse %s declaring 10 GB at once, without reading the endless body",
    async (_, path, contentType) => {
      await createQueue(queue);
      const { stream, counter } = endlessBody();
      const started = Date.now();
      const response = await call("POST", path(), {
        body: stream,
        headers: { "Content-Type": contentType, "Content-Length": String(10 * 1024 ** 3) },
      });
      const problem = await expectProblem(response, 413, "request_too_large");
      expect(problem.detail).toContain(String(MAX_REQUEST_BYTES));
      expect(Date.now() - started).toBeLessThan(2_000);
      // At most what the transport buffers on its own; nowhere near the limit.
      expect(counter.pulled).toBeLessThan(MAX_REQUEST_BYTES / 4);
      expect((await stats(queue)).sent).toBe(0);
    },
  );

  it("cut off a body that declares no length just past the limit", async () => {
    await createQueue(queue);
    const { stream, counter } = endlessBody();
    const response = await call("POST", `/v1/queues/${queue}/messages`, {
      body: stream,
      headers: { "Content-Type": "application/octet-stream" },
    });
    await expectProblem(response, 413, "request_too_large");
    expect(counter.pulled).toBeGreaterThan(MAX_REQUEST_BYTES);
    expect(counter.pulled).toBeLessThan(MAX_REQUEST_BYTES + 16 * CHUNK_BYTES);
    expect((await stats(queue)).sent).toBe(0);
  });

  it("refuse an SQS request declaring 10 GB at once", async () => {
    const { stream, counter } = endlessBody();
    const response = await call("POST", "/", {
      body: stream,
      headers: {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.SendMessage",
        "Content-Length": String(10 * 1024 ** 3),
      },
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({
      __type: "com.amazonaws.sqs#RequestEntityTooLarge",
    });
    expect(counter.pulled).toBeLessThan(MAX_REQUEST_BYTES / 4);
  });
});
