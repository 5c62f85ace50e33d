import { createHash } from "node:crypto";
import {
  BatchEntryIdsNotDistinct,
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  EmptyBatchRequest,
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SendMessageBatchCommand,
  SendMessageCommand,
  TooManyEntriesInBatchRequest,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { ok, receive, send, settleDeadLetters } from "../worker/api.ts";
import { adminClient, queueName } from "./support.ts";

const sqs = adminClient();

async function createQueue(Attributes?: Record<string, string>) {
  const name = queueName("msgs");
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }));
  return { name, url: QueueUrl as string };
}

async function receiveAll(input: ReceiveMessageCommandInput) {
  return (await sqs.send(new ReceiveMessageCommand(input))).Messages ?? [];
}

/**
 * The digest as the AWS Java SDK recomputes it to check MD5OfMessageAttributes (written out
 * here apart from the door's own, with Node's Buffer and MD5).
 */
function referenceMd5(attributes: Record<string, MessageAttributeValue>): string {
  const hash = createHash("md5");
  const prefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    prefixed(Buffer.from(name, "utf8"));
    prefixed(Buffer.from(value.DataType as string, "utf8"));
    if (value.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      prefixed(Buffer.from(value.BinaryValue));
    } else {
      hash.update(Buffer.from([1]));
      prefixed(Buffer.from(value.StringValue as string, "utf8"));
    }
  }
  return hash.digest("hex");
}

describe("SendMessage and ReceiveMessage", () => {
  it("sends and receives a body, with the MD5 the SDK checks on both calls", async () => {
    const { url } = await createQueue();
    const body = "héllo, wörld ✓ — 𝄞";
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    expect(sent.MD5OfMessageBody).toBe(createHash("md5").update(body, "utf8").digest("hex"));
    const [message] = await receiveAll({ QueueUrl: url });
    expect(message).toMatchObject({ MessageId: sent.MessageId, Body: body });
    expect(message.MD5OfBody).toBe(sent.MD5OfMessageBody);
    expect(message.ReceiptHandle).toEqual(expect.any(String));
  });

  it("carries String, Number and Binary message attributes and answers their MD5 as AWS computes it", async () => {
    const { url } = await createQueue();
    const attributes: Record<string, MessageAttributeValue> = {
      city: { DataType: "String", StringValue: "Zürich" },
      count: { DataType: "Number", StringValue: "42.5" },
      "price.eur": { DataType: "Number.float", StringValue: "9.99" },
      blob: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 2, 250, 255]) },
    };
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: "with attributes",
        MessageAttributes: attributes,
      }),
    );
    expect(sent.MD5OfMessageAttributes).toBe(referenceMd5(attributes));

    const [message] = await receiveAll({ QueueUrl: url, MessageAttributeNames: ["All"] });
    expect(message.MessageAttributes).toEqual(attributes);
    expect(message.MD5OfMessageAttributes).toBe(referenceMd5(attributes));
  });

  it("answers only the message attributes asked for, by name or by prefix, and their MD5", async () => {
    const { url } = await createQueue();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: "selective",
        MessageAttributes: {
          "trace.id": { DataType: "String", StringValue: "t-1" },
          "trace.span": { DataType: "String", StringValue: "s-1" },
          tenant: { DataType: "String", StringValue: "acme" },
        },
      }),
    );
    const [message] = await receiveAll({ QueueUrl: url, MessageAttributeNames: ["trace.*"] });
    const expected = {
      "trace.id": { DataType: "String", StringValue: "t-1" },
      "trace.span": { DataType: "String", StringValue: "s-1" },
    };
    expect(message.MessageAttributes).toEqual(expected);
    expect(message.MD5OfMessageAttributes).toBe(referenceMd5(expected));
  });

  it("answers system attributes: receive count, sent and first-receive times, trace header", async () => {
    const { url } = await createQueue();
    const before = Date.now();
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: "traced",
        MessageSystemAttributes: {
          AWSTraceHeader: {
            DataType: "String",
            StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793",
          },
        },
      }),
    );
    expect(sent.MD5OfMessageSystemAttributes).toBe(
      referenceMd5({
        AWSTraceHeader: {
          DataType: "String",
          StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793",
        },
      }),
    );
    const [message] = await receiveAll({ QueueUrl: url, MessageSystemAttributeNames: ["All"] });
    const {
      ApproximateReceiveCount,
      SentTimestamp,
      ApproximateFirstReceiveTimestamp,
      AWSTraceHeader,
    } = message.Attributes ?? {};
    expect(ApproximateReceiveCount).toBe("1");
    expect(Number(SentTimestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(Number(SentTimestamp));
    expect(AWSTraceHeader).toBe("Root=1-5759e988-bd862e3fe1be46a994272793");
    expect(message.MessageAttributes).toBeUndefined();
  });

  it("receives up to MaxNumberOfMessages and refuses more than SQS's 10", async () => {
    const { url } = await createQueue();
    for (const body of ["a", "b", "c"]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    }
    expect(await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 2 })).toHaveLength(2);
    const refusal = await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 11 }).catch((e) => e);
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.message).toContain("MaxNumberOfMessages");
  });

  it("answers no Messages when the queue is empty", async () => {
    const { url } = await createQueue();
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
  });

  it("long-polls with WaitTimeSeconds until a message is sent", async () => {
    const { url } = await createQueue();
    const started = Date.now();
    const waiting = receiveAll({ QueueUrl: url, WaitTimeSeconds: 10 });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "woke you" }));
    const [message] = await waiting;
    expect(message.Body).toBe("woke you");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("leases for the VisibilityTimeout asked for, else the queue's", async () => {
    const { name, url } = await createQueue({ VisibilityTimeout: "300" });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "one" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "two" }));
    const now = Date.now();
    await receiveAll({ QueueUrl: url, VisibilityTimeout: 120 });
    await receiveAll({ QueueUrl: url });
    const peeked = (await ok("GET", `/v1/queues/${name}/messages`)).messages;
    const leaseSeconds = peeked.map((m: { visibleAt: number }) =>
      Math.round((m.visibleAt - now) / 1000),
    );
    expect(leaseSeconds).toEqual([120, 300]);
  });

  it("delays a message by DelaySeconds, or by the queue's DelaySeconds when it gives none", async () => {
    const { url } = await createQueue({ DelaySeconds: "60" });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "queue default" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "now", DelaySeconds: 0 }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
      }),
    );
    expect(Attributes).toEqual({
      ApproximateNumberOfMessages: "1",
      ApproximateNumberOfMessagesDelayed: "1",
    });
    expect(
      (await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 10 })).map((m) => m.Body),
    ).toEqual(["now"]);
  });

  it("waits the queue's ReceiveMessageWaitTimeSeconds when the receive gives no wait", async () => {
    const { url } = await createQueue({ ReceiveMessageWaitTimeSeconds: "10" });
    const waiting = receiveAll({ QueueUrl: url });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "worth the wait" }));
    expect((await waiting).map((m) => m.Body)).toEqual(["worth the wait"]);
  });

  it.each([
    ["an empty body", { MessageBody: "" }, "MissingParameter"],
    ["a body with a control character", { MessageBody: "bell \u0007" }, "InvalidMessageContents"],
    [
      "a reserved attribute name",
      {
        MessageBody: "x",
        MessageAttributes: { "AWS.mine": { DataType: "String", StringValue: "v" } },
      },
      "InvalidParameterValue",
    ],
    [
      "a Number attribute that is not a number",
      { MessageBody: "x", MessageAttributes: { n: { DataType: "Number", StringValue: "ten" } } },
      "InvalidParameterValue",
    ],
    [
      "an attribute of an unknown data type",
      { MessageBody: "x", MessageAttributes: { d: { DataType: "Date", StringValue: "today" } } },
      "InvalidParameterValue",
    ],
  ])("refuses %s and stores nothing", async (_, message, code) => {
    const { name, url } = await createQueue();
    const refusal = await sqs
      .send(new SendMessageCommand({ QueueUrl: url, ...message }))
      .catch((e) => e);
    expect(refusal.name).toBe(code);
    expect(refusal.$metadata.httpStatusCode).toBe(400);
    expect((await ok("GET", `/v1/queues/${name}`)).stats.ready).toBe(0);
  });

  it("refuses a body larger than the queue's MaximumMessageSize", async () => {
    const { url } = await createQueue({ MaximumMessageSize: "1024" });
    const refusal = await sqs
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x".repeat(1025) }))
      .catch((e) => e);
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.message).toContain("MaximumMessageSize");
  });
});

describe("both doors on one queue", () => {
  it("hands an SQS message to an HTTP consumer as text with its attributes as headers", async () => {
    const { name, url } = await createQueue();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: '{"not":"parsed"}',
        MessageAttributes: {
          tenant: { DataType: "String", StringValue: "acme" },
          size: { DataType: "Number", StringValue: "3" },
        },
      }),
    );
    const [message] = await receive(name);
    expect(message).toMatchObject({
      body: '{"not":"parsed"}',
      contentType: "text/plain",
      headers: { tenant: "acme", size: "3", "AWS.DataType.size": "Number" },
    });
  });

  it("hands an HTTP message to an SQS consumer with its body as stored and its headers as String attributes", async () => {
    const { name, url } = await createQueue();
    await send(name, [{ body: { order: 7 }, headers: { tenant: "acme" } }]);
    const [message] = await receiveAll({ QueueUrl: url, MessageAttributeNames: ["All"] });
    expect(message.Body).toBe('{"order":7}');
    expect(message.MessageAttributes).toEqual({
      tenant: { DataType: "String", StringValue: "acme" },
    });
  });
});

describe("SendMessageBatch", () => {
  it("stores the valid entries and fails the invalid ones alone, each by its Id", async () => {
    const { url } = await createQueue();
    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "first", MessageBody: "one" },
          { Id: "broken", MessageBody: "nul \u0000" },
          {
            Id: "third",
            MessageBody: "three",
            MessageAttributes: { k: { DataType: "String", StringValue: "v" } },
          },
        ],
      }),
    );
    expect(answer.Successful?.map((entry) => entry.Id)).toEqual(["first", "third"]);
    expect(answer.Successful?.[1].MD5OfMessageAttributes).toBe(
      referenceMd5({ k: { DataType: "String", StringValue: "v" } }),
    );
    expect(answer.Failed).toEqual([
      {
        Id: "broken",
        SenderFault: true,
        Code: "InvalidMessageContents",
        Message: expect.any(String),
      },
    ]);
    const bodies = (await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 10 })).map(
      (m) => m.Body,
    );
    expect(bodies.sort()).toEqual(["one", "three"]);
  });

  it.each([
    ["no entries", [], EmptyBatchRequest],
    [
      "more than 10 entries",
      Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: "x" })),
      TooManyEntriesInBatchRequest,
    ],
    [
      "two entries with one Id",
      [
        { Id: "same", MessageBody: "x" },
        { Id: "same", MessageBody: "y" },
      ],
      BatchEntryIdsNotDistinct,
    ],
  ])("refuses a batch of %s", async (_, Entries, refusal) => {
    const { url } = await createQueue();
    const error = await sqs
      .send(new SendMessageBatchCommand({ QueueUrl: url, Entries }))
      .catch((e) => e);
    expect(error).toBeInstanceOf(refusal);
  });
});

describe("DeleteMessage", () => {
  it("deletes a received message", async () => {
    const { name, url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "done soon" }));
    const [message] = await receiveAll({ QueueUrl: url });
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
    );
    const { stats } = await ok("GET", `/v1/queues/${name}`);
    expect(stats).toMatchObject({ ready: 0, leased: 0, acked: 1 });
  });

  it("refuses a receipt handle whose lease has ended", async () => {
    const { url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "twice" }));
    const [message] = await receiveAll({ QueueUrl: url });
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
    );
    const refusal = await sqs
      .send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }))
      .catch((e) => e);
    expect(refusal).toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(refusal.message).toContain("expired");
  });

  it("refuses a receipt handle Sluice never issued", async () => {
    const { url } = await createQueue();
    const refusal = await sqs
      .send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: "made-up" }))
      .catch((e) => e);
    expect(refusal).toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it("deletes a batch, failing only the entries whose receipt is not valid", async () => {
    const { url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "a" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "b" }));
    const [a, b] = await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 10 });
    const answer = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "a", ReceiptHandle: a.ReceiptHandle },
          { Id: "bogus", ReceiptHandle: "not-a-receipt" },
          { Id: "b", ReceiptHandle: b.ReceiptHandle },
        ],
      }),
    );
    expect(answer.Successful).toEqual([{ Id: "a" }, { Id: "b" }]);
    expect(answer.Failed).toEqual([
      {
        Id: "bogus",
        SenderFault: true,
        Code: "ReceiptHandleIsInvalid",
        Message: expect.any(String),
      },
    ]);
  });
});

describe("ChangeMessageVisibility", () => {
  it("extends a lease to the timeout given, from now", async () => {
    const { name, url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "slow work" }));
    const [message] = await receiveAll({ QueueUrl: url });
    const now = Date.now();
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: 600,
      }),
    );
    const [peeked] = (await ok("GET", `/v1/queues/${name}/messages`)).messages;
    expect(Math.round((peeked.visibleAt - now) / 1000)).toBe(600);
  });

  it("with 0 makes the message visible again at once, and the next receive counts it", async () => {
    const { url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "give back" }));
    const [first] = await receiveAll({ QueueUrl: url });
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: first.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    // AttributeNames is the older name of MessageSystemAttributeNames; SDKs still send it.
    const [again] = await receiveAll({ QueueUrl: url, AttributeNames: ["All"] });
    expect(again.MessageId).toBe(first.MessageId);
    expect(again.Attributes).toMatchObject({ ApproximateReceiveCount: "2" });
    expect(again.Attributes?.ApproximateFirstReceiveTimestamp).toBeUndefined();
  });

  it("refuses a message that is no longer in flight under that receipt", async () => {
    const { url } = await createQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "gone" }));
    const [message] = await receiveAll({ QueueUrl: url });
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
    );
    const refusal = await sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 30,
        }),
      )
      .catch((e) => e);
    expect(refusal).toBeInstanceOf(MessageNotInflight);
  });

  it("changes a batch with different timeouts, failing only the stale entries", async () => {
    const { name, url } = await createQueue();
    for (const body of ["keep", "return", "stale"]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    }
    const messages = await receiveAll({ QueueUrl: url, MaxNumberOfMessages: 10 });
    const byBody = Object.fromEntries(messages.map((m) => [m.Body, m.ReceiptHandle as string]));
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: byBody.stale }));
    const answer = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "keep", ReceiptHandle: byBody.keep, VisibilityTimeout: 900 },
          { Id: "return", ReceiptHandle: byBody.return, VisibilityTimeout: 0 },
          { Id: "stale", ReceiptHandle: byBody.stale, VisibilityTimeout: 900 },
        ],
      }),
    );
    expect(answer.Successful?.map((entry) => entry.Id).sort()).toEqual(["keep", "return"]);
    expect(answer.Failed).toEqual([
      { Id: "stale", SenderFault: true, Code: "MessageNotInflight", Message: expect.any(String) },
    ]);
    expect((await ok("GET", `/v1/queues/${name}`)).stats).toMatchObject({ ready: 1, leased: 1 });
  });
});

describe("redrive policy", () => {
  it("dead-letters a message once it has been received maxReceiveCount times", async () => {
    const { name, url } = await createQueue({
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: "arn:aws:sqs:eu-central-1:000000000000:dlq",
        maxReceiveCount: 2,
      }),
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "poison" }));
    for (let receive = 0; receive < 2; receive++) {
      const [message] = await receiveAll({ QueueUrl: url });
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    expect(await receiveAll({ QueueUrl: url })).toEqual([]);
    await settleDeadLetters(name);
    const { messages } = await ok("GET", `/v1/queues/${name}/dlq`);
    expect(messages.map((m: { body: string; attempts: number }) => [m.body, m.attempts])).toEqual([
      ["poison", 2],
    ]);
  });
});
