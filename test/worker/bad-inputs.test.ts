import { beforeAll, describe, expect, it } from "vitest";
import { MAX_REQUEST_BYTES } from "../../worker/request.ts";
import {
  type CallOptions,
  call,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
  stats,
} from "./api.ts";

/**
 * Bad input is refused with a 4xx problem a person can act on, and changes nothing: each
 * case below runs against a queue holding a ready, a leased and a dead message, and the
 * queue's stats are the same afterwards.
 */
const queue = queueName("bad");
const messages = `/v1/queues/${queue}/messages`;
let deadId = "";
let consumeOnly = "";
/** The receipt of the leased message: a bad receive carrying it must not ack it. */
let leasedReceipt = "";

beforeAll(async () => {
  await createQueue(queue, { partitions: 2, maxAttempts: 1, maxMessageBytes: 1024 });
  await send(queue, [{ body: "dead", key: "b" }]);
  const [dying] = await receive(queue);
  await ok("POST", `/v1/queues/${queue}/nack`, { json: { receipts: [dying.receipt] } });
  // The second message of key "a" waits behind the leased first.
  await send(queue, [
    { body: "leased", key: "a" },
    { body: "ready", key: "a" },
  ]);
  [{ receipt: leasedReceipt }] = await receive(queue);
  await settleDeadLetters(queue, 2);
  deadId = (await ok("GET", `/v1/queues/${queue}/dlq`)).messages[0].id;
  consumeOnly = await createKey(["consume"], ["*"]);
});

/**
 * Everything but the oldest message's age, which grows by itself, and the storage reads and
 * requests, which reading the stats adds to; the rows written must not change either.
 */
async function snapshot() {
  const { oldestAgeMs: _, usage, ...rest } = await stats(queue);
  return { ...rest, rowsWritten: usage.rowsWritten };
}

function many(count: number, message: Record<string, unknown> = { body: 1 }) {
  return Array.from({ length: count }, () => message);
}

function streamOf(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024);
  let left = bytes;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      controller.enqueue(chunk.subarray(0, Math.min(chunk.byteLength, left)));
      left -= chunk.byteLength;
    },
  });
}

type Case = [
  what: string,
  method: string,
  path: () => string,
  options: () => CallOptions,
  status: number,
  code: string,
];

const q = () => `/v1/queues/${queue}`;
const raw = (headers: Record<string, string>, body: BodyInit = "payload"): CallOptions => ({
  body,
  headers,
});

const CASES: Case[] = [
  // queue definitions
  [
    "a queue name with a space",
    "PUT",
    () => "/v1/queues/bad%20name",
    () => ({ json: {} }),
    400,
    "invalid_queue_name",
  ],
  [
    "a queue name of 81 characters",
    "PUT",
    () => `/v1/queues/${"a".repeat(81)}`,
    () => ({ json: {} }),
    400,
    "invalid_queue_name",
  ],
  [
    "a queue name with a dot that is not .fifo",
    "GET",
    () => "/v1/queues/orders.v2",
    () => ({}),
    400,
    "invalid_queue_name",
  ],
  ["zero partitions", "PUT", q, () => ({ json: { partitions: 0 } }), 400, "invalid_request"],
  ["65 partitions", "PUT", q, () => ({ json: { partitions: 65 } }), 400, "invalid_request"],
  ["a misspelt config field", "PUT", q, () => ({ json: { partitons: 4 } }), 400, "invalid_request"],
  ["an unknown ordering", "PUT", q, () => ({ json: { ordering: "lifo" } }), 400, "invalid_request"],
  [
    "a soft backlog above the hard one",
    "PUT",
    q,
    () => ({ json: { backlog: { soft: 10, hard: 5 } } }),
    400,
    "invalid_config",
  ],
  [
    "fewer partitions than the queue has",
    "PUT",
    q,
    () => ({ json: { partitions: 1 } }),
    409,
    "partitions_shrink",
  ],
  [
    "a config sent as text/plain",
    "PUT",
    q,
    () => raw({ "Content-Type": "text/plain" }, '{"maxAttempts":3}'),
    415,
    "unsupported_media_type",
  ],
  [
    "a config that is not JSON",
    "PUT",
    q,
    () => raw({ "Content-Type": "application/json" }, "{maxAttempts: 3"),
    400,
    "invalid_json",
  ],
  // sends
  [
    "a message without a body",
    "POST",
    () => messages,
    () => ({ json: { key: "k" } }),
    400,
    "invalid_request",
  ],
  [
    "an empty batch",
    "POST",
    () => messages,
    () => ({ json: { messages: [] } }),
    400,
    "invalid_request",
  ],
  [
    "a batch of 101",
    "POST",
    () => messages,
    () => ({ json: { messages: many(101) } }),
    400,
    "invalid_request",
  ],
  [
    "a negative delay",
    "POST",
    () => messages,
    () => ({ json: { body: 1, delaySeconds: -1 } }),
    400,
    "invalid_request",
  ],
  [
    "a delay over 14 days",
    "POST",
    () => messages,
    () => ({ json: { body: 1, delaySeconds: 14 * 86_400 + 1 } }),
    400,
    "invalid_request",
  ],
  [
    "priority 10",
    "POST",
    () => messages,
    () => ({ json: { body: 1, priority: 10 } }),
    400,
    "invalid_request",
  ],
  [
    "a fractional priority",
    "POST",
    () => messages,
    () => ({ json: { body: 1, priority: 1.5 } }),
    400,
    "invalid_request",
  ],
  [
    "an empty key",
    "POST",
    () => messages,
    () => ({ json: { body: 1, key: "" } }),
    400,
    "invalid_request",
  ],
  [
    "a key of 257 characters",
    "POST",
    () => messages,
    () => ({ json: { body: 1, key: "k".repeat(257) } }),
    400,
    "invalid_request",
  ],
  [
    "an unknown message field",
    "POST",
    () => messages,
    () => ({ json: { body: 1, ttl: 5 } }),
    400,
    "invalid_request",
  ],
  [
    "an unknown content type",
    "POST",
    () => messages,
    () => ({ json: { body: "<p>", contentType: "text/html" } }),
    400,
    "invalid_request",
  ],
  [
    "a text/plain message with an object body",
    "POST",
    () => messages,
    () => ({ json: { body: { a: 1 }, contentType: "text/plain" } }),
    400,
    "invalid_request",
  ],
  [
    "an octet-stream body that is not base64",
    "POST",
    () => messages,
    () => ({ json: { body: "not base64!", contentType: "application/octet-stream" } }),
    400,
    "invalid_request",
  ],
  [
    "a header with a number value",
    "POST",
    () => messages,
    () => ({ json: { body: 1, headers: { attempt: 1 } } }),
    400,
    "invalid_request",
  ],
  [
    "33 headers",
    "POST",
    () => messages,
    () => ({
      json: {
        body: 1,
        headers: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`h${i}`, "v"])),
      },
    }),
    400,
    "invalid_request",
  ],
  [
    "a send that is not JSON",
    "POST",
    () => messages,
    () => raw({ "Content-Type": "application/json" }, '{"body": 1'),
    400,
    "invalid_json",
  ],
  ["a JSON array", "POST", () => messages, () => ({ json: [{ body: 1 }] }), 400, "invalid_request"],
  [
    "a body over the queue's maxMessageBytes",
    "POST",
    () => messages,
    () => ({ json: { body: "x".repeat(2000) } }),
    413,
    "message_too_large",
  ],
  [
    "a batch with one message too large",
    "POST",
    () => messages,
    () => ({ json: { messages: [{ body: 1 }, { body: "x".repeat(2000) }] } }),
    413,
    "message_too_large",
  ],
  [
    "a raw send with an empty body",
    "POST",
    () => messages,
    () => raw({ "Content-Type": "text/plain" }, ""),
    400,
    "empty_body",
  ],
  [
    "a raw send with Sluice-Delay: soon",
    "POST",
    () => messages,
    () => raw({ "Sluice-Delay": "soon" }),
    400,
    "invalid_header",
  ],
  [
    "a raw send with Sluice-Priority: 12",
    "POST",
    () => messages,
    () => raw({ "Sluice-Priority": "12" }),
    400,
    "invalid_header",
  ],
  [
    "a raw send with an unknown Sluice- header",
    "POST",
    () => messages,
    () => raw({ "Sluice-Delays": "5" }),
    400,
    "invalid_header",
  ],
  [
    "a JSON send with a Sluice-Key header",
    "POST",
    () => messages,
    () => ({ json: { body: 1 }, headers: { "Sluice-Key": "k" } }),
    400,
    "invalid_request",
  ],
  [
    "a text/plain raw body that is not UTF-8",
    "POST",
    () => messages,
    () => raw({ "Content-Type": "text/plain" }, new Uint8Array([0xff, 0xfe, 0xfd])),
    400,
    "invalid_text",
  ],
  [
    "a body over the request limit (Content-Length)",
    "POST",
    () => messages,
    () => raw({ "Content-Type": "application/octet-stream" }, "x".repeat(MAX_REQUEST_BYTES + 1)),
    413,
    "request_too_large",
  ],
  [
    "a streamed body over the request limit",
    "POST",
    () => messages,
    () => raw({ "Content-Type": "application/octet-stream" }, streamOf(MAX_REQUEST_BYTES + 1)),
    413,
    "request_too_large",
  ],
  [
    "a send to a queue that does not exist",
    "POST",
    () => "/v1/queues/no-such-queue/messages",
    () => ({ json: { body: 1 } }),
    404,
    "queue_not_found",
  ],
  [
    "a send with a consume-only key",
    "POST",
    () => messages,
    () => ({ json: { body: 1 }, token: consumeOnly }),
    403,
    "forbidden",
  ],
  // receive and settle
  [
    "receive max 0",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { max: 0 } }),
    400,
    "invalid_request",
  ],
  [
    "receive max 101",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { max: 101 } }),
    400,
    "invalid_request",
  ],
  [
    "receive wait 21",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { wait: 21 } }),
    400,
    "invalid_request",
  ],
  [
    "receive with a zero lease",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { visibilityTimeout: 0 } }),
    400,
    "invalid_request",
  ],
  [
    "receive from partition 5 of 2",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { partition: 5 } }),
    400,
    "partition_out_of_range",
  ],
  [
    "receive with a form body",
    "POST",
    () => `${q()}/receive`,
    () => raw({ "Content-Type": "application/x-www-form-urlencoded" }, "max=5"),
    415,
    "unsupported_media_type",
  ],
  [
    "receive carrying 101 receipts to ack",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { ack: Array(101).fill(leasedReceipt) } }),
    400,
    "invalid_request",
  ],
  [
    "receive carrying a number for a receipt to ack",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { ack: [leasedReceipt, 42] } }),
    400,
    "invalid_request",
  ],
  [
    "receive from partition 5 of 2, carrying a receipt to ack",
    "POST",
    () => `${q()}/receive`,
    () => ({ json: { partition: 5, ack: [leasedReceipt] } }),
    400,
    "partition_out_of_range",
  ],
  [
    "ack with no receipts",
    "POST",
    () => `${q()}/ack`,
    () => ({ json: { receipts: [] } }),
    400,
    "invalid_request",
  ],
  [
    "ack without a receipts field",
    "POST",
    () => `${q()}/ack`,
    () => ({ json: {} }),
    400,
    "invalid_request",
  ],
  [
    "ack with a number for a receipt",
    "POST",
    () => `${q()}/ack`,
    () => ({ json: { receipts: [42] } }),
    400,
    "invalid_request",
  ],
  [
    "ack with 101 receipts",
    "POST",
    () => `${q()}/ack`,
    () => ({ json: { receipts: many(101, {}).map(() => "r") } }),
    400,
    "invalid_request",
  ],
  [
    "nack with an empty reason",
    "POST",
    () => `${q()}/nack`,
    () => ({ json: { receipts: ["r"], reason: "" } }),
    400,
    "invalid_request",
  ],
  [
    "nack with a delay given as a string",
    "POST",
    () => `${q()}/nack`,
    () => ({ json: { receipts: ["r"], delaySeconds: "5" } }),
    400,
    "invalid_request",
  ],
  [
    "extend without visibilityTimeout",
    "POST",
    () => `${q()}/extend`,
    () => ({ json: { receipts: ["r"] } }),
    400,
    "invalid_request",
  ],
  [
    "extend by more than 12 hours",
    "POST",
    () => `${q()}/extend`,
    () => ({ json: { receipts: ["r"], visibilityTimeout: 43_201 } }),
    400,
    "invalid_request",
  ],
  // peek and dead letters
  ["peek limit=0", "GET", () => `${messages}?limit=0`, () => ({}), 400, "invalid_query"],
  ["peek limit=abc", "GET", () => `${messages}?limit=abc`, () => ({}), 400, "invalid_query"],
  [
    "peek with an unknown parameter",
    "GET",
    () => `${messages}?limt=5`,
    () => ({}),
    400,
    "invalid_query",
  ],
  [
    "a dead-letter cursor this API never gave",
    "GET",
    () => `${q()}/dlq?cursor=garbage`,
    () => ({}),
    400,
    "invalid_query",
  ],
  [
    "a dead-letter page of 1000",
    "GET",
    () => `${q()}/dlq?limit=1000`,
    () => ({}),
    400,
    "invalid_query",
  ],
  [
    "a redrive naming neither ids nor all",
    "POST",
    () => `${q()}/dlq/redrive`,
    () => ({ json: {} }),
    400,
    "invalid_request",
  ],
  [
    "a redrive naming both ids and all",
    "POST",
    () => `${q()}/dlq/redrive`,
    () => ({ json: { ids: [deadId], all: true } }),
    400,
    "invalid_request",
  ],
  [
    "a redrive to an invalid queue name",
    "POST",
    () => `${q()}/dlq/redrive`,
    () => ({ json: { all: true, target: "no/slashes" } }),
    400,
    "invalid_request",
  ],
  [
    "a redrive to a queue that does not exist",
    "POST",
    () => `${q()}/dlq/redrive`,
    () => ({ json: { all: true, target: "missing-target" } }),
    404,
    "queue_not_found",
  ],
  [
    "an unknown dead-letter id",
    "GET",
    () => `${q()}/dlq/unknown-id`,
    () => ({}),
    404,
    "dead_letter_not_found",
  ],
  [
    "deleting an unknown dead letter",
    "DELETE",
    () => `${q()}/dlq/unknown-id`,
    () => ({}),
    404,
    "dead_letter_not_found",
  ],
  // keys, tokens, routes
  [
    "a key without scopes",
    "POST",
    () => "/v1/keys",
    () => ({ json: { name: "k", scopes: [], queues: ["*"] } }),
    400,
    "invalid_request",
  ],
  [
    "a key with an unknown scope",
    "POST",
    () => "/v1/keys",
    () => ({ json: { name: "k", scopes: ["root"], queues: ["*"] } }),
    400,
    "invalid_request",
  ],
  [
    "a key origin with a path",
    "POST",
    () => "/v1/keys",
    () => ({
      json: { name: "k", scopes: ["produce"], queues: ["*"], origins: ["https://a.example/app"] },
    }),
    400,
    "invalid_request",
  ],
  [
    "a send without a token",
    "POST",
    () => messages,
    () => ({ json: { body: 1 }, token: null }),
    401,
    "unauthorized",
  ],
  [
    "a send with a wrong token",
    "POST",
    () => messages,
    () => ({ json: { body: 1 }, token: "wrong" }),
    401,
    "unauthorized",
  ],
  ["PATCH on a queue", "PATCH", q, () => ({ json: {} }), 405, "method_not_allowed"],
  [
    "a route that does not exist",
    "POST",
    () => `${q()}/publish`,
    () => ({ json: { body: 1 } }),
    404,
    "not_found",
  ],
];

describe("bad input", () => {
  it("has at least 40 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)("refuses %s", async (_what, method, path, options, status, code) => {
    const before = await snapshot();
    const problem = await expectProblem(await call(method, path(), options()), status, code);
    expect(await snapshot()).toEqual(before);
    expect(problem.detail).not.toMatch(/undefined|\[object/);
  });

  it("names the field and the rule in the detail", async () => {
    const response = await call("POST", messages, {
      json: { messages: [{ body: 1 }, { body: 2, delaySeconds: 2_000_000 }] },
    });
    const problem = await expectProblem(response, 400, "invalid_request");
    expect(problem.detail).toBe(
      "body.messages[1].delaySeconds: Too big: expected number to be <=1209600",
    );
  });

  it("says a missing field is required", async () => {
    const problem = await expectProblem(
      await call("POST", messages, { json: { key: "k" } }),
      400,
      "invalid_request",
    );
    expect(problem.detail).toBe("body.body: is required");
  });
});
