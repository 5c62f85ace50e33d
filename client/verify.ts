/**
 * Checks that a push request came from Sluice, for this queue, to this URL: the
 * `Sluice-Signature` header
 * (`t=<unix seconds>,k=<key id>,v2=<hex HMAC-SHA256 of "<t>\n<queue>\n<url>\n<raw body>">`)
 * against the raw body, the queue and URL the receiver expects, and the signing keys Sluice was
 * given (`SLUICE_PUSH_SIGNING_KEYS`). Web Crypto only, so it runs in Workers, Node 20+, Deno,
 * Bun and browsers.
 *
 * @example
 *   const raw = await request.text();
 *   const checked = await verify(raw, request.headers.get("Sluice-Signature"), keys, {
 *     queue: "orders",
 *     url: "https://hooks.example.com/orders", // the queue's push.url
 *   });
 *   if (!checked.ok) return new Response(checked.detail, { status: 401 });
 *   const { messages } = JSON.parse(raw);
 *
 * Verify the body exactly as received, before parsing it: any change to it, even of
 * whitespace, fails the check. The queue and URL are signed too, so a body signed for another
 * queue, or sent to another endpoint that holds the same keys, fails it as well.
 */

/** Key id → secret, the same JSON object as Sluice's `SLUICE_PUSH_SIGNING_KEYS`. */
export type PushSigningKeys = Record<string, string>;

export interface VerifyOptions {
  /** The queue this endpoint takes pushes from. */
  queue: string;
  /** This endpoint's URL, as the queue's `push.url` names it. */
  url: string;
  /**
   * How far the signature's time may be from now, in seconds, before the request is refused
   * as a replay (or a wrong clock). Default 300.
   */
  toleranceSeconds?: number;
  /** The current time, epoch ms; for tests. */
  now?: number;
}

export type VerifyFailureCode =
  /** No header, or not of the form `t=…,k=…,v2=…`. */
  | "signature_malformed"
  /** Signed with a key id the given keys do not hold. */
  | "key_unknown"
  /** The signature's time is outside the tolerance: a replay, or a clock far off. */
  | "signature_expired"
  /** The body or the time was changed, it was signed for another queue or URL, or the secret differs. */
  | "signature_mismatch";

export type VerifyResult =
  | { ok: true; keyId: string; timestamp: number }
  | { ok: false; code: VerifyFailureCode; detail: string };

export const DEFAULT_TOLERANCE_SECONDS = 300;

const SIGNATURE_PATTERN = /^t=(\d{1,12}),k=([A-Za-z0-9._-]{1,64}),v2=([0-9a-f]{64})$/;
const utf8 = new TextEncoder();

/** Whether `body` with `header` was signed by one of `keys`, recently, for this queue and URL. */
export async function verify(
  body: string | Uint8Array,
  header: string | null | undefined,
  keys: PushSigningKeys,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const match = SIGNATURE_PATTERN.exec(header?.trim() ?? "");
  if (!match) {
    return {
      ok: false,
      code: "signature_malformed",
      detail: "the Sluice-Signature header is missing or not t=<seconds>,k=<key id>,v2=<hex>",
    };
  }
  const [, time, keyId, hex] = match;
  const secret = Object.hasOwn(keys, keyId) ? keys[keyId] : undefined;
  if (secret === undefined) {
    return { ok: false, code: "key_unknown", detail: `no signing key with id '${keyId}'` };
  }
  const timestamp = Number(time);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - timestamp);
  if (skew > tolerance) {
    return {
      ok: false,
      code: "signature_expired",
      detail: `the signature's time is ${Math.round(skew)} s from now; at most ${tolerance} s is accepted`,
    };
  }
  // The text Sluice signs (durable-objects/push.ts, signedText): time, queue, URL and body.
  const bytes = typeof body === "string" ? utf8.encode(body) : body;
  const target = utf8.encode(`${time}\n${options.queue}\n${new URL(options.url).href}\n`);
  const signed = new Uint8Array(target.byteLength + bytes.byteLength);
  signed.set(target);
  signed.set(bytes, target.byteLength);
  const key = await crypto.subtle.importKey(
    "raw",
    utf8.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, signed));
  if (!equalInConstantTime(expected, fromHex(hex))) {
    return {
      ok: false,
      code: "signature_mismatch",
      detail: `the signature does not match the body, queue '${options.queue}' and URL ${options.url}`,
    };
  }
  return { ok: true, keyId, timestamp };
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Looks at every byte whatever the first difference, so timing tells nothing about it. */
function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let difference = 0;
  for (let i = 0; i < a.byteLength; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
