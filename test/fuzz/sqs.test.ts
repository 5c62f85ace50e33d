import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import type { HttpRequest } from "@smithy/types";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createCredentials, sqsClient } from "../sqs/support.ts";
import { ORIGIN } from "../worker/api.ts";
import { assertProperty, deepJson, oddString, shapedLike, wrongValue } from "./hostile.ts";
import { type Answer, answerTo, Sandbox } from "./sandbox.ts";

/**
 * The SQS door (`POST /`) under generated input: every action, signed by the unchanged AWS
 * SDK with a real key, carrying wrong types, missing and unknown members, odd unicode, deep
 * JSON and truncated bodies. Never a 5xx, a refusal in the SQS JSON protocol's error shape,
 * and a refused request changes nothing (sandbox.ts).
 */
const ACTIONS: Record<string, { members: string[]; mutates: boolean }> = {
  CreateQueue: { members: ["QueueName", "Attributes", "tags"], mutates: true },
  GetQueueUrl: { members: ["QueueName", "QueueOwnerAWSAccountId"], mutates: false },
  ListQueues: { members: ["QueueNamePrefix", "NextToken", "MaxResults"], mutates: false },
  GetQueueAttributes: { members: ["QueueUrl", "AttributeNames"], mutates: false },
  SetQueueAttributes: { members: ["QueueUrl", "Attributes"], mutates: true },
  PurgeQueue: { members: ["QueueUrl"], mutates: true },
  DeleteQueue: { members: ["QueueUrl"], mutates: true },
  SendMessage: {
    members: [
      "QueueUrl",
      "MessageBody",
      "DelaySeconds",
      "MessageAttributes",
      "MessageDeduplicationId",
      "MessageGroupId",
    ],
    mutates: true,
  },
  SendMessageBatch: { members: ["QueueUrl", "Entries"], mutates: true },
  ReceiveMessage: {
    members: [
      "QueueUrl",
      "MaxNumberOfMessages",
      "VisibilityTimeout",
      "WaitTimeSeconds",
      "AttributeNames",
      "MessageAttributeNames",
    ],
    mutates: true,
  },
  DeleteMessage: { members: ["QueueUrl", "ReceiptHandle"], mutates: true },
  DeleteMessageBatch: { members: ["QueueUrl", "Entries"], mutates: true },
  ChangeMessageVisibility: {
    members: ["QueueUrl", "ReceiptHandle", "VisibilityTimeout"],
    mutates: true,
  },
  ChangeMessageVisibilityBatch: { members: ["QueueUrl", "Entries"], mutates: true },
};

const sandbox = new Sandbox();
let credentials: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  await sandbox.reset();
  credentials = await createCredentials();
});

/** The JSON protocol's refusal: `__type` and `message`, and the query-compatible header. */
function sqsShaped({ headers, text }: Answer, what: string): void {
  expect(headers.get("content-type"), what).toBe("application/x-amz-json-1.0");
  expect(headers.get("x-amzn-query-error"), what).toMatch(/;(Sender|Receiver)$/);
  expect(JSON.parse(text), what).toEqual({
    __type: expect.stringMatching(/^com\.amazonaws\.sqs#[A-Za-z.]+$/),
    message: expect.any(String),
  });
}

/** Members aimed at the fixture queue most of the time, so checks past the URL are reached. */
function actionInput(members: string[]): fc.Arbitrary<Record<string, unknown>> {
  const queueUrl = fc.oneof(
    { weight: 3, arbitrary: fc.constant("fixture") },
    { weight: 1, arbitrary: oddString },
    { weight: 1, arbitrary: wrongValue },
  );
  return fc
    .tuple(shapedLike(members), queueUrl)
    .map(([input, url]) =>
      members.includes("QueueUrl") && url === "fixture"
        ? { ...input, QueueUrl: `${ORIGIN}/000000000000/${sandbox.fixture.queue}` }
        : input,
    );
}

const fuzzed = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...Object.keys(ACTIONS)).chain((action) =>
      actionInput(ACTIONS[action].members).map((input) => ({
        action,
        body: JSON.stringify(input),
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      action: fc.constantFrom(...Object.keys(ACTIONS), "Frobnicate", "", "__proto__"),
      body: fc.oneof(
        deepJson,
        oddString,
        fc.jsonValue().map((value) => JSON.stringify(value).slice(0, -1)),
      ),
    }),
  },
);

describe("fuzzing the SQS door", () => {
  it("answers every signed action without a 5xx, refuses in SQS's shape, changes nothing when it refuses", async () => {
    let current = { action: "", body: "" };
    let raw: Promise<string> | undefined;
    let status = 0;
    let headers = new Headers();
    const client = sqsClient(credentials, {
      observe: (response) => {
        status = response.status;
        headers = response.headers;
        raw = response.text();
      },
      maxAttempts: 1,
    });
    // Replaces the command's target and body before the SDK signs the request.
    client.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as HttpRequest;
        request.headers["x-amz-target"] = `AmazonSQS.${current.action}`;
        request.body = current.body;
        request.headers["content-length"] = String(new TextEncoder().encode(current.body).length);
        return next(args);
      },
      { step: "build", priority: "low", name: "fuzzedBody" },
    );

    await assertProperty(
      fc.asyncProperty(fuzzed, async (request) => {
        current = request;
        await sandbox.expectSafe(
          async () => {
            await client.send(new ListQueuesCommand({})).catch(() => undefined);
            return {
              what: `AmazonSQS.${request.action}`,
              status,
              headers,
              text: (await raw) ?? "",
            };
          },
          { mutates: ACTIONS[request.action]?.mutates ?? false, refusal: sqsShaped },
        );
      }),
      { numRuns: 200 },
    );
  });

  it("refuses forged and malformed signatures in SQS's shape, changing nothing", async () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
    const amzDate = fc.oneof(
      fc.constant(new Date().toISOString().replace(/[-:]|\.\d{3}/g, "")),
      fc.constantFrom("", "20200101T000000Z", "99999999T999999Z", "yesterday"),
    );
    const credential = fc
      .tuple(
        fc.oneof(
          fc.constant(credentials.accessKeyId),
          fc.constant("key_0000000000000000"),
          oddString,
        ),
        fc.constantFrom(new Date().toISOString().slice(0, 10).replaceAll("-", ""), "2020010", ""),
        fc.constantFrom("eu-central-1", "", "x/y"),
        fc.constantFrom("sqs", "s3", ""),
        fc.constantFrom("aws4_request", "aws4_request/extra", ""),
      )
      .map((parts) => parts.join("/"));
    const authorization = fc.oneof(
      fc
        .tuple(
          fc.constantFrom("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", "Bearer"),
          credential,
          fc.constantFrom("host;x-amz-date", "host", "", ";;", "x-amz-date;host;x-amz-target"),
          fc.oneof(hex(64), hex(63), oddString),
        )
        .map(([algorithm, cred, signed, signature]) =>
          `${algorithm} Credential=${cred}, SignedHeaders=${signed}, Signature=${signature}`.replace(
            /[^\x20-\x7e]/g,
            "?",
          ),
        ),
      fc.string({ unit: "grapheme-ascii", maxLength: 200 }),
    );
    await assertProperty(
      fc.asyncProperty(
        authorization,
        amzDate,
        fc.constantFrom(...Object.keys(ACTIONS)),
        async (auth, date, action) => {
          const request = new Request(`${ORIGIN}/`, {
            method: "POST",
            headers: {
              authorization: auth,
              "x-amz-date": date,
              "x-amz-target": `AmazonSQS.${action}`,
              "content-type": "application/x-amz-json-1.0",
            },
            body: JSON.stringify({ QueueUrl: `${ORIGIN}/000000000000/${sandbox.fixture.queue}` }),
          });
          const answer = await sandbox.expectSafe(() => answerTo(request), {
            mutates: false,
            refusal: sqsShaped,
          });
          expect([403, 400]).toContain(answer.status);
        },
      ),
      { numRuns: 150 },
    );
  });
});
