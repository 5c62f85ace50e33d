/**
 * W3C trace context travels with a message on every door: sent as HTTP headers, as message
 * headers, through the service binding or as SQS's AWSTraceHeader, and handed back on receive,
 * on the SQS door and by a dead letter, with the times a consumer's span needs.
 */
import { GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { bindingFor } from "../rpc/binding.ts";
import { adminClient } from "../sqs/support.ts";
import { call, createQueue, ok, queueName, receive, send, settleDeadLetters } from "./api.ts";

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const XRAY = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1";
const OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

async function queue(config: Record<string, unknown> = {}) {
  const name = queueName("trace");
  await createQueue(name, config);
  return name;
}

describe("trace context", () => {
  it("takes traceparent and tracestate from a send's HTTP headers and hands them back on receive", async () => {
    const name = await queue();
    const sent = await call("POST", `/v1/queues/${name}/messages`, {
      json: { messages: [{ body: 1 }, { body: 2, headers: { traceparent: OTHER } }] },
      headers: { traceparent: PARENT, tracestate: "vendor=abc" },
    });
    expect(sent.status).toBe(201);
    const before = Date.now();
    const messages = await receive(name, { max: 10, visibilityTimeout: 60 });
    const byBody = new Map(messages.map((m) => [m.body, m]));
    expect(byBody.get(1).headers).toEqual({ traceparent: PARENT, tracestate: "vendor=abc" });
    // A message's own trace context wins over the request's.
    expect(byBody.get(2).headers).toEqual({ traceparent: OTHER });
    // Enqueue, lease and settle-by times, for a consumer's span.
    const [first] = messages;
    expect(first.sentAt).toBeLessThanOrEqual(first.leasedAt);
    expect(first.leasedAt).toBeGreaterThanOrEqual(before);
    expect(first.leaseExpiresAt - first.leasedAt).toBe(60_000);
  });

  it("carries the trace context of a raw send, and ignores an invalid traceparent", async () => {
    const name = await queue();
    await ok("POST", `/v1/queues/${name}/messages`, {
      body: "plain",
      headers: { "Content-Type": "text/plain", traceparent: PARENT },
    });
    await ok("POST", `/v1/queues/${name}/messages`, {
      json: { body: "untraced" },
      headers: { traceparent: "00-not-a-trace-01", tracestate: "a=1" },
    });
    const messages = await receive(name, { max: 10 });
    expect(messages.map((m) => [m.body, m.headers])).toEqual([
      ["plain", { traceparent: PARENT }],
      ["untraced", {}],
    ]);
  });

  it("travels through the service binding as message headers", async () => {
    const name = await queue();
    const key = await ok("POST", "/v1/keys", {
      json: { name: "bound", scopes: ["produce", "consume"], queues: [name] },
    });
    const binding = bindingFor(key.id);
    await binding.send(name, {
      body: { n: 1 },
      headers: { traceparent: PARENT, tracestate: "v=1" },
    });
    const received = await binding.receive(name, { max: 1 });
    expect(received).toMatchObject({
      ok: true,
      messages: [
        { headers: { traceparent: PARENT, tracestate: "v=1" }, leasedAt: expect.any(Number) },
      ],
    });
  });

  it("turns SQS's AWSTraceHeader into a traceparent, and a traceparent into AWSTraceHeader", async () => {
    const sqs = adminClient();
    const name = await queue();
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: "from sqs",
        MessageSystemAttributes: { AWSTraceHeader: { DataType: "String", StringValue: XRAY } },
      }),
    );
    const [fromSqs] = await receive(name);
    expect(fromSqs.headers.traceparent).toBe(PARENT);
    await ok("POST", `/v1/queues/${name}/ack`, { json: { receipts: [fromSqs.receipt] } });

    await send(name, [{ body: "from http", headers: { traceparent: PARENT } }]);
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MessageSystemAttributeNames: ["AWSTraceHeader"],
        MessageAttributeNames: ["All"],
      }),
    );
    expect(Messages?.[0].Attributes).toEqual({ AWSTraceHeader: XRAY });
  });

  it("keeps a dead letter's trace context", async () => {
    const name = await queue({ maxAttempts: 1 });
    await send(name, [{ body: "doomed", headers: { traceparent: PARENT, tracestate: "v=1" } }]);
    const [leased] = await receive(name);
    await ok("POST", `/v1/queues/${name}/nack`, { json: { receipts: [leased.receipt] } });
    await settleDeadLetters(name);
    const [dead] = (await ok("GET", `/v1/queues/${name}/dlq`)).messages;
    expect(dead.headers).toEqual({ traceparent: PARENT, tracestate: "v=1" });
  });
});
