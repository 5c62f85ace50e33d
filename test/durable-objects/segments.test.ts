import { describe, expect, it } from "vitest";
import {
  countBytes,
  decodeSegmentMessages,
  encodeSegmentMessages,
  type StoredMessage,
  storedState,
} from "../../durable-objects/partition/segments.ts";

const MESSAGES: StoredMessage[] = [
  { id: "a", body: '{"x":1,"y":[2,3]}', contentType: "application/json", headers: {} },
  {
    id: "b",
    body: "line one\nline two, with, commas]\n",
    contentType: "text/plain",
    headers: { "x-list": "1,2,3", "x-end": "]" },
  },
  { id: "c", body: "", contentType: "text/plain", headers: { "x,y": "," } },
  { id: "d", body: "héllo ✓ \u{1F600}", contentType: "text/plain", headers: {} },
];

describe("segment messages", () => {
  it("decode to what was encoded", () => {
    expect(decodeSegmentMessages(encodeSegmentMessages(MESSAGES))).toEqual(MESSAGES);
  });

  it("decode only the wanted indexes, skipping the others by their length", () => {
    const text = encodeSegmentMessages(MESSAGES);
    for (const wanted of [[0], [1], [3], [1, 3], [0, 2], []]) {
      const decoded = decodeSegmentMessages(text, new Set(wanted));
      expect(Object.keys(decoded).map(Number)).toEqual(wanted);
      for (const index of wanted) expect(decoded[index]).toEqual(MESSAGES[index]);
    }
  });
});

describe("stored segment state", () => {
  const lease = (i: number) => [
    `${"0".repeat(12)}${i.toString(16).padStart(20, "f")}`,
    1.7e12,
    1.8e12,
  ];

  it("parses back to the state, and keeps the state plus the counts' bytes one size", () => {
    const sizes = new Set<number>();
    for (let leased = 0; leased <= 100; leased += 7) {
      const state = {
        l: Array.from({ length: leased }, (_, i) => lease(i)) as [string, number, number][],
        s: Array.from({ length: 100 }, (_, i) => (i < leased ? i + 2 : 0)),
      };
      for (const acked of [0, 1, leased]) {
        const counts = { fresh: 100 - leased, live: 100 - acked, acked };
        const stored = storedState(state, 100, counts);
        expect(JSON.parse(stored)).toEqual(state);
        sizes.add(
          stored.length + countBytes(counts.fresh) + countBytes(counts.live) + countBytes(acked),
        );
      }
    }
    expect([...sizes]).toHaveLength(1);
  });

  it("stores a state that outgrows its room as it is", () => {
    const state = { l: [lease(1), lease(2), lease(3)] as [string, number, number][], s: [2, 3, 4] };
    const stored = storedState(state, 1, { fresh: 0, live: 1, acked: 0 });
    expect(stored).toBe(JSON.stringify(state));
  });

  it("stores the state of a row with no live message unpadded", () => {
    const state = { l: [], s: [1, 1, 1] };
    expect(storedState(state, 3, { fresh: 0, live: 0, acked: 3 })).toBe(JSON.stringify(state));
  });
});
