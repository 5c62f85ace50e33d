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
import { beforeAll, describe, expect, it, vi } from "vitest";
import { admit, inflight, release, type Ticket } from "../../worker/admission.ts";
import { partitionForKey } from "../../worker/placement.ts";
import { BODY_DEADLINE_MS } from "../../worker/request.ts";
import { callWithEnv, fetchWithEnv, ok, send, shedCount } from "../worker/api.ts";
import {
  type Credentials,
  createCredentials,
  ORIGIN,
  queueName,
  REGION,
  sqsClient,
} from "./support.ts";

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

describe("finding 1: no unauthenticated client takes every slot", () => {
  it("finding 1: refuses a request that names no live key before reading its body", async () => {
    const now = new Date();
    const refusals = {
      MissingAuthenticationToken: {},
      InvalidClientTokenId: { authorization: authorization("key_0123456789abcdef", now) },
      RequestExpired: {
        authorization: authorization(key.accessKeyId, now),
        "x-amz-date": amzDate(new Date(now.getTime() - 20 * 60_000)),
      },
    };
    for (const [code, headers] of Object.entries(refusals)) {
      // The body never ends: only a refusal made before reading it can answer.
      const held = trickled(headers);
      const response = await held.answer;
      expect(response.status).toBe(403);
      expect(((await response.json()) as { __type: string }).__type).toBe(
        `com.amazonaws.sqs#${code}`,
      );
      held.close();
    }
    expect(inflight()).toBe(0);
  });

  it("finding 1: bodies not yet authenticated have a small pool of their own, freed when the client leaves", async () => {
    const { name } = await createQueue({});
    // Limit 10: one request at a time may be read before its signature is checked.
    const limits = { SLUICE_MAX_INFLIGHT: "10" };
    const slow = trickled({ authorization: authorization(key.accessKeyId, new Date()) }, limits);
    await vi.waitFor(() => expect(inflight()).toBe(1));

    const second = trickled({ authorization: authorization(key.accessKeyId, new Date()) }, limits);
    const refused = await second.answer;
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { message: string }).message).toContain("signature");
    second.close();

    // Authenticated work is untouched by the pool.
    const sent = await callWithEnv("POST", `/v1/queues/${name}/messages`, limits, {
      json: { body: "through" },
    });
    expect(sent.status).toBe(201);

    slow.leave();
    expect(inflight()).toBe(0);
  });

  it("finding 1: gives up on a body that does not arrive in time (RequestTimeout)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const slow = trickled({ authorization: authorization(key.accessKeyId, new Date()) });
      // Its headers checked, the door is reading the body under a deadline.
      await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1));
      vi.advanceTimersByTime(BODY_DEADLINE_MS);
      const response = await slow.answer;
      expect(response.status).toBe(408);
      expect(((await response.json()) as { __type: string }).__type).toBe(
        "com.amazonaws.sqs#RequestTimeout",
      );
    } finally {
      vi.useRealTimers();
    }
    expect(inflight()).toBe(0);
  });

  it("finding 1: one key's parked long polls are capped and never shed sends", async () => {
    const { name, url } = await createQueue({ ordering: "unordered" });
    // Limit 10: a key may park one long poll; limit 2 would shed a send from one at work.
    const parked = limited(10).send(
      new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 15 }),
    );
    await vi.waitFor(() => expect(inflight()).toBe(1));
    const refused = await limited(10)
      .send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 15 }))
      .catch((error) => error);
    expect(refused.name).toBe("ServiceUnavailable");
    expect(refused.message).toContain("long polls");

    await limited(2).send(new SendMessageCommand({ QueueUrl: url, MessageBody: "wake up" }));
    expect((await parked).Messages?.map((message) => message.Body)).toEqual(["wake up"]);
    expect(inflight()).toBe(0);
    expect((await ok("GET", `/v1/queues/${name}`)).stats).toMatchObject({ sent: 1 });
  });
});

describe("metrics of shedding", () => {
  it("counts an SQS send refused at the hard backlog as shed, once", async () => {
    const before = await shedCount("backlog_full");
    const { url } = await createQueue({ backlog: { soft: 1, hard: 1 } });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "fits" }));
    const refusal = await sqsClient(key, { maxAttempts: 1 })
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: "over" }))
      .catch((error) => error);
    expect(refusal).toBeInstanceOf(RequestThrottled);
    expect(await shedCount("backlog_full")).toBe(before + 1);
  });
});

/** 20240102T030405Z */
function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** A well-formed SigV4 Authorization header for `keyId`; its signature is never right. */
function authorization(keyId: string, at: Date): string {
  const scope = `${keyId}/${amzDate(at).slice(0, 8)}/${REGION}/sqs/aws4_request`;
  return `AWS4-HMAC-SHA256 Credential=${scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${"0".repeat(64)}`;
}

/**
 * An SQS SendMessage whose body sends `{` and then nothing: the slowloris of finding 1. `leave`
 * is the client going away; `close` ends the body.
 */
function trickled(headers: Record<string, string>, limits: Partial<Env> = {}) {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(opened) {
      controller = opened;
      opened.enqueue(new TextEncoder().encode("{"));
    },
  });
  const departure = new AbortController();
  const request = new Request(`${ORIGIN}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "AmazonSQS.SendMessage",
      "x-amz-date": amzDate(new Date()),
      ...headers,
    },
    body,
    signal: departure.signal,
  });
  return {
    answer: fetchWithEnv(request, limits),
    leave: () => departure.abort(),
    close: () => {
      try {
        controller?.close();
      } catch {
        // The Worker cancelled the body already.
      }
    },
  };
}
