import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  InvalidAttributeName,
  InvalidAttributeValue,
  ListQueuesCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  QueueNameExists,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { ok, send } from "../worker/api.ts";
import { adminClient, ORIGIN, queueName, REGION } from "./support.ts";

const sqs = adminClient();

async function createQueue(name: string, Attributes?: Record<string, string>): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }));
  return QueueUrl as string;
}

async function attributesOf(QueueUrl: string, names = ["All"]) {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl,
      AttributeNames: names as GetQueueAttributesCommand["input"]["AttributeNames"],
    }),
  );
  return answer.Attributes ?? {};
}

async function configOf(name: string) {
  return (await ok("GET", `/v1/queues/${name}`)).config;
}

describe("CreateQueue", () => {
  it("answers the queue URL: the endpoint, the fixed account id and the name", async () => {
    const name = queueName("sqs");
    expect(await createQueue(name)).toBe(`${ORIGIN}/000000000000/${name}`);
  });

  it("gives a standard queue SQS semantics: unordered, visible again at once, no dead-lettering before 100 receives", async () => {
    const name = queueName("standard");
    await createQueue(name);
    expect(await configOf(name)).toMatchObject({
      ordering: "unordered",
      retry: { initialDelay: 0, maxDelay: 0 },
      maxAttempts: 100,
    });
  });

  it("makes a queue whose name ends in .fifo a fifo queue", async () => {
    const name = `${queueName("ordered")}.fifo`;
    const url = await createQueue(name, { FifoQueue: "true", ContentBasedDeduplication: "true" });
    expect((await configOf(name)).ordering).toBe("fifo");
    expect(await attributesOf(url, ["FifoQueue", "ContentBasedDeduplication"])).toEqual({
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
    });
  });

  it("maps the attributes onto the queue's configuration", async () => {
    const name = queueName("mapped");
    await createQueue(name, {
      VisibilityTimeout: "45",
      MessageRetentionPeriod: "3600",
      MaximumMessageSize: "2048",
      DelaySeconds: "5",
      ReceiveMessageWaitTimeSeconds: "3",
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: `arn:aws:sqs:${REGION}:000000000000:elsewhere`,
        maxReceiveCount: 4,
      }),
    });
    expect(await configOf(name)).toMatchObject({
      visibilityTimeout: 45,
      retention: 3600,
      maxMessageBytes: 2048,
      maxAttempts: 4,
      sqs: {
        delaySeconds: 5,
        receiveWaitSeconds: 3,
        deadLetterTargetArn: `arn:aws:sqs:${REGION}:000000000000:elsewhere`,
      },
    });
  });

  it("answers the URL of an existing queue when the attributes given match it", async () => {
    const name = queueName("again");
    const url = await createQueue(name, { VisibilityTimeout: "60" });
    expect(await createQueue(name, { VisibilityTimeout: "60" })).toBe(url);
    expect(await createQueue(name)).toBe(url);
  });

  it("refuses QueueNameExists when an attribute given differs from the existing queue's", async () => {
    const name = queueName("clash");
    await createQueue(name, { VisibilityTimeout: "60" });
    const refusal = await sqs
      .send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: "61" } }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(QueueNameExists);
    expect(refusal.message).toContain("VisibilityTimeout");
    expect((await configOf(name)).visibilityTimeout).toBe(60);
  });

  it("refuses attributes Sluice does not keep, by name, and creates nothing", async () => {
    const name = queueName("policy");
    const refusal = await sqs
      .send(new CreateQueueCommand({ QueueName: name, Attributes: { Policy: "{}" } }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(InvalidAttributeName);
    expect(refusal.message).toContain("Policy");
    const missing = await sqs.send(new GetQueueUrlCommand({ QueueName: name })).catch((e) => e);
    expect(missing).toBeInstanceOf(QueueDoesNotExist);
  });

  it.each([
    ["VisibilityTimeout", "0", "at least 1 second"],
    ["MessageRetentionPeriod", "59", "60 to 1209600"],
    ["MaximumMessageSize", "1048577", "1024 to 1048576"],
    ["DelaySeconds", "901", "0 to 900"],
    ["ReceiveMessageWaitTimeSeconds", "21", "0 to 20"],
    ["RedrivePolicy", '{"deadLetterTargetArn":"arn:aws:sqs:x:1:d","maxReceiveCount":101}', "100"],
    ["RedrivePolicy", "not json", "JSON object"],
    ["FifoQueue", "true", ".fifo"],
  ])("refuses %s=%s as InvalidAttributeValue", async (attribute, value, says) => {
    const refusal = await sqs
      .send(
        new CreateQueueCommand({ QueueName: queueName("bad"), Attributes: { [attribute]: value } }),
      )
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(InvalidAttributeValue);
    expect(refusal.message).toContain(says);
  });

  it("refuses FIFO-only attributes on a standard queue", async () => {
    const refusal = await sqs
      .send(
        new CreateQueueCommand({
          QueueName: queueName("std"),
          Attributes: { ContentBasedDeduplication: "true" },
        }),
      )
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(InvalidAttributeName);
    expect(refusal.message).toContain("FIFO queues only");
  });

  it("refuses a name SQS would refuse", async () => {
    const refusal = await sqs
      .send(new CreateQueueCommand({ QueueName: "has space" }))
      .catch((error) => error);
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.$metadata.httpStatusCode).toBe(400);
  });
});

describe("GetQueueUrl", () => {
  it("answers the URL of a queue created through either door", async () => {
    const name = queueName("native");
    await ok("PUT", `/v1/queues/${name}`, { json: {} });
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    expect(QueueUrl).toBe(`${ORIGIN}/000000000000/${name}`);
  });

  it("refuses an unknown queue with QueueDoesNotExist and SQS's query error code", async () => {
    const refusal = await sqs
      .send(new GetQueueUrlCommand({ QueueName: queueName("nobody") }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(QueueDoesNotExist);
    expect(refusal.Code).toBe("AWS.SimpleQueueService.NonExistentQueue");
    expect(refusal.Type).toBe("Sender");
    expect(refusal.$metadata.httpStatusCode).toBe(400);
  });
});

describe("ListQueues", () => {
  it("lists the URLs of queues under a prefix, in pages of MaxResults", async () => {
    const prefix = queueName("listed");
    const names = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
    for (const name of names) await createQueue(name);

    const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2 }));
    expect(first.QueueUrls).toEqual(names.slice(0, 2).map((n) => `${ORIGIN}/000000000000/${n}`));
    expect(first.NextToken).toEqual(expect.any(String));
    const second = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2, NextToken: first.NextToken }),
    );
    expect(second.QueueUrls).toEqual([`${ORIGIN}/000000000000/${names[2]}`]);
    expect(second.NextToken).toBeUndefined();
  });
});

describe("GetQueueAttributes", () => {
  it("answers every attribute for All, with counts of ready, in-flight and delayed messages", async () => {
    const name = queueName("counted");
    const url = await createQueue(name, { VisibilityTimeout: "40" });
    await send(name, [{ body: "ready" }, { body: "later", delaySeconds: 600 }]);
    const before = Math.floor(Date.now() / 1000);
    await ok("POST", `/v1/queues/${name}/receive`, { json: {} });
    await send(name, [{ body: "ready too" }]);

    const attributes = await attributesOf(url);
    expect(attributes).toEqual({
      QueueArn: `arn:aws:sqs:${REGION}:000000000000:${name}`,
      VisibilityTimeout: "40",
      MessageRetentionPeriod: "345600",
      MaximumMessageSize: "262144",
      DelaySeconds: "0",
      ReceiveMessageWaitTimeSeconds: "0",
      CreatedTimestamp: expect.stringMatching(/^\d{10}$/),
      LastModifiedTimestamp: expect.stringMatching(/^\d{10}$/),
      ApproximateNumberOfMessages: "1",
      ApproximateNumberOfMessagesNotVisible: "1",
      ApproximateNumberOfMessagesDelayed: "1",
    });
    expect(Number(attributes.CreatedTimestamp)).toBeLessThanOrEqual(before);
  });

  it("answers only the attributes asked for", async () => {
    const url = await createQueue(queueName("some"));
    expect(await attributesOf(url, ["VisibilityTimeout", "DelaySeconds"])).toEqual({
      VisibilityTimeout: "30",
      DelaySeconds: "0",
    });
  });

  it("reports the redrive policy given, with maxReceiveCount as the queue's maxAttempts", async () => {
    const target = `arn:aws:sqs:${REGION}:000000000000:my-dlq`;
    const url = await createQueue(queueName("redriven"), {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: target, maxReceiveCount: "3" }),
    });
    const { RedrivePolicy } = await attributesOf(url, ["RedrivePolicy"]);
    expect(JSON.parse(RedrivePolicy as string)).toEqual({
      deadLetterTargetArn: target,
      maxReceiveCount: 3,
    });
  });

  it("derives a fifo queue's deduplication scope and throughput limit from its partitions", async () => {
    const name = `${queueName("wide")}.fifo`;
    const url = await createQueue(name, { FifoQueue: "true" });
    expect(await attributesOf(url, ["DeduplicationScope", "FifoThroughputLimit"])).toEqual({
      DeduplicationScope: "queue",
      FifoThroughputLimit: "perQueue",
    });
    await ok("PUT", `/v1/queues/${name}`, { json: { partitions: 4 } });
    expect(await attributesOf(url, ["DeduplicationScope", "FifoThroughputLimit"])).toEqual({
      DeduplicationScope: "messageGroup",
      FifoThroughputLimit: "perMessageGroupId",
    });
  });

  it("refuses an unknown attribute name", async () => {
    const url = await createQueue(queueName("unknown"));
    const refusal = await attributesOf(url, ["Colour"]).catch((error) => error);
    expect(refusal).toBeInstanceOf(InvalidAttributeName);
  });

  it("refuses a URL that is not a Sluice queue URL", async () => {
    const refusal = await attributesOf(`${ORIGIN}/123456789012/elsewhere`).catch((e) => e);
    expect(refusal.name).toBe("InvalidAddress");
    expect(refusal.message).toContain("000000000000");
  });
});

describe("SetQueueAttributes", () => {
  it("changes the attributes given and keeps the others", async () => {
    const name = queueName("changed");
    const url = await createQueue(name, { DelaySeconds: "7", VisibilityTimeout: "50" });
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: url,
        Attributes: { VisibilityTimeout: "90", ReceiveMessageWaitTimeSeconds: "10" },
      }),
    );
    expect(
      await attributesOf(url, [
        "VisibilityTimeout",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
      ]),
    ).toEqual({
      VisibilityTimeout: "90",
      DelaySeconds: "7",
      ReceiveMessageWaitTimeSeconds: "10",
    });
  });

  it("removes the redrive policy when given an empty one", async () => {
    const name = queueName("unredriven");
    const url = await createQueue(name, {
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: "arn:aws:sqs:x:0:d",
        maxReceiveCount: 2,
      }),
    });
    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { RedrivePolicy: "" } }),
    );
    expect(await attributesOf(url, ["RedrivePolicy"])).toEqual({});
    expect((await configOf(name)).maxAttempts).toBe(100);
  });

  it("refuses a read-only attribute and changes nothing", async () => {
    const name = queueName("readonly");
    const url = await createQueue(name, { VisibilityTimeout: "50" });
    const refusal = await sqs
      .send(
        new SetQueueAttributesCommand({
          QueueUrl: url,
          Attributes: { VisibilityTimeout: "70", QueueArn: "arn:aws:sqs:x:0:y" },
        }),
      )
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(InvalidAttributeName);
    expect((await configOf(name)).visibilityTimeout).toBe(50);
  });
});

describe("PurgeQueue and DeleteQueue", () => {
  it("purges every message of the queue", async () => {
    const name = queueName("purged");
    const url = await createQueue(name);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "one" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "two" }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
    expect(await attributesOf(url, ["ApproximateNumberOfMessages"])).toEqual({
      ApproximateNumberOfMessages: "0",
    });
  });

  it("deletes the queue; afterwards it does not exist", async () => {
    const name = queueName("deleted");
    const url = await createQueue(name);
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    const refusal = await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch((e) => e);
    expect(refusal).toBeInstanceOf(QueueDoesNotExist);
    const gone = await sqs.send(new GetQueueUrlCommand({ QueueName: name })).catch((e) => e);
    expect(gone).toBeInstanceOf(QueueDoesNotExist);
  });
});
