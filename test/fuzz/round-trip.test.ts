import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../worker/request.ts";
import { call, createQueue, ok, queueName } from "../worker/api.ts";
import { assertProperty, codeUnits, oddString } from "./hostile.ts";

/**
 * What a queue accepts it gives back unchanged: keys, dedup ids, headers and bodies made of
 * any code units (control characters, NUL, lone surrogates, emoji) and any JSON come back
 * from a peek exactly as sent, or the send is refused with a 400 and nothing is stored.
 */
const queue = queueName("rt");

beforeAll(async () => {
  await createQueue(queue, { ordering: "unordered", maxMessageBytes: 65_536 });
});

interface Sent {
  id: string;
  seq: number;
  duplicate: boolean;
}

/** The stored message a send answered with, read back by its seq (one partition). */
async function storedAs(sent: Sent) {
  const { messages } = await ok(
    "GET",
    `/v1/queues/${queue}/messages?partition=0&after=${sent.seq - 1}&limit=1`,
  );
  expect(messages[0].id).toBe(sent.id);
  return messages[0];
}

async function held(): Promise<number> {
  const { stats } = await ok("GET", `/v1/queues/${queue}`);
  return stats.ready + stats.delayed + stats.leased;
}

const headerName = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);

describe("round trips", () => {
  it("gives back keys, headers and bodies exactly as sent, or refuses them", async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.record({
          key: oddString,
          dedupId: oddString,
          headers: fc.dictionary(headerName, codeUnits, { maxKeys: 3 }),
          text: codeUnits,
          json: fc.jsonValue({ maxDepth: 4 }),
          contentType: fc.constantFrom("text/plain", "application/json"),
        }),
        async ({ key, dedupId, headers, text, json, contentType }) => {
          const message = {
            body: contentType === "text/plain" ? text : json,
            contentType,
            key,
            dedupId,
            headers,
          };
          const before = await held();
          const response = await call("POST", `/v1/queues/${queue}/messages`, {
            json: { messages: [message] },
          });
          if (response.status !== 201) {
            expect(response.status, await response.text()).toBe(400);
            expect(await held()).toBe(before);
            return;
          }
          const [sent] = ((await response.json()) as { messages: Sent[] }).messages;
          if (sent.duplicate) return;
          const stored = await storedAs(sent);
          expect(stored).toMatchObject({ key, headers, contentType });
          // As it travelled: JSON has no -0, so a generated -0 arrives (and comes back) as 0.
          expect(stored.body).toEqual(JSON.parse(JSON.stringify(message.body)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it(`takes JSON nested ${MAX_JSON_DEPTH} deep and refuses one level more, wherever it is`, async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const send = (text: string) =>
      call("POST", `/v1/queues/${queue}/messages`, {
        body: text,
        headers: { "Content-Type": "application/json" },
      });
    // The message object is one level, its body the rest.
    const taken = await send(`{"body":${nested(MAX_JSON_DEPTH - 1)}}`);
    expect(taken.status).toBe(201);
    const [sent] = ((await taken.json()) as { messages: Sent[] }).messages;
    const stored = await storedAs(sent);
    expect(JSON.stringify(stored.body)).toBe(nested(MAX_JSON_DEPTH - 1));
    const before = await held();
    for (const depth of [MAX_JSON_DEPTH, 5_000, 500_000]) {
      const response = await send(`{"body":${nested(depth)}}`);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    }
    expect(await held()).toBe(before);
  });

  it("refuses a body with a field named __proto__ instead of dropping the field", async () => {
    const before = await held();
    for (const text of ['{"body":{"__proto__":1,"a":1}}', '{"body":[{"b":{"__proto__":{}}}]}']) {
      const response = await call("POST", `/v1/queues/${queue}/messages`, {
        body: text,
        headers: { "Content-Type": "application/json" },
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain("__proto__");
    }
    expect(await held()).toBe(before);
  });
});
