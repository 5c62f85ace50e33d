/**
 * A topic's message reaches two kinds of consumer, each with its own copy: an unchanged
 * `@aws-sdk/client-sqs` reading one subscribed queue through the SQS door, and an HTTP client
 * reading the other through the v1 API. Acking one copy leaves the other.
 */
import {
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { createQueue, ok, receive, stats } from "../worker/api.ts";
import { createCredentials, queueName, sqsClient } from "./support.ts";

describe("a topic fanned out to an SQS consumer and an HTTP consumer", () => {
  it("gives each its own copy of the published message", async () => {
    const sqsQueue = queueName("sqs");
    const httpQueue = queueName("http");
    await createQueue(sqsQueue);
    await createQueue(httpQueue);
    const topic = queueName("events");
    await ok("PUT", `/v1/topics/${topic}`, {
      json: { subscriptions: [{ queue: sqsQueue }, { queue: httpQueue }] },
    });
    await ok("POST", `/v1/topics/${topic}/messages`, {
      json: { body: { order: 42 }, headers: { kind: "created" }, dedupId: "order-42" },
    });

    const sqs = sqsClient(await createCredentials(["consume"], [sqsQueue]));
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: sqsQueue }));
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
      }),
    );
    expect(Messages).toHaveLength(1);
    expect(JSON.parse(Messages[0].Body as string)).toEqual({ order: 42 });
    expect(Messages[0].MessageAttributes?.kind?.StringValue).toBe("created");
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages[0].ReceiptHandle }),
    );

    const [copy] = await receive(httpQueue);
    expect(copy).toMatchObject({ body: { order: 42 }, headers: { kind: "created" } });
    await ok("POST", `/v1/queues/${httpQueue}/ack`, { json: { receipts: [copy.receipt] } });

    expect(await stats(sqsQueue)).toMatchObject({ ready: 0, leased: 0, acked: 1 });
    expect(await stats(httpQueue)).toMatchObject({ ready: 0, leased: 0, acked: 1 });
  });
});
