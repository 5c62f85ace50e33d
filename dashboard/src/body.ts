/**
 * Message bodies as the API sends them — the JSON value for application/json, the text for
 * text/plain, base64 for application/octet-stream — made readable.
 */
import type { ContentType, JsonValue } from "../../client/types.ts";

/** Bytes shown in a hex dump before it is cut short; a dead letter can be up to 1 MiB. */
export const HEX_DUMP_LIMIT = 4096;

export type RenderedBody =
  | { kind: "json"; text: string }
  | { kind: "text"; text: string; note?: string }
  | { kind: "hex"; text: string; byteLength: number; truncated: boolean };

export function renderBody(body: JsonValue, contentType: ContentType): RenderedBody {
  if (contentType === "application/json")
    return { kind: "json", text: JSON.stringify(body, null, 2) };
  const text = sentText(body, contentType);
  if (contentType === "application/octet-stream") {
    const bytes = decodeBase64(text);
    if (!bytes) return { kind: "text", text, note: "Not valid base64; shown as received." };
    return {
      kind: "hex",
      text: hexDump(bytes.subarray(0, HEX_DUMP_LIMIT)),
      byteLength: bytes.length,
      truncated: bytes.length > HEX_DUMP_LIMIT,
    };
  }
  return { kind: "text", text };
}

/** One line for a table cell: compact JSON, the start of the text, or the size of the bytes. */
export function bodyPreview(body: JsonValue, contentType: ContentType, maxLength = 80): string {
  const text = sentText(body, contentType);
  if (contentType === "application/octet-stream") {
    const bytes = decodeBase64(text);
    if (bytes) return `${bytes.length} bytes of binary`;
  }
  const preview = text.replace(/\s+/g, " ").trim();
  return preview.length > maxLength ? `${preview.slice(0, maxLength - 1)}…` : preview;
}

/**
 * The classic 16-bytes-a-line dump: offset, bytes in hex (split in two groups of 8), and the
 * printable ASCII of each line.
 */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const line = bytes.subarray(offset, offset + 16);
    const hex = Array.from(line, (b) => b.toString(16).padStart(2, "0"));
    const left = hex.slice(0, 8).join(" ");
    const right = hex.slice(8).join(" ");
    const ascii = Array.from(line, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."));
    lines.push(
      `${offset.toString(16).padStart(8, "0")}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii.join("")}|`,
    );
  }
  return lines.join("\n");
}

export function decodeBase64(text: string): Uint8Array | null {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return null;
  try {
    return Uint8Array.from(atob(compact), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

export function isBase64(text: string): boolean {
  return decodeBase64(text) !== null;
}

/** The size of a body as sent: UTF-8 bytes of its text, or the decoded bytes of base64. */
export function bodyBytes(body: JsonValue, contentType: ContentType): number {
  const text = sentText(body, contentType);
  if (contentType === "application/octet-stream") {
    const bytes = decodeBase64(text);
    if (bytes) return bytes.length;
  }
  return new TextEncoder().encode(text).length;
}

/** The body's text as it was sent: JSON for a JSON body, else the string itself. */
function sentText(body: JsonValue, contentType: ContentType): string {
  return typeof body === "string" && contentType !== "application/json"
    ? body
    : JSON.stringify(body);
}
