import { SELF } from "cloudflare:test";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, ok, send } from "../worker/api.ts";
import { signedRequest } from "./signing.ts";
import {
  adminClient,
  type Credentials,
  createCredentials,
  ORIGIN,
  queueName,
  sqsClient,
} from "./support.ts";

const TWENTY_MINUTES_MS = 20 * 60_000;

const admin = adminClient();
let name: string;
let url: string;

/** Sends a request as it is, unsigned or signed by hand, expecting a 403. */
async function fetch403(request: Request): Promise<Response> {
  const response = await SELF.fetch(request);
  expect(response.status).toBe(403);
  return response;
}

async function stats() {
  return (await ok("GET", `/v1/queues/${name}`)).stats;
}

beforeAll(async () => {
  name = queueName("signed");
  url = (await admin.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl as string;
});

describe("AWS Signature Version 4", () => {
  let key: Credentials;

  beforeAll(async () => {
    key = await createCredentials(["admin"]);
  });

  it("accepts requests signed with an API key's id and secret, for any region", async () => {
    const client = sqsClient(key, { region: "ap-southeast-2" });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "signed" }));
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    expect(Attributes?.QueueArn).toBe(`arn:aws:sqs:ap-southeast-2:000000000000:${name}`);
  });

  it("refuses a wrong secret with SignatureDoesNotMatch (403) and stores nothing", async () => {
    const before = await stats();
    const client = sqsClient({ ...key, secretAccessKey: `${key.secretAccessKey}x` });
    const refusal = await client
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "forged" }))
      .catch((error) => error);
    expect(refusal.name).toBe("SignatureDoesNotMatch");
    expect(refusal.$metadata.httpStatusCode).toBe(403);
    expect((await stats()).sent).toBe(before.sent);
  });

  it("refuses an access key id no API key has with InvalidClientTokenId (403)", async () => {
    const client = sqsClient({ accessKeyId: "key_0000000000000000", secretAccessKey: "anything" });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("InvalidClientTokenId");
    expect(refusal.$metadata.httpStatusCode).toBe(403);
  });

  it("refuses a key revoked before it signed", async () => {
    const revoked = await createCredentials(["admin"]);
    await ok("DELETE", `/v1/keys/${revoked.accessKeyId}`);
    const refusal = await sqsClient(revoked)
      .send(new ListQueuesCommand({}))
      .catch((error) => error);
    expect(refusal.name).toBe("InvalidClientTokenId");
  });

  it("refuses a body changed after it was signed", async () => {
    const before = await stats();
    const client = sqsClient(key, {
      tamper: (request) => {
        request.body = new TextEncoder().encode(
          JSON.stringify({ QueueUrl: url, MessageBody: "swapped" }),
        );
        request.headers["content-length"] = String(request.body.byteLength);
        return request;
      },
    });
    const refusal = await client
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "original" }))
      .catch((error) => error);
    expect(refusal.name).toBe("SignatureDoesNotMatch");
    expect((await stats()).sent).toBe(before.sent);
  });

  it("refuses a request signed more than 15 minutes away from the server's clock", async () => {
    const client = sqsClient(key, { systemClockOffset: -TWENTY_MINUTES_MS, maxAttempts: 1 });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("RequestExpired");
    expect(refusal.$metadata.httpStatusCode).toBe(403);
    expect(refusal.message).toContain("15 minutes");
  });

  it("answers the server's time in Date, from which the SDK corrects a skewed clock", async () => {
    const client = sqsClient(key, { systemClockOffset: TWENTY_MINUTES_MS, maxAttempts: 1 });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("RequestExpired");
    expect(Math.abs(client.config.systemClockOffset)).toBeLessThan(60_000);
    const answer = await client.send(new ListQueuesCommand({ QueueNamePrefix: name }));
    expect(answer.QueueUrls).toEqual([url]);
  });

  it("refuses an unsigned request with MissingAuthenticationToken", async () => {
    const response = await fetch403(
      new Request(`${ORIGIN}/`, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.0",
          "X-Amz-Target": "AmazonSQS.ListQueues",
        },
        body: "{}",
      }),
    );
    expect(response.headers.get("x-amzn-query-error")).toBe("MissingAuthenticationToken;Sender");
  });

  it.each([
    ["another algorithm", "AWS4-HMAC-SHA512 Credential=key_1/20260101/us-east-1/sqs/aws4_request"],
    [
      "a credential without a scope",
      "AWS4-HMAC-SHA256 Credential=key_1, SignedHeaders=host, Signature=00",
    ],
  ])("refuses an Authorization header with %s as IncompleteSignature", async (_, header) => {
    const response = await fetch403(
      new Request(`${ORIGIN}/`, {
        method: "POST",
        headers: {
          Authorization: header,
          "Content-Type": "application/x-amz-json-1.0",
          "X-Amz-Target": "AmazonSQS.ListQueues",
        },
        body: "{}",
      }),
    );
    expect(response.headers.get("x-amzn-query-error")).toBe("IncompleteSignature;Sender");
  });

  it("does not take the admin token as a secret: the admin uses an admin-scoped key", async () => {
    const client = sqsClient({ accessKeyId: "admin", secretAccessKey: ADMIN_TOKEN });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("InvalidClientTokenId");
  });
});

describe("finding 7: what a signature must cover", () => {
  it.each([
    ["x-amz-target", "IncompleteSignature"],
    ["content-type", "IncompleteSignature"],
  ])(
    "finding 7: a signature that leaves out %s is refused, so a signed read cannot be resent as a purge",
    async (left) => {
      await send(name, [{ body: "kept" }]);
      const before = await stats();
      const key = await createCredentials(["admin"]);
      const signed = await signedRequest(
        key,
        "GetQueueAttributes",
        JSON.stringify({ QueueUrl: url, AttributeNames: ["All"] }),
        [left],
      );
      const replayed = { ...signed.headers, "x-amz-target": "AmazonSQS.PurgeQueue" };
      const response = await SELF.fetch(signed.url, {
        method: "POST",
        headers: left === "x-amz-target" ? replayed : signed.headers,
        body: signed.body,
      });
      expect(response.status).toBe(403);
      expect(response.headers.get("x-amzn-query-error")).toBe("IncompleteSignature;Sender");
      expect(((await response.json()) as { message: string }).message).toContain(left);
      const { ready, leased, delayed, sent, acked, backlogBytes } = await stats();
      expect({ ready, leased, delayed, sent, acked, backlogBytes }).toEqual({
        ready: before.ready,
        leased: before.leased,
        delayed: before.delayed,
        sent: before.sent,
        acked: before.acked,
        backlogBytes: before.backlogBytes,
      });
    },
  );

  it("finding 7: a request that signs x-amz-target and content-type is accepted", async () => {
    const key = await createCredentials(["admin"]);
    const signed = await signedRequest(
      key,
      "GetQueueAttributes",
      JSON.stringify({ QueueUrl: url }),
    );
    const response = await SELF.fetch(signed.url, {
      method: "POST",
      headers: signed.headers,
      body: signed.body,
    });
    expect(response.status, await response.clone().text()).toBe(200);
  });
});

describe("scopes", () => {
  it("lets a produce key send but not receive", async () => {
    const producer = sqsClient(await createCredentials(["produce"]));
    await producer.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "produced" }));
    const refusal = await producer
      .send(new ReceiveMessageCommand({ QueueUrl: url }))
      .catch((error) => error);
    expect(refusal.name).toBe("AccessDenied");
    expect(refusal.$metadata.httpStatusCode).toBe(403);
    expect(refusal.message).toContain("consume");
  });

  it("lets a consume key receive and delete but not send", async () => {
    await admin.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "for the consumer" }));
    const consumer = sqsClient(await createCredentials(["consume"]));
    const { Messages = [] } = await consumer.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(Messages).toHaveLength(1);
    await consumer.send(
      new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: Messages[0].ReceiptHandle }),
    );
    const refusal = await consumer
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "not mine to send" }))
      .catch((error) => error);
    expect(refusal.name).toBe("AccessDenied");
  });

  it.each([
    ["CreateQueue", () => new CreateQueueCommand({ QueueName: queueName("nope") })],
    [
      "SetQueueAttributes",
      () =>
        new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: "5" } }),
    ],
    ["PurgeQueue", () => new PurgeQueueCommand({ QueueUrl: url })],
    ["DeleteQueue", () => new DeleteQueueCommand({ QueueUrl: url })],
  ])("refuses %s without the admin scope", async (_, command) => {
    const worker = sqsClient(await createCredentials(["produce", "consume"]));
    // biome-ignore lint/suspicious/noExplicitAny: each command has its own output type
    const refusal: Error = await worker.send(command() as any).then(
      () => new Error("accepted"),
      (error: Error) => error,
    );
    expect(refusal.name).toBe("AccessDenied");
    expect((await ok("GET", `/v1/queues/${name}`)).config.visibilityTimeout).toBe(30);
  });

  it("lists only the queues a key's patterns match", async () => {
    const prefix = queueName("mine");
    await admin.send(new CreateQueueCommand({ QueueName: `${prefix}-a` }));
    const scoped = sqsClient(await createCredentials(["consume"], [`${prefix}-*`]));
    const { QueueUrls } = await scoped.send(new ListQueuesCommand({}));
    expect(QueueUrls).toEqual([`${ORIGIN}/000000000000/${prefix}-a`]);
  });
});
