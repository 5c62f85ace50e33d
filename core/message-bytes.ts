/**
 * The one size of a message: what `maxMessageBytes` limits and what `backlogBytes` counts.
 * It is the payload as the producer meant it (decoded bytes for base64 bodies, UTF-8 bytes
 * otherwise) plus the UTF-8 bytes of every header name and value, because headers (and the
 * SQS door's message attributes, stored as headers) are stored and delivered with the body.
 */
import type { ContentType } from "./contract.ts";

const encoder = new TextEncoder();

export function utf8Bytes(text: string): number {
  return encoder.encode(text).byteLength;
}

/** Bytes a base64 text decodes to, without decoding it. */
function base64DecodedBytes(base64: string): number {
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  return Math.floor((base64.length * 3) / 4) - padding;
}

export function bodyBytes(body: string, contentType: ContentType): number {
  return contentType === "application/octet-stream" ? base64DecodedBytes(body) : utf8Bytes(body);
}

export function headerBytes(headers: Record<string, string>): number {
  let bytes = 0;
  for (const name in headers) bytes += utf8Bytes(name) + utf8Bytes(headers[name]);
  return bytes;
}

export function messageBytes(message: {
  body: string;
  contentType: ContentType;
  headers: Record<string, string>;
}): number {
  return bodyBytes(message.body, message.contentType) + headerBytes(message.headers);
}
