import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadLetterQuery, DeadMessage } from "../../core/contract.ts";
import { isDeadLetterCursor } from "../../durable-objects/dead-letters.ts";
import { rowsOf } from "./sql.ts";

/** A fresh dead-letter object per test, so tests never see each other's messages. */
function deadLetters() {
  return env.DEAD_LETTERS.getByName(`queue-${crypto.randomUUID()}`);
}

function deadMessage(n: number, overrides: Partial<DeadMessage> = {}): DeadMessage {
  return {
    id: `msg-${String(n).padStart(4, "0")}`,
    queue: "orders",
    partition: n % 3,
    seq: n,
    body: JSON.stringify({ order: n }),
    contentType: "application/json",
    headers: { "x-trace": `trace-${n}` },
    key: `customer-${n % 5}`,
    priority: 0,
    sentAt: 1_000 + n,
    attempts: 2,
    failures: [
      { at: 1_100 + n, attempt: 1, reason: "lease expired", by: "expiry" },
      { at: 1_200 + n, attempt: 2, reason: `HTTP 503 from billing (${n})`, by: "nack" },
    ],
    diedAt: 10_000 + n,
    ...overrides,
  };
}

/** A handed-off message as the object answers it: with the (so far no) edits made to it. */
const held = (message: DeadMessage) => ({ ...message, edits: [] });

type Stub = ReturnType<typeof deadLetters>;

/** Follows cursors to the end and returns every page. */
async function allPages(stub: Stub, query: Omit<DeadLetterQuery, "cursor">) {
  const pages: DeadMessage[][] = [];
  let cursor: string | undefined;
  do {
    const page = await stub.list({ ...query, cursor });
    pages.push(page.messages);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return pages;
}

const ids = (messages: DeadMessage[]) => messages.map((m) => m.id);

describe("accepting dead messages", () => {
  it("stores one copy when the same message is handed off twice", async () => {
    const stub = deadLetters();
    expect(await stub.accept([deadMessage(1)])).toEqual({ accepted: 1, duplicates: 0 });
    expect(await stub.accept([deadMessage(1)])).toEqual({ accepted: 1, duplicates: 1 });
    expect(await stub.count()).toBe(1);
  });

  it("keeps the first copy when a retried hand-off carries different fields", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1)]);
    await stub.accept([deadMessage(1, { body: '"changed"', diedAt: 99_999 })]);
    expect(await stub.get("msg-0001")).toEqual(held(deadMessage(1)));
  });

  it("stores one copy when a batch repeats an id", async () => {
    const stub = deadLetters();
    const outcome = await stub.accept([deadMessage(1), deadMessage(2), deadMessage(1)]);
    expect(outcome).toEqual({ accepted: 2, duplicates: 0 });
    expect(await stub.count()).toBe(2);
  });

  it("keeps the message with its whole failure history", async () => {
    const stub = deadLetters();
    const message = deadMessage(7, {
      contentType: "application/octet-stream",
      body: btoa("\u0000\u0001binary"),
      key: null,
      priority: 9,
      failures: [
        { at: 1, attempt: 1, reason: "lease expired", by: "expiry" },
        { at: 2, attempt: 2, reason: "push endpoint answered 500", by: "push" },
        { at: 3, attempt: 3, reason: "invalid payload: missing 'sku'", by: "nack" },
      ],
      attempts: 3,
    });
    await stub.accept([message]);
    expect(await stub.get(message.id)).toEqual(held(message));
  });
});

describe("listing dead messages", () => {
  it("lists the newest death first and breaks ties by id", async () => {
    const stub = deadLetters();
    await stub.accept([
      deadMessage(1, { diedAt: 500 }),
      deadMessage(2, { diedAt: 700 }),
      deadMessage(3, { diedAt: 500 }),
      deadMessage(4, { diedAt: 600 }),
    ]);
    const page = await stub.list({ limit: 10 });
    expect(ids(page.messages)).toEqual(["msg-0002", "msg-0004", "msg-0003", "msg-0001"]);
    expect(page.cursor).toBeNull();
  });

  it("pages through more than one page with no message repeated or missed", async () => {
    const stub = deadLetters();
    // Many ties on diedAt, so the cursor has to carry the id to keep its place.
    const messages = Array.from({ length: 23 }, (_, n) =>
      deadMessage(n, { diedAt: 100 + (n % 4) }),
    );
    await stub.accept(messages);
    const pages = await allPages(stub, { limit: 5 });
    expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
    const expected = [...messages]
      .sort((a, b) => b.diedAt - a.diedAt || (a.id < b.id ? 1 : -1))
      .map((m) => m.id);
    expect(pages.flatMap(ids)).toEqual(expected);
  });

  it("keeps its place when messages arrive and leave between pages", async () => {
    const stub = deadLetters();
    await stub.accept(Array.from({ length: 6 }, (_, n) => deadMessage(n)));
    const first = await stub.list({ limit: 3 });
    expect(ids(first.messages)).toEqual(["msg-0005", "msg-0004", "msg-0003"]);
    await stub.accept([deadMessage(9)]);
    await stub.remove(["msg-0002"]);
    const second = await stub.list({ limit: 3, cursor: first.cursor ?? undefined });
    expect(ids(second.messages)).toEqual(["msg-0001", "msg-0000"]);
    expect(second.cursor).toBeNull();
  });

  it("keeps its place with ids holding dots, percent signs and non-ASCII letters", async () => {
    const stub = deadLetters();
    const odd = ["a.b.c", "100%", "ünïcode", "x/y?z=1&w", "plain"];
    await stub.accept(odd.map((id, n) => deadMessage(n, { id, diedAt: 7 })));
    const pages = await allPages(stub, { limit: 1 });
    expect(pages.flatMap(ids)).toEqual([...odd].sort().reverse());
  });

  it("ends with a null cursor when the last page is exactly full", async () => {
    const stub = deadLetters();
    await stub.accept(Array.from({ length: 4 }, (_, n) => deadMessage(n)));
    expect((await allPages(stub, { limit: 2 })).map((page) => page.length)).toEqual([2, 2]);
  });

  it("answers an empty page with a null cursor when nothing is held", async () => {
    expect(await deadLetters().list({ limit: 10 })).toEqual({ messages: [], cursor: null });
  });

  it("holds the limit to 1–100 whatever it is asked", async () => {
    const stub = deadLetters();
    await stub.accept(Array.from({ length: 120 }, (_, n) => deadMessage(n)));
    expect((await stub.list({ limit: 0 })).messages).toHaveLength(1);
    expect((await stub.list({ limit: -5 })).messages).toHaveLength(1);
    expect((await stub.list({ limit: 2.7 })).messages).toHaveLength(2);
    expect((await stub.list({ limit: 1_000 })).messages).toHaveLength(100);
    expect((await stub.list({ limit: Number.NaN })).messages).toHaveLength(100);
  });

  it("ends a page early when the bodies are large, and continues on the next", async () => {
    const stub = deadLetters();
    const big = (n: number) => deadMessage(n, { body: `"${"x".repeat(1_000_000)}"` });
    for (let n = 0; n < 9; n++) await stub.accept([big(n)]);
    const pages = await allPages(stub, { limit: 100 });
    expect(pages.map((page) => page.length)).toEqual([8, 1]);
    expect(new Set(pages.flatMap(ids)).size).toBe(9);
  });

  it("refuses a cursor it did not hand out", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1), deadMessage(2)]);
    const { cursor } = await stub.list({ limit: 1 });
    expect(cursor).not.toBeNull();
    expect(isDeadLetterCursor(cursor as string)).toBe(true);
    for (const bad of [
      "",
      "not a cursor",
      "12",
      "x.msg-0001",
      "12.%E0%A4%A",
      "12345678901234567.a",
    ]) {
      expect(isDeadLetterCursor(bad)).toBe(false);
    }
    // Called on the instance: a rejecting stub call leaks an unhandled rejection in the test
    // pool (workers-sdk#14736).
    await runInDurableObject(stub, async (instance) => {
      await expect(instance.list({ limit: 1, cursor: "not a cursor" })).rejects.toThrow(/cursor/);
    });
  });
});

describe("filtering dead messages", () => {
  /** Four messages whose reasons, bodies and deaths differ in known ways. */
  async function seeded() {
    const stub = deadLetters();
    await stub.accept([
      deadMessage(1, {
        body: '{"sku":"Blue-Widget"}',
        failures: [{ at: 1, attempt: 1, reason: "Timeout talking to STOCK", by: "nack" }],
        diedAt: 1_000,
      }),
      deadMessage(2, {
        body: '{"sku":"red-widget"}',
        failures: [
          { at: 1, attempt: 1, reason: "lease expired", by: "expiry" },
          { at: 2, attempt: 2, reason: "100% of retries used", by: "nack" },
        ],
        diedAt: 2_000,
      }),
      deadMessage(3, {
        body: '{"sku":"blue_gadget"}',
        failures: [{ at: 1, attempt: 1, reason: "timeout talking to billing", by: "nack" }],
        diedAt: 3_000,
      }),
      deadMessage(4, {
        body: '{"sku":"green-widget"}',
        failures: [{ at: 1, attempt: 1, reason: "Schema: field_x missing", by: "nack" }],
        diedAt: 4_000,
      }),
    ]);
    return stub;
  }

  async function matching(stub: Stub, filters: Omit<DeadLetterQuery, "limit" | "cursor">) {
    return (await allPages(stub, { limit: 100, ...filters })).flatMap(ids);
  }

  it("matches a reason as a case-insensitive substring of any failure", async () => {
    const stub = await seeded();
    expect(await matching(stub, { reason: "TIMEOUT" })).toEqual(["msg-0003", "msg-0001"]);
    expect(await matching(stub, { reason: "Lease Exp" })).toEqual(["msg-0002"]);
    expect(await matching(stub, { reason: "no such reason" })).toEqual([]);
  });

  it("takes % and _ in a reason literally", async () => {
    const stub = await seeded();
    expect(await matching(stub, { reason: "100%" })).toEqual(["msg-0002"]);
    expect(await matching(stub, { reason: "%" })).toEqual(["msg-0002"]);
    expect(await matching(stub, { reason: "field_x" })).toEqual(["msg-0004"]);
    expect(await matching(stub, { reason: "d_x" })).toEqual(["msg-0004"]);
    expect(await matching(stub, { reason: "_" })).toEqual(["msg-0004"]);
  });

  it("never matches a reason search across two failures", async () => {
    const stub = await seeded();
    expect(await matching(stub, { reason: "expired\n100%" })).toEqual([]);
  });

  it("matches text as a case-insensitive substring of the body", async () => {
    const stub = await seeded();
    expect(await matching(stub, { text: "BLUE" })).toEqual(["msg-0003", "msg-0001"]);
    expect(await matching(stub, { text: "widget" })).toEqual(["msg-0004", "msg-0002", "msg-0001"]);
    expect(await matching(stub, { text: "blue_" })).toEqual(["msg-0003"]);
    expect(await matching(stub, { text: "e_g" })).toEqual(["msg-0003"]);
  });

  it("bounds diedAt by since and until, both inclusive", async () => {
    const stub = await seeded();
    expect(await matching(stub, { since: 2_000 })).toEqual(["msg-0004", "msg-0003", "msg-0002"]);
    expect(await matching(stub, { until: 2_000 })).toEqual(["msg-0002", "msg-0001"]);
    expect(await matching(stub, { since: 2_000, until: 3_000 })).toEqual(["msg-0003", "msg-0002"]);
    expect(await matching(stub, { since: 2_001, until: 2_999 })).toEqual([]);
  });

  it("combines filters with AND", async () => {
    const stub = await seeded();
    expect(await matching(stub, { reason: "timeout", text: "widget" })).toEqual(["msg-0001"]);
    expect(await matching(stub, { reason: "timeout", since: 2_000 })).toEqual(["msg-0003"]);
    expect(await matching(stub, { text: "widget", since: 1_500, until: 3_500 })).toEqual([
      "msg-0002",
    ]);
    expect(await matching(stub, { reason: "a", text: "-widget", until: 4_000 })).toEqual([
      "msg-0004",
      "msg-0002",
      "msg-0001",
    ]);
  });

  it("pages through filtered results with the cursor", async () => {
    const stub = await seeded();
    const pages = await allPages(stub, { limit: 1, text: "widget" });
    expect(pages.map(ids)).toEqual([["msg-0004"], ["msg-0002"], ["msg-0001"]]);
  });
});

describe("reading and removing dead messages", () => {
  it("gets one message by id, or null when it is not held", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1)]);
    expect(await stub.get("msg-0001")).toEqual(held(deadMessage(1)));
    expect(await stub.get("msg-0002")).toBeNull();
  });

  it("gets many in the order asked, leaving out ids it does not hold", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1), deadMessage(2), deadMessage(3)]);
    const found = await stub.getMany(["msg-0003", "nope", "msg-0001", "msg-0003"]);
    expect(found).toEqual({ messages: [held(deadMessage(3)), held(deadMessage(1))], unread: [] });
    expect(await stub.getMany([])).toEqual({ messages: [], unread: [] });
  });

  it("removes the given ids and counts only those it held", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1), deadMessage(2), deadMessage(3)]);
    expect(await stub.remove(["msg-0001", "msg-0003", "unknown"])).toEqual({ removed: 2 });
    expect(await stub.remove(["msg-0001"])).toEqual({ removed: 0 });
    expect(await stub.count()).toBe(1);
    expect(await stub.get("msg-0002")).toEqual(held(deadMessage(2)));
  });

  it("accepts a message again after it was removed (a redriven message can die again)", async () => {
    const stub = deadLetters();
    await stub.accept([deadMessage(1)]);
    await stub.remove(["msg-0001"]);
    const again = deadMessage(1, { attempts: 5, diedAt: 50_000 });
    expect(await stub.accept([again])).toEqual({ accepted: 1, duplicates: 0 });
    expect(await stub.get("msg-0001")).toEqual(held(again));
  });

  it("purges everything and says how much", async () => {
    const stub = deadLetters();
    await stub.accept(Array.from({ length: 12 }, (_, n) => deadMessage(n)));
    expect(await stub.count()).toBe(12);
    expect(await stub.purge()).toEqual({ purged: 12 });
    expect(await stub.count()).toBe(0);
    expect(await stub.list({ limit: 100 })).toEqual({ messages: [], cursor: null });
    expect(await stub.purge()).toEqual({ purged: 0 });
  });
});

describe("restart", () => {
  it("keeps every message and its history when the object leaves memory", async () => {
    const stub = deadLetters();
    const messages = Array.from({ length: 5 }, (_, n) => deadMessage(n));
    await stub.accept(messages);
    await evictDurableObject(stub);

    expect(await stub.count()).toBe(5);
    expect(await stub.get("msg-0002")).toEqual(held(deadMessage(2)));
    expect(await stub.accept([deadMessage(2)])).toEqual({ accepted: 1, duplicates: 1 });
    expect((await stub.list({ limit: 100, reason: "billing (4)" })).messages).toEqual([
      held(deadMessage(4)),
    ]);
    expect(await rowsOf(stub, "SELECT version FROM schema_version")).toEqual([{ version: 4 }]);
  });
});
