import { describe, expect, it } from "vitest";
import { messageBytes, utf8Bytes } from "../../core/message-bytes.ts";

describe("the size of a message", () => {
  it("counts UTF-8 bytes as an encoder would, without encoding", () => {
    const encoder = new TextEncoder();
    const texts = [
      "",
      "plain ascii",
      "é and ü",
      "€ and 漢字",
      "🙂 a pair",
      "lone \ud800 high",
      "lone \udc00 low",
      "high at the end \ud83d",
      "\udc00\ud800 reversed",
      "\u007f\u0080\u07ff\u0800\uffff",
    ];
    for (const text of texts) expect(utf8Bytes(text), text).toBe(encoder.encode(text).byteLength);
  });

  it("counts decoded bytes for a base64 body and adds header names and values", () => {
    expect(
      messageBytes({
        body: btoa("12345"),
        contentType: "application/octet-stream",
        headers: { trace: "é" },
      }),
    ).toBe(5 + 5 + 2);
  });
});
