/** Lowercase hex, the one spelling of bytes in ids, lease tokens, digests and signatures. */
const encoder = new TextEncoder();

/** Each byte's two digits, looked up: a lease token is made for every message received. */
const DIGITS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let hex = "";
  for (const byte of view) hex += DIGITS[byte];
  return hex;
}

/** The SHA-256 of `data` (text as UTF-8), in hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}
