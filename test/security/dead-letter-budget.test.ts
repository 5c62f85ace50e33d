/**
 * Dead letters large enough that a page of 100 would not fit in one RPC answer (32 MiB): the
 * dead-letter object answers pages within a byte budget over bodies, headers and failures, so
 * listing, exporting (every page by cursor) and redriving them all never fails.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { DeadMessage } from "../../core/contract.ts";
import { createQueue, ok, queueName, stats } from "../worker/api.ts";

/** More dead letters than fit in 32 MiB: each carries a header of 1,000,000 characters. */
const COUNT = 36;
const HEADER_CHARS = 1_000_000;

let queue: string;

function deadMessage(index: number): DeadMessage {
  return {
    id: `dead-${String(index).padStart(3, "0")}`,
    queue,
    partition: 0,
    seq: index + 1,
    body: `"message ${index}"`,
    contentType: "application/json",
    headers: { trace: "h".repeat(HEADER_CHARS) },
    key: null,
    priority: 0,
    sentAt: 1_000 + index,
    attempts: 1,
    failures: [{ at: 2_000 + index, attempt: 1, reason: "boom", by: "nack" }],
    diedAt: 2_000 + index,
  };
}

beforeEach(async () => {
  queue = queueName("heavy");
  await createQueue(queue, { maxMessageBytes: 1_048_576 });
  const dead = env.DEAD_LETTERS.getByName(queue);
  // One hand-off a message, as each fits in an RPC alone.
  for (let index = 0; index < COUNT; index++) await dead.accept([deadMessage(index)]);
});

describe("finding 4: dead letters within a byte budget", () => {
  it("finding 4: GET /dlq of 36 dead letters of 1 MB answers a page that fits, and the cursor walks them all", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const page = await ok("GET", `/v1/queues/${queue}/dlq?limit=100${query}`);
      expect(page.messages.length).toBeGreaterThan(0);
      expect(page.messages.length).toBeLessThan(COUNT);
      seen.push(...page.messages.map((message: { id: string }) => message.id));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBeGreaterThan(1);
    expect(seen.sort()).toEqual(Array.from({ length: COUNT }, (_, i) => deadMessage(i).id));
  });

  it('finding 4: redrive {"all": true} moves all 36 in budgeted pages', async () => {
    const answer = await ok("POST", `/v1/queues/${queue}/dlq/redrive`, { json: { all: true } });
    expect(answer).toEqual({ redriven: COUNT, remaining: 0 });
    expect((await stats(queue)).ready).toBe(COUNT);
  });

  it("finding 4: a redrive of 36 ids moves them all in budgeted pages", async () => {
    const ids = Array.from({ length: COUNT }, (_, i) => deadMessage(i).id);
    const answer = await ok("POST", `/v1/queues/${queue}/dlq/redrive`, { json: { ids } });
    expect(answer).toEqual({ redriven: COUNT, remaining: 0 });
    expect((await stats(queue)).ready).toBe(COUNT);
  });
});
