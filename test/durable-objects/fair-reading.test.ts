/**
 * order.ts readFair and fairFroms, alone, on random segments: what a fair receive reads and
 * what it then tells flow control about where keys' fresh messages begin (docs/architecture.md,
 * "Flow control"). Segments are lists of messages, each fresh or not; a key's `from` is any
 * lower bound of its first fresh message's segment, as flow control keeps it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type FairRun,
  type FairStart,
  fairFroms,
  readFair,
} from "../../durable-objects/partition/order.ts";

interface Message {
  seq: number;
  group: string;
  ready: boolean;
  size: number;
  priority: number;
  segment: number;
  fresh: boolean;
}

const KEYS = ["a", "b", "c", "d", "e"];

const caseArbitrary = fc
  .record({
    segments: fc.array(
      fc.record({
        gap: fc.integer({ min: 1, max: 3 }),
        messages: fc.array(fc.record({ key: fc.constantFrom(...KEYS), fresh: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
    window: fc.integer({ min: 1, max: 12 }),
    /** Per key: how far below its first fresh segment its `from` lies (0: exact). */
    slack: fc.array(fc.integer({ min: 0, max: 40 }), {
      minLength: KEYS.length,
      maxLength: KEYS.length,
    }),
    frontSlack: fc.integer({ min: 0, max: 10 }),
    starts: fc.subarray(KEYS),
    want: fc.integer({ min: 1, max: 3 }),
    /** How many candidates the consumer takes before it stops (null: all). */
    stopAfter: fc.option(fc.integer({ min: 0, max: 30 })),
    /** Per key: how many of its handed-on messages are taken (a prefix, as a receive takes). */
    taken: fc.array(fc.integer({ min: 0, max: 4 }), {
      minLength: KEYS.length,
      maxLength: KEYS.length,
    }),
  })
  .map((c) => {
    const messages: Message[] = [];
    let id = 100;
    for (const segment of c.segments) {
      id += segment.gap * 10;
      for (const [index, m] of segment.messages.entries()) {
        const seq = id + index;
        messages.push({
          seq,
          group: m.key,
          ready: true,
          size: 1,
          priority: 0,
          segment: id,
          fresh: m.fresh,
        });
      }
    }
    const firstFresh = (key: string) =>
      messages.find((m) => m.fresh && m.group === key)?.segment ?? Number.POSITIVE_INFINITY;
    const froms = new Map<string, number>();
    KEYS.forEach((key, i) => {
      if (Number.isFinite(firstFresh(key))) froms.set(key, firstFresh(key) - c.slack[i]);
    });
    const anyFresh = messages.find((m) => m.fresh)?.segment ?? Number.POSITIVE_INFINITY;
    return { ...c, messages, froms, front: anyFresh - c.frontSlack };
  });

describe("readFair", () => {
  it("reads each fresh message once, in order, a key's only after its older ones, within bounds; fairFroms stays a lower bound", () => {
    fc.assert(
      fc.property(caseArbitrary, (c) => {
        let pulled = 0;
        const open = (from: number) =>
          (function* () {
            for (const m of c.messages) {
              if (m.segment < from || !m.fresh) continue;
              pulled++;
              yield m;
            }
          })();
        const starts: FairStart[] = c.starts
          .filter((key) => c.froms.has(key))
          .map((key) => ({ group: key, from: c.froms.get(key) as number, want: c.want }));
        const runs: FairRun<Message>[] = [];
        const reader = readFair(
          open,
          {
            front: c.front,
            window: c.window,
            starts,
            segment: (m) => m.segment,
            from: (key) => c.froms.get(key) ?? Number.POSITIVE_INFINITY,
          },
          runs,
        );
        const looked: Message[] = [];
        for (const m of reader) {
          if (c.stopAfter !== null && looked.length >= c.stopAfter) break;
          looked.push(m);
        }

        // Once each, in segment and seq order.
        for (let i = 1; i < looked.length; i++)
          expect(looked[i].seq).toBeGreaterThan(looked[i - 1].seq);
        // A key's message only after every older fresh one of the key.
        for (const m of looked) {
          const older = c.messages.filter((o) => o.fresh && o.group === m.group && o.seq < m.seq);
          for (const o of older) expect(looked).toContain(o);
        }
        // Bounded: the front's window and the starts' window, at most a segment (6) over each
        // run's stop, a message read ahead per run, and a segment for each start.
        const bound = 2 * c.window + (starts.length + 2) * 7;
        expect(pulled).toBeLessThanOrEqual(bound);
        // Read to the end, a start whose `from` is exact has its key's first fresh message looked at.
        if (c.stopAfter === null) {
          for (const start of starts) {
            const first = c.messages.find((m) => m.fresh && m.group === start.group);
            if (first && first.segment === start.from) expect(looked).toContain(first);
          }
        }

        // Take a prefix of each key's looked messages; the froms told must stay lower bounds.
        const byKey = new Map<string, number>();
        for (const m of looked) {
          const n = byKey.get(m.group) ?? 0;
          byKey.set(m.group, n + 1);
          if (n < c.taken[KEYS.indexOf(m.group)]) m.fresh = false;
        }
        const told = fairFroms(runs, starts, { segment: (m) => m.segment, fresh: (m) => m.fresh });
        for (const [key, from] of told) {
          const first = c.messages.find((m) => m.fresh && m.group === key);
          if (from === null) expect(first).toBeUndefined();
          else if (first) expect(from).toBeLessThanOrEqual(first.segment);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
