import { describe, expect, it } from "vitest";
import { isJsonValue } from "../../core/message-json.ts";

describe("isJsonValue", () => {
  it("takes whatever JSON.parse makes", () => {
    const texts = ['"text"', "0", "-1.5e3", "true", "null", "[]", "{}", '{"a":[1,{"b":null}]}'];
    for (const text of texts) expect(isJsonValue(JSON.parse(text))).toBe(true);
    expect(isJsonValue(JSON.parse('{"__proto__":{"x":1}}'))).toBe(true);
    expect(isJsonValue(Object.assign(Object.create(null), { a: 1 }))).toBe(true);
  });

  it("refuses what JSON would change or lose, however deep it sits", () => {
    class Point {
      x = 1;
    }
    const cycle: unknown[] = [];
    cycle.push([cycle]);
    const refused = [
      undefined,
      Number.NaN,
      Number.NEGATIVE_INFINITY,
      1n,
      Symbol("s"),
      () => 1,
      new Date(0),
      new Map(),
      new Uint8Array(1),
      new Point(),
      { a: [1, 2, { b: undefined }] },
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
      [1, , 3],
      cycle,
    ];
    for (const value of refused) expect(isJsonValue(value)).toBe(false);
  });

  it("takes an object met twice outside itself, which JSON writes out twice", () => {
    const shared = { id: 1 };
    expect(isJsonValue({ a: shared, b: [shared, shared] })).toBe(true);
  });

  it("walks a body nested far deeper than the call stack goes", () => {
    const depth = 100_000;
    expect(isJsonValue(JSON.parse(`${"[".repeat(depth)}${"]".repeat(depth)}`))).toBe(true);
  });
});
