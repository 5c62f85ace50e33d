/**
 * The one size of a message: what `maxMessageBytes` limits and what `backlogBytes` counts.
 * It is the payload as the producer meant it (decoded bytes for base64 bodies, UTF-8 bytes
 * otherwise) plus the UTF-8 bytes of every header name and value, because headers (and the
 * SQS door's message attributes, stored as headers) are stored and delivered with the body.
 */
import type { ContentType } from "./contract.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII starts at U+0000 on purpose.
const ASCII = /^[\x00-\x7f]*$/;

/** UTF-8 bytes of `text`, counted without encoding it (a lone surrogate counts as U+FFFD's 3). */
export function utf8Bytes(text: string): number {
  // Most text is ASCII, one byte a character: one native scan says so.
  if (ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(index + 1))) {
      // A pair: two UTF-16 units, four UTF-8 bytes.
      bytes += 2;
      index++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
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
