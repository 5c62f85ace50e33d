/**
 * The AWS SDK for JavaScript, exactly as an application uses it in Node (its own HTTP
 * handler, signer and checksum checks), against the real Worker (`wrangler dev`): only the
 * endpoint is changed. The steps share one server and queue and build on each other.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "./support/dev-server.ts";
import { adminCall } from "./support/http.ts";

let server: DevServer;
let sqs: SQSClient;
let url: string;

beforeAll(async () => {
  server = await startDevServer();
  const key = await adminCall(server)<{ id: string; secret: string }>("POST", "/v1/keys", {
    name: "e2e sqs",
    scopes: ["admin"],
    queues: ["*"],
  });
  sqs = new SQSClient({
    region: "us-east-1",
    endpoint: server.url,
    credentials: { accessKeyId: key.body.id, secretAccessKey: key.body.secret },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await server?.stop();
});

describe("the AWS SDK in Node against wrangler dev", () => {
  it("creates a FIFO queue", async () => {
    ({ QueueUrl: url = "" } = await sqs.send(
      new CreateQueueCommand({
        QueueName: "e2e-jobs.fifo",
        Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" },
      }),
    ));
    expect(url).toBe(`${server.url}/000000000000/e2e-jobs.fifo`);
  });

  it("sends a batch with attributes; a content-based duplicate is stored once", async () => {
    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: ["first", "second", "first"].map((body, index) => ({
          Id: `m${index}`,
          MessageBody: body,
          MessageGroupId: "jobs",
          MessageAttributes: { attempt: { DataType: "Number", StringValue: String(index) } },
        })),
      }),
    );
    expect(answer.Failed ?? []).toEqual([]);
    expect(answer.Successful?.[2].MessageId).toBe(answer.Successful?.[0].MessageId);
  });

  it("receives the group in order, gives one back and deletes the rest", async () => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((message) => message.Body)).toEqual(["first", "second"]);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: Messages[1].ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [{ Id: "first", ReceiptHandle: Messages[0].ReceiptHandle }],
      }),
    );
    expect(deleted.Successful).toEqual([{ Id: "first" }]);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }),
    );
    expect(Attributes).toMatchObject({
      ApproximateNumberOfMessages: "1",
      ApproximateNumberOfMessagesNotVisible: "0",
      FifoQueue: "true",
    });
  });

  it("deletes the queue", async () => {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    const missing = await sqs
      .send(new GetQueueAttributesCommand({ QueueUrl: url }))
      .catch((error) => error);
    expect(missing.name).toBe("QueueDoesNotExist");
  });
});
