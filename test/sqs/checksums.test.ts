import { describe, expect, it } from "vitest";
import { md5OfAttributes, md5OfBody } from "../../worker/doors/sqs/checksums.ts";

const base64 = (text: string) => btoa(text);

describe("MD5 of a message body", () => {
  it("is the hex MD5 of the body's UTF-8 bytes", async () => {
    expect(await md5OfBody("")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(await md5OfBody("The quick brown fox jumps over the lazy dog")).toBe(
      "9e107d9d372bb6826bd81d3542a419d6",
    );
    expect(await md5OfBody("é")).toBe("66ddcd97cfdeabb2f6fb8a999b4bc76f");
  });
});

// Reference digests published with other SQS implementations and AWS SDK tests.
describe("MD5 of message attributes", () => {
  it("digests one String attribute", async () => {
    expect(
      await md5OfAttributes({ SellerName: { DataType: "String", StringValue: "Example Store" } }),
    ).toBe("cd28f3b68aeee4b2eac9c66f2f694b58");
  });

  it("sorts attributes by name, whatever order they come in", async () => {
    expect(
      await md5OfAttributes({
        test_attribute_name_2: { DataType: "String", StringValue: "test_attribute_value_2" },
        test_attribute_name_1: { DataType: "String", StringValue: "test_attribute_value_1" },
      }),
    ).toBe("d53f3b558fe951154770f25cb63dbba9");
  });

  it("digests Number attributes as strings under their own data type", async () => {
    expect(
      await md5OfAttributes({ timestamp: { DataType: "Number", StringValue: "1493147359900" } }),
    ).toBe("235c5c510d26fb653d073faed50ae77c");
    expect(
      await md5OfAttributes({
        ordinal: { DataType: "Number", StringValue: "1" },
        category: { DataType: "String", StringValue: "test" },
      }),
    ).toBe("d21ae90c49061e927f57df5f5d72be1f");
  });

  it("digests the decoded bytes of a Binary attribute with the binary transport type", async () => {
    expect(
      await md5OfAttributes({
        test_attribute_name: { DataType: "Binary", BinaryValue: base64("test_attribute_value") },
      }),
    ).toBe("23f6bd27ea87aab7dfeadcc9aebee495");
  });

  it("is absent when there are no attributes", async () => {
    expect(await md5OfAttributes({})).toBeUndefined();
  });
});
