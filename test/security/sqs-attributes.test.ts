/**
 * SQS message attributes from a hostile client: checked within fixed bounds before any
 * pattern runs, after the sender's scope, and counted in the message's size like its body.
 */
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import type { HttpRequest } from "@smithy/types";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  isNumberText,
  MAX_ATTRIBUTES_BYTES,
  MAX_NUMBER_CHARS,
} from "../../worker/doors/sqs/message-attributes.ts";
import { adminClient, createCredentials, ORIGIN, sqsClient } from "../sqs/support.ts";
import { createQueue, queueName, stats } from "../worker/api.ts";

const admin = adminClient();

/** The error a send is refused with (fails the test if it is accepted). */
async function refusalOf(command: SendMessageCommand, client = admin): Promise<Error> {
  return client.send(command).then(
    () => {
      throw new Error("the send was accepted");
    },
    (error: Error) => error,
  );
}

async function sqsQueue(prefix: string, maxMessageBytes?: number) {
  const name = queueName(prefix);
  await createQueue(name, maxMessageBytes === undefined ? {} : { maxMessageBytes });
  return { name, url: `${ORIGIN}/000000000000/${name}` };
}

describe("finding 2: Number attributes", () => {
  let queue: { name: string; url: string };
  beforeAll(async () => {
    queue = await sqsQueue("numbers", 1_048_576);
  });

  it("finding 2: a Number attribute of 120,000 digits is refused by its length, before any pattern runs", async () => {
    const refusal = await refusalOf(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: "n",
        MessageAttributes: { n: { DataType: "Number", StringValue: `${"1".repeat(120_000)}x` } },
      }),
    );
    expect(refusal.name).toBe("InvalidParameterValue");
    // The length is what refused it: no pattern ever sees more than MAX_NUMBER_CHARS.
    expect(refusal.message).toContain(`at most ${MAX_NUMBER_CHARS} characters`);
    expect((await stats(queue.name)).sent).toBe(0);
  });

  it("finding 2: a consume key's send is refused for its scope before its attributes are read", async () => {
    const consumer = sqsClient(await createCredentials(["consume"], [queue.name]));
    const refusal = await refusalOf(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: "n",
        MessageAttributes: { n: { DataType: "Number", StringValue: `${"1".repeat(60_000)}x` } },
      }),
      consumer,
    );
    expect(refusal.name).toBe("AccessDenied");
    expect(refusal.message).toContain("produce");
  });

  it("finding 2: the linear number pattern answers as SQS's number rule does", () => {
    // The rule as it was written before (correct, but quadratic on long runs of digits).
    const reference = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
    const numberish = fc.stringMatching(/^[-+0-9.eEx ]{0,24}$/);
    fc.assert(
      fc.property(numberish, (text) => {
        expect(isNumberText(text), text).toBe(reference.test(text));
      }),
      { numRuns: 2_000 },
    );
    for (const text of ["1", "-1.5", "+.5", "1.", "1e10", "1.5E-3", ".", "e5", "1e", "--1"]) {
      expect(isNumberText(text), text).toBe(reference.test(text));
    }
  });
});

/** Ten String attributes of `chars` characters each. */
function tenAttributes(chars: number) {
  const value = "v".repeat(chars);
  return Object.fromEntries(
    Array.from({ length: 10 }, (_, i) => [`a${i}`, { DataType: "String", StringValue: value }]),
  );
}

describe("finding 3: attributes count in the message's size", () => {
  it("finding 3: a queue limited to 1 KiB refuses a small body with 10 KiB of attributes", async () => {
    const queue = await sqsQueue("small", 1024);
    const refusal = await refusalOf(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: "tiny",
        MessageAttributes: tenAttributes(1024),
      }),
    );
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.message).toContain("1024");
    expect((await stats(queue.name)).sent).toBe(0);
  });

  it("finding 3: attributes over 256 KiB in total are refused whatever the queue's limit", async () => {
    const queue = await sqsQueue("large", 1_048_576);
    const refusal = await refusalOf(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: "b",
        MessageAttributes: tenAttributes(30 * 1024),
      }),
    );
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(refusal.message).toContain(String(MAX_ATTRIBUTES_BYTES));
    expect((await stats(queue.name)).sent).toBe(0);
  });

  it("finding 3: backlogBytes counts a message's attributes with its body", async () => {
    const queue = await sqsQueue("counted");
    await admin.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: "hello",
        MessageAttributes: {
          color: { DataType: "String", StringValue: "blue" },
          size: { DataType: "Number", StringValue: "12" },
        },
      }),
    );
    // "hello" + "color" "blue" + "size" "12" + "AWS.DataType.size" "Number"
    const expected = 5 + (5 + 4) + (4 + 2) + (17 + 6);
    expect((await stats(queue.name)).backlogBytes).toBe(expected);
  });
});

describe("finding 10: an attribute named __proto__", () => {
  it("finding 10: an SQS attribute named __proto__ is refused (400), not dropped", async () => {
    const queue = await sqsQueue("proto");
    // The SDK builds its request body in plain objects, where `__proto__` cannot be a key:
    // the body is written here, then signed by the SDK as it is.
    const body = `{"QueueUrl": "${queue.url}", "MessageBody": "p", "MessageAttributes": {"__proto__": {"DataType": "String", "StringValue": "x"}}}`;
    let status = 0;
    const client = sqsClient(await createCredentials(), {
      observe: (response) => {
        status = response.status;
      },
    });
    client.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as HttpRequest;
        request.body = body;
        request.headers["content-length"] = String(new TextEncoder().encode(body).byteLength);
        return next(args);
      },
      { step: "build", priority: "low", name: "rawBody" },
    );
    const refusal = await refusalOf(
      new SendMessageCommand({ QueueUrl: queue.url, MessageBody: "p" }),
      client,
    );
    expect(refusal.name).toBe("InvalidParameterValue");
    expect(status).toBe(400);
    expect(refusal.message).toContain("__proto__");
    expect((await stats(queue.name)).sent).toBe(0);
  });
});
