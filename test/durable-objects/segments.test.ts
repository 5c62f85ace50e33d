import { describe, expect, it } from "vitest";
import {
  decodeSegmentMessages,
  encodeSegmentMessages,
  type StoredMessage,
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
