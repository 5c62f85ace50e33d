import { env } from "cloudflare:workers";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  RequestThrottled,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, it } from "vitest";
import { admit, inflight, release, type Ticket } from "../../worker/admission.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { ok, send } from "../worker/api.ts";
import { type Credentials, createCredentials, queueName, sqsClient } from "./support.ts";

let key: Credentials;
let sqs: SQSClient;

beforeAll(async () => {
  key = await createCredentials();
  sqs = sqsClient(key);
});

async function createQueue(config: Record<string, unknown>) {
  const name = queueName("shed");
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  await ok("PUT", `/v1/queues/${name}`, { json: config });
  return { name, url: QueueUrl as string };
}

describe("backlog limits", () => {
  it("refuses a send at the hard backlog limit with RequestThrottled and Retry-After", async () => {
    const { name, url } = await createQueue({ backlog: { soft: 1, hard: 1 } });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "fits" }));
    let retryAfter: string | null = null;
    const client = sqsClient(key, {
      maxAttempts: 1,
      observe: (response) => {
        retryAfter = response.headers.get("retry-after");
      },
    });
    const refusal = await client
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "over" }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(RequestThrottled);
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    expect((await ok("GET", `/v1/queues/${name}`)).stats.sent).toBe(1);
  });

  it("fails only the batch entries whose partition is full, as not the sender's fault", async () => {
    const { url } = await createQueue({ partitions: 2, backlog: { soft: 1, hard: 1 } });
    const full = "group-a";
    const roomy = ["group-b", "group-c", "group-d"].find(
      (group) => partitionForKey(group, 2) !== partitionForKey(full, 2),
    ) as string;
    await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: "first", MessageGroupId: full }),
    );
    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "refused", MessageBody: "x", MessageGroupId: full },
          { Id: "stored", MessageBody: "y", MessageGroupId: roomy },
        ],
      }),
    );
    expect(answer.Successful?.map((entry) => entry.Id)).toEqual(["stored"]);
    expect(answer.Failed).toEqual([
      {
        Id: "refused",
        SenderFault: false,
        Code: "RequestThrottled",
        Message: expect.stringContaining("hard backlog limit"),
      },
    ]);
  });
});

describe("the in-flight limit", () => {
  it("sheds sends first, then receives, and never deletes", async () => {
    const { name, url } = await createQueue({});
    await send(name, [{ body: "to delete" }]);
    const [held] = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages ?? [];
    // One receive at work in this isolate.
    const working = admit({ ...env, SLUICE_MAX_INFLIGHT: "1000" }, "consume") as Ticket;
    try {
      const shedSend = await limited(2)
        .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "shed" }))
        .catch((error) => error);
      expect(shedSend.name).toBe("ServiceUnavailable");
      expect(shedSend.$metadata.httpStatusCode).toBe(503);
      const received = await limited(2).send(new ReceiveMessageCommand({ QueueUrl: url }));
      expect(received.Messages).toBeUndefined();
      const shedReceive = await limited(1)
        .send(new ReceiveMessageCommand({ QueueUrl: url }))
        .catch((error) => error);
      expect(shedReceive.name).toBe("ServiceUnavailable");
      await limited(1).send(
        new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: held.ReceiptHandle }),
      );
    } finally {
      release(working);
    }
    expect(inflight()).toBe(0);
    expect((await ok("GET", `/v1/queues/${name}`)).stats).toMatchObject({ sent: 1, acked: 1 });
  });
});

/** A client whose requests see SLUICE_MAX_INFLIGHT = `limit`. */
function limited(limit: number) {
  return sqsClient(key, { maxAttempts: 1, env: { SLUICE_MAX_INFLIGHT: String(limit) } });
}
