import {
  CreateQueueCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { adminClient, queueName } from "./support.ts";

const sqs = adminClient();

async function createFifoQueue(Attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${queueName("fifo")}.fifo`,
      Attributes: { FifoQueue: "true", ...Attributes },
    }),
  );
  return QueueUrl as string;
}

async function receive(QueueUrl: string, MaxNumberOfMessages = 10): Promise<Message[]> {
  const answer = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages,
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return answer.Messages ?? [];
}

async function sendAll(QueueUrl: string, messages: [group: string, body: string][]) {
  for (const [MessageGroupId, MessageBody] of messages) {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody,
        MessageGroupId,
        MessageDeduplicationId: crypto.randomUUID(),
      }),
    );
  }
}

describe("fifo ordering", () => {
  it("delivers each message group in send order", async () => {
    const url = await createFifoQueue();
    await sendAll(url, [
      ["a", "a1"],
      ["b", "b1"],
      ["a", "a2"],
      ["b", "b2"],
      ["a", "a3"],
    ]);
    const bodies = (await receive(url)).map((message) => message.Body);
    expect(bodies.filter((body) => body?.startsWith("a"))).toEqual(["a1", "a2", "a3"]);
    expect(bodies.filter((body) => body?.startsWith("b"))).toEqual(["b1", "b2"]);
  });

  it("withholds a group's next message while one of it is in flight", async () => {
    const url = await createFifoQueue();
    await sendAll(url, [
      ["a", "a1"],
      ["a", "a2"],
      ["b", "b1"],
    ]);
    const [first] = await receive(url, 1);
    expect(first.Body).toBe("a1");
    expect((await receive(url)).map((message) => message.Body)).toEqual(["b1"]);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle }));
    expect((await receive(url)).map((message) => message.Body)).toEqual(["a2"]);
  });

  it("answers MessageGroupId and increasing SequenceNumbers", async () => {
    const url = await createFifoQueue();
    const sent = [];
    for (const body of ["one", "two"]) {
      sent.push(
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: url,
            MessageBody: body,
            MessageGroupId: "g",
            MessageDeduplicationId: body,
          }),
        ),
      );
    }
    expect(BigInt(sent[1].SequenceNumber as string)).toBeGreaterThan(
      BigInt(sent[0].SequenceNumber as string),
    );
    const received = await receive(url);
    expect(received.map((message) => message.Attributes?.MessageGroupId)).toEqual(["g", "g"]);
    expect(received.map((message) => message.Attributes?.SequenceNumber)).toEqual(
      sent.map((answer) => answer.SequenceNumber),
    );
  });

  it("refuses a send without MessageGroupId", async () => {
    const url = await createFifoQueue({ ContentBasedDeduplication: "true" });
    const refusal = await sqs
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "loose" }))
      .catch((error) => error);
    expect(refusal.name).toBe("MissingParameter");
    expect(refusal.message).toContain("MessageGroupId");
  });
});

describe("fifo deduplication", () => {
  it("stores a message once per MessageDeduplicationId and answers the first id for a duplicate", async () => {
    const url = await createFifoQueue();
    const send = () =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: "charge card",
          MessageGroupId: "orders",
          MessageDeduplicationId: "order-17",
        }),
      );
    const first = await send();
    const retried = await send();
    expect(retried.MessageId).toBe(first.MessageId);
    expect((await receive(url)).map((message) => message.MessageId)).toEqual([first.MessageId]);
  });

  it("deduplicates by the body's SHA-256 with ContentBasedDeduplication", async () => {
    const url = await createFifoQueue({ ContentBasedDeduplication: "true" });
    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "a", MessageBody: "same", MessageGroupId: "g" },
          { Id: "b", MessageBody: "different", MessageGroupId: "g" },
          { Id: "c", MessageBody: "same", MessageGroupId: "g" },
        ],
      }),
    );
    const ids = Object.fromEntries(
      answer.Successful?.map((entry) => [entry.Id, entry.MessageId]) ?? [],
    );
    expect(ids.c).toBe(ids.a);
    expect((await receive(url)).map((message) => message.Body)).toEqual(["same", "different"]);
  });

  it("refuses a send without MessageDeduplicationId when ContentBasedDeduplication is off", async () => {
    const url = await createFifoQueue();
    const refusal = await sqs
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x", MessageGroupId: "g" }))
      .catch((error) => error);
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.message).toContain("ContentBasedDeduplication");
  });
});
