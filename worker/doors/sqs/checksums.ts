/**
 * The MD5 digests SQS puts in its answers, which the AWS SDKs recompute and compare: a
 * mismatch fails the call on the client. Bodies are digested as UTF-8; message attributes
 * with the algorithm of the SQS developer guide ("Calculating the MD5 message digest for
 * message attributes").
 */
import { toHex } from "../../../core/hex.ts";
import type { MessageAttributeValue } from "./message-attributes.ts";

const encoder = new TextEncoder();

/** Transport types: how the value travels (StringValue or BinaryValue). */
const STRING_TRANSPORT = 1;
const BINARY_TRANSPORT = 2;

async function md5Hex(bytes: Uint8Array): Promise<string> {
  // MD5 is not in the WebCrypto standard, but workerd supports it for uses like this one.
  return toHex(await crypto.subtle.digest("MD5", bytes));
}

export function md5OfBody(body: string): Promise<string> {
  return md5Hex(encoder.encode(body));
}

/**
 * For each attribute in ascending order of name: the name, the data type and the value, each
 * preceded by its length as a 4-byte big-endian integer, with a 1-byte transport type before
 * the value. Undefined when there are no attributes, as SQS then leaves the field out.
 */
export async function md5OfAttributes(
  attributes: Record<string, MessageAttributeValue>,
): Promise<string | undefined> {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Uint8Array[] = [];
  const lengthPrefixed = (bytes: Uint8Array) => {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.byteLength);
    parts.push(length, bytes);
  };
  for (const name of names) {
    const { DataType, StringValue, BinaryValue } = attributes[name];
    lengthPrefixed(encoder.encode(name));
    lengthPrefixed(encoder.encode(DataType));
    if (BinaryValue !== undefined) {
      parts.push(Uint8Array.of(BINARY_TRANSPORT));
      lengthPrefixed(Uint8Array.from(atob(BinaryValue), (char) => char.charCodeAt(0)));
    } else {
      parts.push(Uint8Array.of(STRING_TRANSPORT));
      lengthPrefixed(encoder.encode(StringValue ?? ""));
    }
  }
  const message = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    message.set(part, offset);
    offset += part.byteLength;
  }
  return md5Hex(message);
}
