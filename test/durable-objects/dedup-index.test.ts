/**
 * The partition's dedup index (durable-objects/partition/dedup-index.ts) on a real SQLite
 * database: a hash that matches is never taken for a duplicate until the row says so, ids are
 * forgotten by their own window, the table grows and shrinks with the live ids, it is rebuilt
 * from the rows, and a million live ids fit in a few bytes each; a property test holds it to a
 * map of every id sent, with two hash values for eight ids.
 */
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DedupIndex, type DedupIndexOptions } from "../../durable-objects/partition/dedup-index.ts";
import { segmentId } from "../../durable-objects/partition/segments.ts";
import type { Partition } from "../../durable-objects/partition.ts";
import { type Sql, SqlMeter, sqlOf } from "../../durable-objects/sql.ts";
import { message, messages, openPartition, START, sendOk } from "./partition-fixtures.ts";

const WINDOW = 60_000;

/** Every id hashes alike: each lookup finds every other id's slot. */
const oneHash: DedupIndexOptions = { hash: () => 7 };

type Entry = [dedupId: string, seq: number, id: string, expiresAt?: number];

/** A round as the log writes it: a segment row of no messages holding the dedup list. */
type RoundRow = { seq: number; until: number; entries: Entry[]; priority?: number };

function entries(prefix: string, firstSeq: number, count: number): Entry[] {
  return Array.from({ length: count }, (_, i) => [
    `${prefix}-${i}`,
    firstSeq + i,
    `id-${prefix}-${i}`,
  ]);
}

/**
 * Runs `test` inside a fresh partition object (for its `segments` table) with an index over
 * its storage; `rounds` are written as rows first. The meter counts the index's statements.
 */
async function withIndex<T>(
  rounds: RoundRow[],
  options: DedupIndexOptions,
  test: (index: DedupIndex, meter: SqlMeter, write: (round: RoundRow) => number, sql: Sql) => T,
): Promise<T> {
  const { stub } = await openPartition();
  return runInDurableObject(stub, (_: Partition, state) => {
    const meter = new SqlMeter();
    const sql = sqlOf(state.storage, meter);
    const index = new DedupIndex(sql, options);
    const write = ({ seq, until, entries, priority = 0 }: RoundRow) => {
      const id = segmentId(priority, seq);
      sql`INSERT INTO segments (id, sent_at, fresh, live, dedup_until, state, meta, dedup, messages)
        VALUES (${id}, ${START}, 0, 0, ${until}, '{"l":[],"s":[]}', '[]', ${JSON.stringify(entries)}, '')`;
      return id;
    };
    for (const round of rounds) write(round);
    return test(index, meter, write, sql);
  });
}

/** Writes a round's row and adds it to the index, as the log's endRound does. */
function addRound(index: DedupIndex, write: (round: RoundRow) => number, round: RoundRow): void {
  index.add(
    write(round),
    round.until,
    round.entries.map(([dedupId]) => dedupId),
  );
}

describe("dedup index", () => {
  it("answers a hash collision from the row: a different id is no duplicate", async () => {
    await withIndex([], oneHash, (index, meter, write) => {
      addRound(index, write, { seq: 1, until: START + WINDOW, entries: entries("a", 1, 3) });
      addRound(index, write, { seq: 4, until: START + WINDOW, entries: entries("b", 4, 2) });
      const before = meter.usage.statements;
      const found = index.find(["a-1", "b-1", "c-0", "a-9"], START);
      expect(Object.fromEntries(found)).toEqual({
        "a-1": { seq: 2, id: "id-a-1" },
        "b-1": { seq: 5, id: "id-b-1" },
      });
      // Both rows matched every hash, and both were read by one statement.
      expect(meter.usage.statements - before).toBe(1);
    });
  });

  it("reads nothing when no hash matches", async () => {
    await withIndex([], {}, (index, meter, write) => {
      addRound(index, write, { seq: 1, until: START + WINDOW, entries: entries("a", 1, 100) });
      const before = meter.usage.statements;
      expect(index.find([], START).size).toBe(0);
      expect(index.find(["a-0"], START).get("a-0")).toEqual({ seq: 1, id: "id-a-0" });
      expect(meter.usage.statements - before).toBe(1);
    });
  });

  it("forgets an id when its own window ends, and drops whole runs from memory", async () => {
    await withIndex([], oneHash, (index, _meter, write) => {
      // Two rounds 400 ms apart share a run in memory; each id still ends with its window.
      addRound(index, write, { seq: 1, until: START + WINDOW, entries: entries("a", 1, 2) });
      addRound(index, write, { seq: 3, until: START + WINDOW + 400, entries: entries("b", 3, 2) });
      expect(index.find(["a-0", "b-0"], START + WINDOW - 1).size).toBe(2);
      expect([...index.find(["a-0", "b-0"], START + WINDOW).keys()]).toEqual(["b-0"]);
      expect(index.find(["a-0", "b-0"], START + WINDOW + 400).size).toBe(0);
      index.forget(START + WINDOW);
      expect(index.size).toBe(4);
      index.forget(START + WINDOW + 400);
      expect(index.size).toBe(0);
    });
  });

  it("keeps a later round's ids while an earlier round's longer window holds the run", async () => {
    await withIndex([], {}, (index, _meter, write) => {
      // The window was shortened between the rounds: the later round expires first.
      addRound(index, write, { seq: 1, until: START + 10 * WINDOW, entries: entries("a", 1, 1) });
      addRound(index, write, { seq: 2, until: START + WINDOW, entries: entries("b", 2, 1) });
      index.forget(START + WINDOW);
      expect(index.find(["a-0", "b-0"], START + WINDOW).get("a-0")).toEqual({
        seq: 1,
        id: "id-a-0",
      });
      expect(index.find(["b-0"], START + WINDOW).size).toBe(0);
      index.forget(START + 10 * WINDOW);
      expect(index.size).toBe(0);
    });
  });

  it("answers the live send when an id was sent again after its window", async () => {
    await withIndex([], {}, (index, _meter, write) => {
      addRound(index, write, { seq: 1, until: START + WINDOW, entries: [["x", 1, "first"]] });
      addRound(index, write, { seq: 2, until: START + 2 * WINDOW, entries: [["x", 2, "second"]] });
      expect(index.find(["x"], START + WINDOW).get("x")).toEqual({ seq: 2, id: "second" });
    });
  });

  it("grows with the live ids and shrinks once they expire", async () => {
    await withIndex([], {}, (index, _meter, write) => {
      const empty = index.bytes;
      for (let round = 0; round < 100; round++) {
        const seq = round * 100 + 1;
        addRound(index, write, {
          seq,
          until: START + WINDOW,
          entries: entries(`r${round}`, seq, 100),
        });
      }
      expect(index.size).toBe(10_000);
      // 12 bytes a slot, at most three quarters full.
      expect(index.bytes).toBeGreaterThanOrEqual((10_000 / 0.75) * 12);
      const wanted = ["r0-0", "r42-17", "r99-99"];
      expect([...index.find(wanted, START).keys()].sort()).toEqual(wanted.sort());
      index.forget(START + WINDOW);
      expect(index.size).toBe(0);
      expect(index.bytes).toBe(empty);
      expect(index.find(wanted, START + WINDOW).size).toBe(0);
    });
  });

  it("is rebuilt from the rows: live ids of every priority, each by its own expiry", async () => {
    const rounds: RoundRow[] = [
      { seq: 1, until: START - 1, entries: entries("old", 1, 2) },
      { seq: 3, until: START + WINDOW, entries: entries("p", 3, 2), priority: 7 },
      { seq: 5, until: START + WINDOW, entries: entries("q", 5, 2) },
      // A v1 upgrade's row: each id with its own expiry.
      {
        seq: 7,
        until: START + WINDOW,
        entries: [
          ["v-gone", 7, "id-v-gone", START],
          ["v-live", 8, "id-v-live", START + WINDOW],
        ],
      },
    ];
    await withIndex(rounds, oneHash, (index) => {
      index.load(START);
      expect(index.size).toBe(5);
      const asked = ["old-0", "p-1", "q-0", "v-gone", "v-live"];
      expect(Object.fromEntries(index.find(asked, START))).toEqual({
        "p-1": { seq: 4, id: "id-p-1" },
        "q-0": { seq: 5, id: "id-q-0" },
        "v-live": { seq: 8, id: "id-v-live" },
      });
    });
  });

  it("holds 1,000,000 live ids in at most 32 MB", async () => {
    const ids = 1_000_000;
    const bytes = await withIndex([], {}, (index) => {
      // The worst case for runs: a round per id, each ending a millisecond after the last.
      for (let seq = 1; seq <= ids; seq++) index.add(segmentId(0, seq), START + seq, [`d-${seq}`]);
      expect(index.size).toBe(ids);
      return index.bytes;
    });
    console.log(`dedup index: ${ids} live ids in ${bytes} bytes, ${bytes / ids} bytes an id`);
    expect(bytes).toBeLessThanOrEqual(32 * 1024 * 1024);
  });
});

/** A step of the index's model test. */
type Step =
  | { kind: "round"; ids: string[]; window: number }
  | { kind: "advance"; ms: number }
  | { kind: "find"; ids: string[] }
  | { kind: "cleanup" }
  | { kind: "reload" };

const ALPHABET = ["a", "b", "c", "d", "e", "f", "g", "h"];
const someIds = fc.uniqueArray(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 5 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("round" as const),
    ids: someIds,
    window: fc.constantFrom(300, 2_500, 6_000),
  }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
  fc.record({ kind: fc.constant("find" as const), ids: someIds }),
  fc.constant({ kind: "cleanup" as const }),
  fc.constant({ kind: "reload" as const }),
);

describe("dedup index against a map of every id sent", () => {
  it("answers as the map does, through collisions, windows, clean-ups and reloads", async () => {
    // Two hash values for eight ids: nearly every lookup meets other ids' slots.
    const twoHashes: DedupIndexOptions = { hash: (dedupId) => dedupId.charCodeAt(0) % 2 };
    await withIndex([], twoHashes, async (index, _meter, write, sql) => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 60, size: "medium" }), async (steps) => {
          // Each run starts from no rows.
          sql`DELETE FROM segments`;
          let now = START;
          index.load(now);
          let seq = 0;
          const model = new Map<string, { seq: number; id: string; expiresAt: number }>();
          const expected = (ids: string[]) =>
            Object.fromEntries(
              ids.flatMap((dedupId) => {
                const sent = model.get(dedupId);
                return sent && sent.expiresAt > now
                  ? [[dedupId, { seq: sent.seq, id: sent.id }]]
                  : [];
              }),
            );
          for (const s of steps) {
            if (s.kind === "round") {
              // As the log does: only ids not live now are new, and go in the round's row.
              const found = index.find(s.ids, now);
              expect(Object.fromEntries(found)).toEqual(expected(s.ids));
              const fresh = s.ids.filter((dedupId) => !found.has(dedupId));
              if (fresh.length === 0) continue;
              const entries: Entry[] = fresh.map((dedupId) => [dedupId, ++seq, `id-${seq}`]);
              const until = now + s.window;
              // The round's first row may be of any priority.
              const priority = seq % 10;
              addRound(index, write, { seq: entries[0][1], until, entries, priority });
              for (const [dedupId, at, id] of entries)
                model.set(dedupId, { seq: at, id, expiresAt: until });
            } else if (s.kind === "advance") {
              now += s.ms;
              index.forget(now);
            } else if (s.kind === "find") {
              expect(Object.fromEntries(index.find(s.ids, now))).toEqual(expected(s.ids));
            } else if (s.kind === "cleanup") {
              // The alarm's clean-up deletes a segment only once its dedup window has passed.
              sql`DELETE FROM segments WHERE dedup_until <= ${now}`;
            } else {
              index.load(now);
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe("dedup through the partition", () => {
  it("answers duplicates of earlier rounds after a restart, in at most 4 statements a send", async () => {
    const partition = await openPartition({ dedupWindow: 60 });
    const first = await sendOk(
      partition,
      messages(100).map((m, i) => ({ ...m, dedupId: `a-${i}` })),
    );
    const second = await sendOk(
      partition,
      messages(100).map((m, i) => ({ ...m, dedupId: `b-${i}`, delaySeconds: i % 2 })),
    );
    await partition.restart();
    const before = await sendOk(partition, [message("lone")]);
    const mixed = await sendOk(partition, [
      ...messages(40).map((m, i) => ({ ...m, dedupId: `a-${i * 2}` })),
      ...messages(40).map((m, i) => ({ ...m, dedupId: `b-${i}` })),
      ...messages(20).map((m, i) => ({ ...m, dedupId: `c-${i}` })),
    ]);
    expect(mixed.messages.slice(0, 40)).toEqual(
      first.messages
        .filter((_, i) => i % 2 === 0)
        .slice(0, 40)
        .map((m) => ({ ...m, duplicate: true })),
    );
    expect(mixed.messages.slice(40, 80)).toEqual(
      second.messages.slice(0, 40).map((m) => ({ ...m, duplicate: true })),
    );
    expect(mixed.messages.slice(80).every((m) => !m.duplicate)).toBe(true);
    expect(mixed.stats.usage.statements - before.stats.usage.statements).toBeLessThanOrEqual(4);
    expect(mixed.stats.sent - before.stats.sent).toBe(20);
    partition.advance(60_000);
    const later = await sendOk(partition, [message("again", { dedupId: "a-0" })]);
    expect(later.messages[0].duplicate).toBe(false);
  });
});
