/**
 * Upgrade in place: a partition holding storage v1 data (built here with the v1 schema step
 * itself, then filled as v1 code left it) migrates to v2 on its next start with nothing lost:
 * messages in every state, their leases (the old receipts still settle), fifo groups with a
 * leased head, live dedup ids, the dead-letter outbox, the counters and the seq.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeadMessage } from "../../core/contract.ts";
import { encodeReceipt } from "../../core/receipt.ts";
import { MIGRATIONS } from "../../durable-objects/partition/schema.ts";
import { migrate } from "../../durable-objects/sql.ts";
import {
  bodies,
  leases,
  message,
  openPartition,
  peek,
  receiveNow,
  sendOk,
  type TestPartition,
} from "./partition-fixtures.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

/** Replaces the partition's storage with a v1 database holding `fill`'s rows. */
async function asVersion1(partition: TestPartition, fill: (sql: SqlStorage) => void) {
  await runInDurableObject(partition.stub, async (_, state) => {
    await state.storage.deleteAll();
    migrate(state.storage, MIGRATIONS.slice(0, 1));
    fill(state.storage.sql);
  });
  await partition.restart();
}

describe("upgrade from storage v1", () => {
  it("keeps every message, lease, dedup id, outbox entry and counter", async () => {
    const partition = await openPartition({ ordering: "fifo", maxAttempts: 5, dedupWindow: 600 });
    const now = partition.now();
    const leaseEnd = now + 30_000;
    const dead: DeadMessage = {
      id: "dead-id",
      queue: partition.queue,
      partition: 0,
      seq: 7,
      body: JSON.stringify("dead"),
      contentType: "application/json",
      headers: {},
      key: null,
      priority: 0,
      sentAt: now - 5_000,
      attempts: 5,
      failures: [{ at: now - 1_000, attempt: 5, reason: "bad", by: "nack" }],
      diedAt: now - 1_000,
    };
    const failure = [{ at: now - 2_000, attempt: 1, reason: "retry me", by: "nack" }];
    await asVersion1(partition, (sql) => {
      const insert = (
        seq: number,
        body: string,
        key: string | null,
        head: number,
        state: string,
        visibleAt: number,
        extra: { attempts?: number; token?: string; leasedAt?: number; failures?: unknown } = {},
      ) =>
        sql.exec(
          `INSERT INTO messages (seq, id, body, content_type, headers, key, grp, group_head,
            priority, bytes, sent_at, state, visible_at, attempts, lease_token, leased_at, failures)
           VALUES (?, ?, ?, 'application/json', ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
          seq,
          `id-${seq}`,
          JSON.stringify(body),
          JSON.stringify({ trace: `t${seq}` }),
          key,
          key ?? "",
          head,
          JSON.stringify(body).length,
          now - 10_000 + seq,
          state,
          visibleAt,
          extra.attempts ?? 0,
          extra.token ?? null,
          extra.leasedAt ?? null,
          JSON.stringify(extra.failures ?? []),
        );
      insert(1, "a1", "a", 1, "ready", now - 10_000 + 1);
      // A fifo group whose head is leased: its next message must wait.
      insert(2, "b1", "b", 1, "leased", leaseEnd, { attempts: 1, token: TOKEN, leasedAt: now });
      insert(3, "b2", "b", 0, "ready", now - 10_000 + 3);
      insert(4, "later", null, 1, "delayed", now + 60_000);
      insert(5, "c1", "c", 1, "ready", now - 2_000, { attempts: 1, failures: failure });
      sql.exec("UPDATE sqlite_sequence SET seq = 7 WHERE name = 'messages'");
      sql.exec(
        "INSERT INTO dedup (dedup_id, message_id, seq, expires_at) VALUES (?, ?, ?, ?), (?, ?, ?, ?)",
        "d-live",
        "id-1",
        1,
        now + 300_000,
        "d-acked",
        "id-6",
        6,
        now + 300_000,
      );
      sql.exec(
        "INSERT INTO dead_letter_outbox (seq, message, tries, next_attempt_at) VALUES (7, ?, 1, ?)",
        JSON.stringify(dead),
        now,
      );
      sql.exec(
        `UPDATE counters SET value = CASE name WHEN 'sent' THEN 7 WHEN 'acked' THEN 1
          WHEN 'nacked' THEN 2 WHEN 'dead_lettered' THEN 1 ELSE value END`,
      );
      sql.exec(
        "INSERT INTO meta (name, value) VALUES ('context', ?)",
        JSON.stringify({ queue: partition.queue, partition: 0, ...partition.context }),
      );
    });

    // The schema is v2 and the v1 tables are gone.
    expect(await partition.rows("SELECT version FROM schema_version")).toEqual([{ version: 3 }]);
    expect(
      await partition.rows(
        "SELECT name FROM sqlite_master WHERE name IN ('messages', 'dedup', 'counters')",
      ),
    ).toEqual([]);

    // Every message, in its state, with its history.
    const held = await peek(partition);
    expect(
      held.map(({ seq, body, state, attempts, visibleAt, key, headers }) => ({
        seq,
        body: JSON.parse(body),
        state,
        attempts,
        visibleAt,
        key,
        headers,
      })),
    ).toEqual([
      {
        seq: 1,
        body: "a1",
        state: "ready",
        attempts: 0,
        visibleAt: now - 9_999,
        key: "a",
        headers: { trace: "t1" },
      },
      {
        seq: 2,
        body: "b1",
        state: "leased",
        attempts: 1,
        visibleAt: leaseEnd,
        key: "b",
        headers: { trace: "t2" },
      },
      {
        seq: 3,
        body: "b2",
        state: "ready",
        attempts: 0,
        visibleAt: now - 9_997,
        key: "b",
        headers: { trace: "t3" },
      },
      {
        seq: 4,
        body: "later",
        state: "delayed",
        attempts: 0,
        visibleAt: now + 60_000,
        key: null,
        headers: { trace: "t4" },
      },
      {
        seq: 5,
        body: "c1",
        state: "ready",
        attempts: 1,
        visibleAt: now - 2_000,
        key: "c",
        headers: { trace: "t5" },
      },
    ]);
    const stats = await partition.stub.stats(partition.context);
    expect(stats).toMatchObject({
      ready: 3,
      leased: 1,
      delayed: 1,
      sent: 7,
      acked: 1,
      nacked: 2,
      deadLettered: 1,
      pendingDeadLetters: 1,
      oldestSentAt: now - 9_999,
      backlogBytes: held.reduce((sum, m) => sum + m.body.length, 0),
    });

    // Live dedup ids still answer duplicates, for messages held and messages acked.
    const twins = await sendOk(partition, [
      message("again", { dedupId: "d-live" }),
      message("again", { dedupId: "d-acked" }),
    ]);
    expect(twins.messages).toEqual([
      { id: "id-1", seq: 1, duplicate: true },
      { id: "id-6", seq: 6, duplicate: true },
    ]);

    // Fifo: group b stays locked behind its leased head; the delayed message waits.
    const received = (await receiveNow(partition, 10)).messages;
    expect(bodies(received)).toEqual(["a1", "c1"]);
    expect(received.map((m) => m.attempts)).toEqual([1, 2]);

    // The v1 lease still settles with its old receipt, which lets b's next message go.
    const receipt = encodeReceipt({ partition: 0, seq: 2, token: TOKEN });
    const acked = await partition.stub.ack(partition.context, leases([receipt]));
    expect(acked).toMatchObject({ acked: 1, failed: [] });
    expect(bodies((await receiveNow(partition, 10)).messages)).toEqual(["b2"]);

    // Seqs go on from v1's.
    const next = await sendOk(partition, [message("new")]);
    expect(next.messages[0].seq).toBe(8);

    // The outbox is handed to the dead-letter object.
    await partition.runAlarm();
    expect(await env.DEAD_LETTERS.getByName(partition.queue).get("dead-id")).toMatchObject({
      id: "dead-id",
      failures: dead.failures,
    });
    expect((await partition.stub.stats(partition.context)).pendingDeadLetters).toBe(0);
  });
});
