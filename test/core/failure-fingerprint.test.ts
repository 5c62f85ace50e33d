import { describe, expect, it } from "vitest";
import { failureFingerprint, MAX_FINGERPRINT_LENGTH } from "../../core/failure-fingerprint.ts";

/** Real-world reasons as consumers, push endpoints and runtimes word them, and their fingerprints. */
const REASONS: [reason: string, fingerprint: string][] = [
  ["timeout after 3021 ms calling order 8f3a91", "timeout after <n> ms calling order <hex>"],
  ["lease expired", "lease expired"],
  ["HTTP 503 Service Unavailable", "HTTP <n> Service Unavailable"],
  ["push endpoint answered 502 Bad Gateway", "push endpoint answered <n> Bad Gateway"],
  ["Error: connect ECONNREFUSED 10.0.3.17:5432", "Error: connect ECONNREFUSED <n>.<n>.<n>.<n>:<n>"],
  [
    'duplicate key value violates unique constraint "orders_pkey"',
    'duplicate key value violates unique constraint "…"',
  ],
  [
    "TypeError: Cannot read properties of undefined (reading 'customerId')",
    "TypeError: Cannot read properties of undefined (reading '…')",
  ],
  ["order 3f2b8c1e-7d4a-4b9e-a1c2-9e8f7d6c5b4a not found", "order <uuid> not found"],
  ["Stripe: No such customer: 'cus_NffrFeUfNV2Hib'", "Stripe: No such customer: '…'"],
  ["card declined (charge ch_3MqLr2LkdIwHu7ix0snN0B15)", "card declined (charge ch_<id>)"],
  ["token expired at 2026-11-30T06:35:59.123Z", "token expired at <time>"],
  ["rate limited until Mon, 30 Nov 2026 06:40:00 GMT", "rate limited until <time>"],
  ["upstream request 01HZX3K9QW8V7T6R5P4N3M2B1A failed", "upstream request <id> failed"],
  ["Worker exceeded CPU time limit (50ms)", "Worker exceeded CPU time limit (<n>ms)"],
  [
    "D1_ERROR: UNIQUE constraint failed: users.email",
    "D1_ERROR: UNIQUE constraint failed: users.email",
  ],
  [
    "fetch failed: getaddrinfo ENOTFOUND api.partner.example",
    "fetch failed: getaddrinfo ENOTFOUND api.partner.example",
  ],
  [
    '{"error":"insufficient_funds","balance":12.5,"requestId":"req_8812"}',
    '{"error":"…","balance":<n>.<n>,"requestId":"…"}',
  ],
  [
    "can't parse body: unexpected token } at position 184",
    "can't parse body: unexpected token } at position <n>",
  ],
  [
    "SQLITE_BUSY: database is locked (retry 3 of 5)",
    "SQLITE_BUSY: database is locked (retry <n> of <n>)",
  ],
  [
    "Too many subrequests by single Worker invocation (limit 1000)",
    "Too many subrequests by single Worker invocation (limit <n>)",
  ],
  [
    "sha256 mismatch: expected 9c1185a5c5e9fc54 got 0x4f2a",
    "sha<n> mismatch: expected <hex> got <hex>",
  ],
  [
    "Durable Object reset because its code was updated.",
    "Durable Object reset because its code was updated.",
  ],
  ["  timeout\n  after 30 s  ", "timeout after <n> s"],
  [
    "PUT https://api.example.com/v2/orders/48213/items failed with 409",
    "PUT https://api.example.com/v2/orders/<n>/items failed with <n>",
  ],
  ["invalid `amount`: -42", "invalid `…`: -<n>"],
  ["", ""],
];

describe("failure fingerprints", () => {
  it.each(REASONS)("masks %j", (reason, fingerprint) => {
    expect(failureFingerprint(reason)).toBe(fingerprint);
  });

  it("puts failures that differ only in their variable parts in one cluster", () => {
    const same = [
      "timeout after 3021 ms calling order 8f3a91",
      "timeout after 2980 ms calling order 11c2e0",
      "timeout after 15 ms calling order 0b7d",
    ].map(failureFingerprint);
    expect(new Set(same).size).toBe(1);
  });

  it("keeps failures with different words apart", () => {
    expect(failureFingerprint("HTTP 503 from billing")).not.toBe(
      failureFingerprint("HTTP 503 from shipping"),
    );
    // Words of hex letters without a digit are words, not ids.
    expect(failureFingerprint("bad face")).not.toBe(failureFingerprint("bad cafe"));
  });

  it("is at most MAX_FINGERPRINT_LENGTH characters", () => {
    expect(failureFingerprint("x".repeat(5_000))).toHaveLength(MAX_FINGERPRINT_LENGTH);
  });
});
