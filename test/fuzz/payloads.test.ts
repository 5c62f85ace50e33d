/**
 * Hostile payloads in bulk, at both doors that take messages (sandbox.ts says what is
 * checked after each: never a 5xx, a refusal in the door's shape, and a refusal changes
 * nothing, stats included): SQS message attributes of huge values, many names and odd types;
 * batches that are deep, wide or heavy; and bodies that arrive as a trickle of chunks.
 * The suite's generated requests, all files together, number over 10,000.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { signedRequest } from "../sqs/signing.ts";
import { type Credentials, createCredentials } from "../sqs/support.ts";
import { ADMIN_TOKEN, ORIGIN } from "../worker/api.ts";
import { assertProperty } from "./hostile.ts";
import { type Answer, answerTo, Sandbox } from "./sandbox.ts";

/**
 * Runs per property: 9,100 here, and 1,940 in the other fuzz files (routes, receipts,
 * cursors, round trips, the SQS door) make the suite's 11,040 generated requests.
 */
const PAYLOAD_RUNS = {
  attributes: 3_500,
  sqsBatches: 1_600,
  httpBatches: 2_800,
  slowBodies: 1_200,
};

/** Long enough for the runs above on a busy two-core machine. */
const PROPERTY_TIMEOUT_MS = 300_000;

const sandbox = new Sandbox();
let credentials: Credentials;

beforeAll(async () => {
  await sandbox.reset();
  credentials = await createCredentials();
});

/** JSON text of an object with these members in this order, duplicates and `__proto__` kept. */
function objectText(members: [string, string][]): string {
  return `{${members.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(",")}}`;
}

function fixtureUrl(): string {
  return `${ORIGIN}/000000000000/${sandbox.fixture.queue}`;
}

// ─────────────────────────── what the properties generate ───────────────────────────

/** A run of `length` copies of `unit`: the sizes that matter are large, so few are built. */
const run = (unit: string, min: number, max: number) =>
  fc.integer({ min, max }).map((length) => unit.repeat(length));

const attributeName = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "__proto__",
      "constructor",
      "toString",
      "AWS.Trace",
      "amazon.x",
      ".lead",
      "trail.",
      "a..b",
      "",
    ),
  },
  { weight: 1, arbitrary: run("n", 257, 5_000) },
);

/** Values SQS refuses, by length or form: long numbers, huge strings, bad base64. */
const hugeValue = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(run("9", 200, 200_000), fc.constantFrom("x", "", ".", "e", "e+", ".5e-3", " "))
      .map(([digits, tail]) => ({ DataType: "Number", StringValue: digits + tail })),
  },
  {
    weight: 2,
    arbitrary: run("v", 20_000, 300_000).map((text) => ({ DataType: "String", StringValue: text })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(run("QUJD", 1, 80_000), fc.constantFrom("", "=", "A", "*", "QQ=="))
      .map(([base64, tail]) => ({ DataType: "Binary", BinaryValue: base64 + tail })),
  },
);

/** Small values of odd types and forms. */
const oddValue = fc.record({
  DataType: fc.constantFrom("Number", "Number.x", "String", "Binary", "Bogus", "", "N".repeat(300)),
  StringValue: fc.oneof(
    fc.stringMatching(/^[-+0-9.eE]{0,30}$/),
    fc.constantFrom("\u0000", "\ud800", "1e999999", "NaN", "Infinity"),
  ),
  StringListValues: fc.constantFrom(undefined, ["a"], []),
});

/** Up to two huge values among up to fourteen odd ones; most messages carrying them are refused. */
const attributesText = fc
  .tuple(
    fc.array(fc.tuple(attributeName, hugeValue), { maxLength: 2 }),
    fc.array(fc.tuple(attributeName, oddValue), { maxLength: 14 }),
  )
  .map(([huge, odd]) =>
    objectText([...huge, ...odd].map(([name, value]) => [name, JSON.stringify(value)])),
  );

/** JSON nested `depth` levels, as arrays or objects. */
const nested = fc
  .tuple(fc.integer({ min: 200, max: 20_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? `${"[".repeat(depth)}${"]".repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );

/**
 * A batch: wide (thousands of tiny entries), heavy (a few entries of up to 500,000 characters,
 * so a request may pass the 4 MiB limit) or small, and maybe with deep JSON in its first entry.
 */
const batchShape = fc
  .tuple(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          entries: fc.integer({ min: 11, max: 5_000 }),
          bodyChars: fc.integer({ min: 1, max: 64 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          entries: fc.integer({ min: 1, max: 12 }),
          bodyChars: fc.integer({ min: 4_097, max: 500_000 }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          entries: fc.integer({ min: 0, max: 12 }),
          bodyChars: fc.integer({ min: 1, max: 8_192 }),
        }),
      },
    ),
    fc.option(nested, { freq: 2 }),
  )
  .map(([size, deep]) => ({ ...size, deep }));

type BatchShape = typeof batchShape extends fc.Arbitrary<infer Shape> ? Shape : never;

function sqsBatchText({ entries, bodyChars, deep }: BatchShape): string {
  const body = JSON.stringify("b".repeat(bodyChars));
  const items = Array.from({ length: entries }, (_, index) =>
    objectText([
      ["Id", JSON.stringify(`e${index}`)],
      ["MessageBody", body],
      ...(deep !== null && index === 0 ? ([["Junk", deep]] as [string, string][]) : []),
    ]),
  );
  return objectText([
    ["QueueUrl", JSON.stringify(fixtureUrl())],
    ["Entries", `[${items.join(",")}]`],
  ]);
}

function httpBatchText({ entries, bodyChars, deep }: BatchShape): string {
  const body = JSON.stringify("b".repeat(bodyChars));
  const items = Array.from({ length: entries }, (_, index) =>
    objectText([["body", deep !== null && index === 0 ? deep : body]]),
  );
  return objectText([["messages", `[${items.join(",")}]`]]);
}

/** How a body trickles in: at most 16 chunks, maybe a pause before each, maybe cut off half way. */
const trickle = fc.record({
  chunkBytes: fc.integer({ min: 1, max: 4_096 }),
  pauses: fc.boolean(),
  cutShort: fc.boolean(),
});

type Trickle = typeof trickle extends fc.Arbitrary<infer Shape> ? Shape : never;

function trickled(text: string, { chunkBytes, pauses, cutShort }: Trickle) {
  const bytes = new TextEncoder().encode(text);
  const end = cutShort ? Math.floor(bytes.byteLength / 2) : bytes.byteLength;
  const chunk = Math.max(chunkBytes, Math.ceil(end / 16));
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pauses) await new Promise((resume) => setTimeout(resume, 0));
      if (offset >= end) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, Math.min(end, offset + chunk)));
      offset += chunk;
    },
  });
}

// ─────────────────────────── how answers are checked ───────────────────────────

/** The SQS JSON protocol's refusal. */
function sqsShaped({ headers, text }: Answer, what: string): void {
  expect(headers.get("content-type"), what).toBe("application/x-amz-json-1.0");
  expect(JSON.parse(text), what).toEqual({
    __type: expect.stringMatching(/^com\.amazonaws\.sqs#[A-Za-z.]+$/),
    message: expect.any(String),
  });
}

/** An RFC 9457 problem. */
function problemShaped({ status, headers, text }: Answer, what: string): void {
  expect(headers.get("content-type"), what).toBe("application/problem+json");
  expect(JSON.parse(text), what).toMatchObject({ status, code: expect.any(String) });
}

async function sqsCall(target: string, text: string, body: BodyInit = text): Promise<Answer> {
  const signed = await signedRequest(credentials, target, text);
  return answerTo(new Request(signed.url, { method: "POST", headers: signed.headers, body }));
}

function httpSend(body: BodyInit): Promise<Answer> {
  return answerTo(
    new Request(`${ORIGIN}/v1/queues/${sandbox.fixture.queue}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body,
    }),
  );
}

describe("fuzzing with hostile payloads", () => {
  it(
    "SQS message attributes: huge values, many names, odd types",
    async () => {
      await assertProperty(
        fc.asyncProperty(attributesText, async (attributes) => {
          const text = objectText([
            ["QueueUrl", JSON.stringify(fixtureUrl())],
            ["MessageBody", '"b"'],
            ["MessageAttributes", attributes],
          ]);
          await sandbox.expectSafe(() => sqsCall("SendMessage", text), {
            mutates: true,
            onlyAdds: true,
            refusal: sqsShaped,
          });
        }),
        { numRuns: PAYLOAD_RUNS.attributes },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "SQS batches: empty, wide, heavy and deep",
    async () => {
      await assertProperty(
        fc.asyncProperty(batchShape, async (shape) => {
          await sandbox.expectSafe(() => sqsCall("SendMessageBatch", sqsBatchText(shape)), {
            mutates: true,
            onlyAdds: true,
            refusal: sqsShaped,
          });
        }),
        { numRuns: PAYLOAD_RUNS.sqsBatches },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "HTTP batches: empty, wide, heavy and deep",
    async () => {
      await assertProperty(
        fc.asyncProperty(batchShape, async (shape) => {
          await sandbox.expectSafe(() => httpSend(httpBatchText(shape)), {
            mutates: true,
            onlyAdds: true,
            refusal: problemShaped,
          });
        }),
        { numRuns: PAYLOAD_RUNS.httpBatches },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "bodies that trickle in, whole or cut short, at both doors",
    async () => {
      await assertProperty(
        fc.asyncProperty(batchShape, trickle, fc.boolean(), async (shape, slow, sqs) => {
          const send = sqs
            ? () => {
                const text = sqsBatchText(shape);
                return sqsCall("SendMessageBatch", text, trickled(text, slow));
              }
            : () => httpSend(trickled(httpBatchText(shape), slow));
          await sandbox.expectSafe(send, {
            mutates: true,
            onlyAdds: true,
            refusal: sqs ? sqsShaped : problemShaped,
          });
        }),
        { numRuns: PAYLOAD_RUNS.slowBodies },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});
