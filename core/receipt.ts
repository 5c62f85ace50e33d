/**
 * Receipts are opaque to clients but carry what the router needs to go straight to the
 * owning partition: partition index, seq and the lease token.
 */
import { toHex } from "./hex.ts";

export interface Receipt {
  partition: number;
  seq: number;
  token: string;
}

const RECEIPT_PATTERN = /^(\d{1,2})\.(\d{1,15})\.([0-9a-f]{32})$/;

export function encodeReceipt({ partition, seq, token }: Receipt): string {
  return btoa(`${partition}.${seq}.${token}`).replace(/=+$/, "");
}

/** Returns null for anything this service did not issue. */
export function decodeReceipt(receipt: string): Receipt | null {
  if (typeof receipt !== "string" || receipt.length > 80) return null;
  let text: string;
  try {
    text = atob(receipt);
  } catch {
    return null;
  }
  const match = RECEIPT_PATTERN.exec(text);
  if (!match) return null;
  return { partition: Number(match[1]), seq: Number(match[2]), token: match[3] };
}

/** A lease token: 128 random bits as hex. */
export function newLeaseToken(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}
