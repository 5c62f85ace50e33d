import { describe, expect, it } from "vitest";
import { matchesFilter, TopicFilterSchema } from "../../core/topic-filter.ts";

const filter = (raw: unknown) => TopicFilterSchema.parse(raw);

describe("topic filters", () => {
  const cases: [name: string, raw: unknown, headers: Record<string, string>, matches: boolean][] = [
    ["exact value matches", { region: "eu" }, { region: "eu" }, true],
    ["exact value is case-sensitive", { region: "eu" }, { region: "EU" }, false],
    ["exact value needs the header", { region: "eu" }, {}, false],
    ["any of several values (or within a field)", { region: ["eu", "us"] }, { region: "us" }, true],
    ["none of several values", { region: ["eu", "us"] }, { region: "ap" }, false],
    ["prefix matches", { tier: [{ prefix: "gold" }] }, { tier: "gold-plus" }, true],
    ["prefix does not match", { tier: [{ prefix: "gold" }] }, { tier: "silver" }, false],
    ["prefix needs the header", { tier: { prefix: "gold" } }, {}, false],
    ["exists: true with the header", { trace: [{ exists: true }] }, { trace: "" }, true],
    ["exists: true without it", { trace: [{ exists: true }] }, {}, false],
    ["exists: false without it", { trace: [{ exists: false }] }, { other: "x" }, true],
    ["exists: false with it", { trace: [{ exists: false }] }, { trace: "1" }, false],
    [
      "and across fields: both",
      { region: "eu", tier: "gold" },
      { region: "eu", tier: "gold" },
      true,
    ],
    ["and across fields: one missing", { region: "eu", tier: "gold" }, { region: "eu" }, false],
    [
      "value or prefix in one field",
      { region: ["us", { prefix: "eu-" }] },
      { region: "eu-west" },
      true,
    ],
    ["a header named like an Object method", { toString: [{ exists: true }] }, {}, false],
  ];
  it.each(cases)("%s", (_name, raw, headers, matches) => {
    expect(matchesFilter(filter(raw), headers)).toBe(matches);
  });

  it("passes everything without a filter", () => {
    expect(matchesFilter(null, {})).toBe(true);
    expect(matchesFilter(undefined, { a: "b" })).toBe(true);
  });

  const invalid: [name: string, raw: unknown][] = [
    ["no header named", {}],
    ["no condition for a header", { region: [] }],
    ["a number value", { region: 5 }],
    ["an unknown operator", { region: [{ suffix: "x" }] }],
    ["an empty prefix", { region: [{ prefix: "" }] }],
    ["exists that is not a boolean", { region: [{ exists: "yes" }] }],
    ["two operators in one condition", { region: [{ prefix: "a", exists: true }] }],
    ["a bad header name", { "bad name": "x" }],
    ["too many headers", Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`h${i}`, "x"]))],
    ["too many conditions", { region: Array.from({ length: 33 }, (_, i) => `r${i}`) }],
    ["not an object", ["region"]],
  ];
  it.each(invalid)("refuses %s", (_name, raw) => {
    expect(TopicFilterSchema.safeParse(raw).success).toBe(false);
  });
});
