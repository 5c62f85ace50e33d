import { SELF } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  createQueue,
  ORIGIN,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
} from "../worker/api.ts";
import {
  assertProperty,
  type BodySpec,
  forgedCursor,
  forgedReceipt,
  hostileBody,
  hostileHeaders,
  hostileQuery,
  oddSegment,
  percentEncode,
  ROUTES,
  type Route,
} from "./hostile.ts";

/**
 * Generated and malformed requests at every route. Whatever arrives, the answer is never a
 * 5xx, a 4xx is always an RFC 9457 problem, and a refused request changes nothing: the
 * queues (definitions and stats), the fixture queue's messages and dead letters, and the API
 * keys are snapshotted before and compared after.
 *
 * The fixture queue holds a leased message (with a ready one of its key behind it), free and
 * delayed messages and a dead letter; a request that is accepted and may have changed it
 * gets a fresh fixture for the next run.
 */
const RUNS_PER_ROUTE = 40;

interface Fixture {
  queue: string;
  deadId: string;
  /** Receipts of leases that are over: an acked message's and a dead one's. */
  stale: string[];
}

let fixture: Fixture;
let snapshotBefore: unknown = null;

/**
 * A fresh fixture queue, after deleting every queue (earlier fixtures, queues a fuzzed PUT
 * created), so no lease a fuzzed receive took elsewhere can end during a later comparison.
 * Its leases last an hour, so none ends during the test either.
 */
async function makeFixture(): Promise<Fixture> {
  const { queues } = await ok("GET", "/v1/queues");
  for (const { name } of queues) await ok("DELETE", `/v1/queues/${name}`);
  const queue = queueName("fz");
  await createQueue(queue, {
    partitions: 2,
    maxAttempts: 1,
    maxMessageBytes: 4096,
    visibilityTimeout: 3_600,
  });
  await send(queue, [{ body: "dies", key: "d" }]);
  const [dying] = await receive(queue, { wait: 1 });
  await ok("POST", `/v1/queues/${queue}/nack`, { json: { receipts: [dying.receipt] } });
  await settleDeadLetters(queue, 2);
  await send(queue, [{ body: "acked", key: "s" }]);
  const [acked] = await receive(queue, { wait: 1 });
  await ok("POST", `/v1/queues/${queue}/ack`, { json: { receipts: [acked.receipt] } });
  await send(queue, [
    { body: "leased", key: "a" },
    { body: "behind", key: "a" },
    { body: { free: true } },
    { body: "later", key: "c", delaySeconds: 3_600 },
  ]);
  await receive(queue, { partition: 0 });
  await receive(queue, { partition: 1 });
  return { queue, deadId: dying.id, stale: [acked.receipt, dying.receipt] };
}

/** Every queue's definition and stats, the fixture's messages and dead letters, the keys. */
async function snapshot() {
  const [queues, peeked, dead, keys] = await Promise.all([
    ok("GET", "/v1/queues"),
    ok("GET", `/v1/queues/${fixture.queue}/messages?limit=100`),
    ok("GET", `/v1/queues/${fixture.queue}/dlq?limit=100`),
    ok("GET", "/v1/keys"),
  ]);
  return {
    queues: queues.queues.map(
      ({ name, config, stats: { oldestAgeMs: _, ...stats } }: Record<string, never>) => ({
        name,
        config,
        stats,
      }),
    ),
    peeked: peeked.messages,
    dead: dead.messages,
    keys: keys.keys,
  };
}

interface Hostile {
  route: Route;
  name: string;
  id: string;
  query: string;
  body: BodySpec;
  headers: Record<string, string>;
}

/** A queue name: mostly the fixture's (""), else odd or unknown. */
const hostileName = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 2, arbitrary: oddSegment },
  { weight: 1, arbitrary: fc.constant("no-such-queue") },
);

function hostileRequest(route: Route): fc.Arbitrary<Hostile> {
  return fc.record({
    route: fc.constant(route),
    name: hostileName,
    id: fc.oneof(oddSegment, fc.constantFrom("", "key_0000000000000000")),
    query: hostileQuery(route),
    body: route.method === "GET" ? fc.constant<BodySpec>({ kind: "none" }) : hostileBody(route),
    headers: hostileHeaders,
  });
}

function toRequest({ route, name, id, query, body, headers }: Hostile): Request {
  const path = route.path
    .replace(":q", name === "" ? fixture.queue : name)
    .replace(":id", id === "" ? fixture.deadId : id);
  const all = new Headers(headers);
  all.set("authorization", `Bearer ${ADMIN_TOKEN}`);
  if (body.kind !== "none") all.set("content-type", body.contentType);
  return new Request(`${ORIGIN}${path}${query}`, {
    method: route.method,
    headers: all,
    body: body.kind === "none" ? undefined : body.kind === "text" ? body.text : body.bytes,
  });
}

/** Never a 5xx; a 4xx is a problem; a refusal (or `unchanged`) leaves the snapshot as it was. */
async function expectSafe(request: Request, mutates: boolean, unchanged = false): Promise<void> {
  if (snapshotBefore === null) snapshotBefore = await snapshot();
  const response = await SELF.fetch(request);
  const text = await response.text();
  const what = `${request.method} ${new URL(request.url).pathname}`;
  expect(
    response.status,
    `${what} answered ${response.status}: ${text.slice(0, 500)}`,
  ).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get("content-type"), what).toBe("application/problem+json");
    const problem = JSON.parse(text);
    expect(problem).toEqual({
      type: `urn:sluice:problem:${problem.code}`,
      title: expect.any(String),
      status: response.status,
      detail: expect.any(String),
      code: expect.stringMatching(/^[a-z_]+$/),
    });
  }
  if (response.status >= 400 || unchanged) {
    expect(await snapshot(), `${what} (${response.status}) changed state`).toEqual(snapshotBefore);
  } else if (mutates) {
    fixture = await makeFixture();
    snapshotBefore = null;
  }
}

beforeAll(async () => {
  fixture = await makeFixture();
});

describe("fuzzing every route", () => {
  it.each(ROUTES.map((route) => ({ ...route, route })))(
    "$method $path: never a 5xx, 4xx as problems, refusals change nothing",
    async ({ route }) => {
      await assertProperty(
        fc.asyncProperty(hostileRequest(route), (hostile) =>
          expectSafe(toRequest(hostile), route.mutates),
        ),
        { numRuns: RUNS_PER_ROUTE },
      );
    },
  );

  it("refuses forged and stale receipts per item, changing nothing", async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom("ack", "nack", "extend"),
        fc.array(forgedReceipt(fixture.stale), { minLength: 1, maxLength: 5 }),
        async (action, receipts) => {
          const body = action === "extend" ? { receipts, visibilityTimeout: 5 } : { receipts };
          const request = new Request(`${ORIGIN}/v1/queues/${fixture.queue}/${action}`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await expectSafe(request, true, true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses dead-letter cursors this API never handed out", async () => {
    await assertProperty(
      fc.asyncProperty(forgedCursor, async (cursor) => {
        const request = new Request(
          `${ORIGIN}/v1/queues/${fixture.queue}/dlq?cursor=${percentEncode(cursor)}`,
          { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
        );
        await expectSafe(request, false);
      }),
      { numRuns: 60 },
    );
  });
});
