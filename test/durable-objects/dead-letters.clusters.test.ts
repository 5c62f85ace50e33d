import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadMessage } from "../../core/contract.ts";
import { rowsOf } from "./sql.ts";

function deadLetters() {
  return env.DEAD_LETTERS.getByName(`queue-${crypto.randomUUID()}`);
}

/** A dead message whose final failure is `reason`. */
function dead(n: number, reason: string, overrides: Partial<DeadMessage> = {}): DeadMessage {
  return {
    id: `msg-${n}`,
    queue: "orders",
    partition: 0,
    seq: n,
    body: JSON.stringify({ order: n }),
    contentType: "application/json",
    headers: {},
    key: `customer-${n % 7}`,
    priority: 0,
    sentAt: 1_000 + n,
    attempts: 2,
    failures: [
      { at: 1_100 + n, attempt: 1, reason: "lease expired", by: "expiry" },
      { at: 1_200 + n, attempt: 2, reason, by: "nack" },
    ],
    diedAt: 10_000 + n,
    ...overrides,
  };
}

const TIMEOUT = "timeout after <n> ms calling order <hex>";
const DECLINED = "card declined: '…'";

describe("failure clusters", () => {
  it("groups dead letters by their final reason's fingerprint as they arrive", async () => {
    const stub = deadLetters();
    await stub.accept([
      dead(1, "timeout after 3021 ms calling order 8f3a91", { key: "a" }),
      dead(2, "timeout after 2980 ms calling order 11c2e0", { key: "b" }),
      dead(3, "card declined: 'insufficient funds'", { key: "a" }),
      dead(4, "timeout after 17 ms calling order 00aa11", { key: "a" }),
    ]);
    // A retried hand-off counts nothing twice.
    await stub.accept([dead(2, "timeout after 2980 ms calling order 11c2e0", { key: "b" })]);

    expect(await stub.clusters()).toEqual([
      {
        fingerprint: TIMEOUT,
        example: "timeout after 3021 ms calling order 8f3a91",
        count: 3,
        keys: [
          { key: "a", count: 2 },
          { key: "b", count: 1 },
        ],
        firstAt: 10_001,
        lastAt: 10_004,
      },
      {
        fingerprint: DECLINED,
        example: "card declined: 'insufficient funds'",
        count: 1,
        keys: [{ key: "a", count: 1 }],
        firstAt: 10_003,
        lastAt: 10_003,
      },
    ]);
  });

  it("lists the five keys with the most messages, and leaves keyless messages out of keys", async () => {
    const stub = deadLetters();
    const keys = ["k1", "k1", "k1", "k2", "k2", "k3", "k4", "k5", "k6", "k6", null];
    await stub.accept(keys.map((key, n) => dead(n, `HTTP 503 (${n})`, { key })));
    const [cluster] = await stub.clusters();
    expect(cluster.count).toBe(11);
    expect(cluster.keys).toEqual([
      { key: "k1", count: 3 },
      { key: "k2", count: 2 },
      { key: "k6", count: 2 },
      { key: "k3", count: 1 },
      { key: "k4", count: 1 },
    ]);
  });

  it("uncounts removed messages, reads first and last times again, and drops emptied clusters", async () => {
    const stub = deadLetters();
    await stub.accept([
      dead(1, "timeout after 1 ms calling order 0a1b", { key: "a" }),
      dead(2, "timeout after 2 ms calling order 0a1c", { key: "b" }),
      dead(3, "timeout after 3 ms calling order 0a1d", { key: "a" }),
      dead(4, "card declined: 'x'", { key: "c" }),
    ]);
    await stub.remove(["msg-1", "msg-4", "msg-unknown"]);
    expect(await stub.clusters()).toEqual([
      {
        fingerprint: TIMEOUT,
        example: "timeout after 1 ms calling order 0a1b",
        count: 2,
        keys: [
          { key: "a", count: 1 },
          { key: "b", count: 1 },
        ],
        firstAt: 10_002,
        lastAt: 10_003,
      },
    ]);
    await stub.remove(["msg-3"]);
    expect((await stub.clusters())[0]).toMatchObject({ count: 1, firstAt: 10_002, lastAt: 10_002 });
    await stub.remove(["msg-2"]);
    expect(await stub.clusters()).toEqual([]);
    expect(await rowsOf(stub, "SELECT * FROM cluster_keys")).toEqual([]);
  });

  it("lists one cluster's messages and deletes one cluster, leaving the others", async () => {
    const stub = deadLetters();
    await stub.accept([
      dead(1, "timeout after 1 ms calling order 0a1b"),
      dead(2, "card declined: 'x'"),
      dead(3, "timeout after 3 ms calling order 0a1d"),
    ]);
    const page = await stub.list({ limit: 10, cluster: TIMEOUT });
    expect(page.messages.map((m) => m.id)).toEqual(["msg-3", "msg-1"]);

    expect(await stub.purge(TIMEOUT)).toEqual({ purged: 2 });
    expect((await stub.list({ limit: 10 })).messages.map((m) => m.id)).toEqual(["msg-2"]);
    expect((await stub.clusters()).map((c) => [c.fingerprint, c.count])).toEqual([[DECLINED, 1]]);

    expect(await stub.purge()).toEqual({ purged: 1 });
    expect(await stub.clusters()).toEqual([]);
  });

  it("clusters the messages already held when the schema step runs", async () => {
    const stub = deadLetters();
    await stub.accept([
      dead(1, "timeout after 1 ms calling order 0a1b", { key: "a" }),
      dead(2, "timeout after 2 ms calling order 0a1c", { key: "a" }),
      dead(3, "card declined: 'x'", { key: null }),
    ]);
    // Back to the v1 schema with the same messages, as an object made before clusters holds them.
    await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP INDEX dead_messages_by_cluster");
      sql.exec("ALTER TABLE dead_messages DROP COLUMN fingerprint");
      sql.exec("DROP TABLE failure_clusters");
      sql.exec("DROP TABLE cluster_keys");
      sql.exec("DROP TABLE redrive_jobs");
      sql.exec("DROP TABLE redrive_moves");
      sql.exec("ALTER TABLE dead_messages DROP COLUMN edits");
      sql.exec("UPDATE schema_version SET version = 1");
    });
    await evictDurableObject(stub);

    expect(await stub.clusters()).toEqual([
      {
        fingerprint: TIMEOUT,
        example: "timeout after 1 ms calling order 0a1b",
        count: 2,
        keys: [{ key: "a", count: 2 }],
        firstAt: 10_001,
        lastAt: 10_002,
      },
      {
        fingerprint: DECLINED,
        example: "card declined: 'x'",
        count: 1,
        keys: [],
        firstAt: 10_003,
        lastAt: 10_003,
      },
    ]);
    expect((await stub.list({ limit: 10, cluster: DECLINED })).messages).toHaveLength(1);
  });
});
