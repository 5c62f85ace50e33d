import { SELF } from "cloudflare:test";
import {
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  QueueDoesNotExist,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { call } from "../worker/api.ts";
import { createCredentials, ORIGIN, queueName, sqsClient } from "./support.ts";

describe("the SQS JSON protocol on POST /", () => {
  it("answers a refusal as SQS does: status, __type and message, x-amzn-query-error, request id, Date", async () => {
    let raw: Response | undefined;
    const client = sqsClient(await createCredentials(), {
      observe: (response) => {
        raw = response;
      },
    });
    const refusal = await client
      .send(new GetQueueUrlCommand({ QueueName: queueName("absent") }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(QueueDoesNotExist);

    const response = raw as Response;
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/x-amz-json-1.0");
    expect(response.headers.get("x-amzn-query-error")).toBe(
      "AWS.SimpleQueueService.NonExistentQueue;Sender",
    );
    expect(response.headers.get("x-amzn-requestid")).toBe(refusal.$metadata.requestId);
    expect(Date.parse(response.headers.get("date") as string)).not.toBeNaN();
    expect(await response.json()).toEqual({
      __type: "com.amazonaws.sqs#QueueDoesNotExist",
      message: expect.stringContaining("no queue named"),
    });
  });

  it("names the missing parameter", async () => {
    const client = sqsClient(await createCredentials());
    const refusal = await client
      .send(new SendMessageCommand({ QueueUrl: `${ORIGIN}/000000000000/x` } as never))
      .catch((error) => error);
    expect(refusal.name).toBe("MissingParameter");
    expect(refusal.message).toContain("MessageBody");
  });

  it("refuses the SQS actions Sluice does not offer with UnsupportedOperation", async () => {
    const client = sqsClient(await createCredentials());
    const refusal = await client
      .send(new ListQueueTagsCommand({ QueueUrl: `${ORIGIN}/000000000000/x` }))
      .catch((error) => error);
    expect(refusal.name).toBe("UnsupportedOperation");
    expect(refusal.message).toContain("ListQueueTags");
  });

  it.each(["Frobnicate", "constructor", "__proto__"])(
    "refuses the unknown action %s with InvalidAction",
    async (action) => {
      const response = await SELF.fetch(`${ORIGIN}/`, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.0",
          "X-Amz-Target": `AmazonSQS.${action}`,
        },
        body: "{}",
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        __type: "com.amazonaws.sqs#InvalidAction",
        message: `${action} is not an SQS action`,
      });
    },
  );

  it("refuses the older query protocol with a message that says what to send", async () => {
    const response = await SELF.fetch(`${ORIGIN}/`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "Action=ListQueues&Version=2012-11-05",
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("x-amzn-query-error")).toBe("InvalidAction;Sender");
    const { message } = (await response.json()) as { message: string };
    expect(message).toContain("X-Amz-Target: AmazonSQS.<Action>");
  });

  it("leaves GET / to the dashboard and other paths to the HTTP API", async () => {
    const page = await SELF.fetch(`${ORIGIN}/`, { method: "GET" });
    expect(page.headers.get("x-amzn-requestid")).toBeNull();
    await page.arrayBuffer();
    expect((await call("GET", "/health", { token: null })).status).toBe(200);
  });
});
