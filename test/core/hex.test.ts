import { describe, expect, it } from "vitest";
import { sha256Hex, toHex } from "../../core/hex.ts";

describe("hex", () => {
  it("spells every byte as two lowercase digits, from a view or a buffer", () => {
    const bytes = Uint8Array.from([0, 1, 15, 16, 127, 128, 254, 255]);
    expect(toHex(bytes)).toBe("00010f107f80feff");
    expect(toHex(bytes.buffer)).toBe("00010f107f80feff");
    expect(toHex(bytes.subarray(2, 4))).toBe("0f10");
    expect(toHex(new Uint8Array(0))).toBe("");
  });

  it("gives the SHA-256 of text as UTF-8", async () => {
    expect(await sha256Hex("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
