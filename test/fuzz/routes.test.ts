import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { routes } from "../../worker/doors/http/router.ts";
import { ADMIN_TOKEN, ORIGIN } from "../worker/api.ts";
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
import { type Answer, answerTo, Sandbox } from "./sandbox.ts";

/**
 * Generated and malformed requests at every route of the HTTP API (sandbox.ts says what is
 * checked): never a 5xx, a 4xx is always an RFC 9457 problem, a refusal changes nothing.
 */
const RUNS_PER_ROUTE = 40;

const sandbox = new Sandbox();

/** An RFC 9457 problem whose status is the answer's. */
function problemShaped({ status, headers, text }: Answer, what: string): void {
  expect(headers.get("content-type"), what).toBe("application/problem+json");
  const problem = JSON.parse(text);
  expect(problem, what).toEqual({
    type: `urn:sluice:problem:${problem.code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code: expect.stringMatching(/^[a-z_]+$/),
  });
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
    .replace(":q", name === "" ? sandbox.fixture.queue : name)
    .replace(":id", id === "" ? sandbox.fixture.deadId : id)
    .replace(":key", id === "" ? "fz-key" : id)
    .replace(/:t\b|:name\b/, name === "" ? "fz-topic-or-schedule" : name);
  const all = new Headers(headers);
  all.set("authorization", `Bearer ${ADMIN_TOKEN}`);
  if (body.kind !== "none") all.set("content-type", body.contentType);
  return new Request(`${ORIGIN}${path}${query}`, {
    method: route.method,
    headers: all,
    body: body.kind === "none" ? undefined : body.kind === "text" ? body.text : body.bytes,
  });
}

beforeAll(() => sandbox.reset());

describe("fuzzing every route", () => {
  it.each(ROUTES.map((route) => ({ ...route, route })))(
    "$method $path: never a 5xx, 4xx as problems, refusals change nothing",
    async ({ route }) => {
      await assertProperty(
        fc.asyncProperty(hostileRequest(route), async (hostile) => {
          await sandbox.expectSafe(() => answerTo(toRequest(hostile)), {
            mutates: route.mutates,
            refusal: problemShaped,
          });
        }),
        { numRuns: RUNS_PER_ROUTE },
      );
    },
  );

  it("covers every route the router answers", () => {
    const fuzzed = ROUTES.map(({ method, path }) => `${method} ${path}`);
    for (const [method, , , path] of routes) expect(fuzzed).toContain(`${method} ${path}`);
  });

  it("refuses forged and stale receipts per item, changing nothing", async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom("ack", "nack", "extend"),
        fc.array(forgedReceipt(sandbox.fixture.stale), { minLength: 1, maxLength: 5 }),
        async (action, receipts) => {
          const body = action === "extend" ? { receipts, visibilityTimeout: 5 } : { receipts };
          const request = new Request(`${ORIGIN}/v1/queues/${sandbox.fixture.queue}/${action}`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await sandbox.expectSafe(() => answerTo(request), {
            mutates: true,
            unchanged: true,
            refusal: problemShaped,
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses dead-letter cursors this API never handed out", async () => {
    await assertProperty(
      fc.asyncProperty(forgedCursor, async (cursor) => {
        const request = new Request(
          `${ORIGIN}/v1/queues/${sandbox.fixture.queue}/dlq?cursor=${percentEncode(cursor)}`,
          { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
        );
        await sandbox.expectSafe(() => answerTo(request), {
          mutates: false,
          refusal: problemShaped,
        });
      }),
      { numRuns: 60 },
    );
  });
});
