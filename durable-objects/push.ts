/**
 * Push delivery: one batch of leased messages POSTed to a queue's endpoint, signed so the
 * endpoint can tell it came from this Sluice. The partition leases and settles the batch
 * (partition.ts); this module builds, signs and sends the request and says how it went.
 *
 * The request is `POST <push.url>` with `Content-Type: application/json`, the body
 * `{queue, partition, messages: [{id, body, contentType, headers, key, attempts, sentAt,
 * leaseExpiresAt}]}`
 * (`body` as a pull receive answers it) and the header
 * `Sluice-Signature: t=<unix seconds>,k=<key id>,v2=<hex HMAC-SHA256 of "<t>\n<queue>\n<url>\n<raw body>">`
 * (`signedText`). The queue and the URL are signed with the body, so a delivery cannot be
 * passed off as another queue's, nor replayed to another endpoint that trusts the same key.
 * A 2xx answer within `push.timeout` seconds acks the batch; anything else fails it with a
 * reason that quotes the answer: `push: HTTP 500: <first 200 characters of its body>`,
 * `push: timed out after 30 s`. Redirects are not followed: a signed body goes only where the
 * queue's configuration says.
 *
 * Signing keys come from the secret `SLUICE_PUSH_SIGNING_KEYS`, a JSON object of key id →
 * secret, and `SLUICE_PUSH_KEY_ID`, the id that signs (needed only when there are several).
 * Endpoints keep the same object and accept any key in it, so a key is rotated by adding the
 * new one everywhere, pointing SLUICE_PUSH_KEY_ID at it, and then removing the old one.
 */

import type { LeasedMessage } from "../core/contract.ts";
import { toHex } from "../core/hex.ts";
import { messagesJson } from "../core/message-json.ts";
import type { QueueConfig } from "../core/queue-config.ts";

export type PushConfig = NonNullable<QueueConfig["push"]>;

/** How much of a failed answer's body the failure reason quotes. */
const REASON_BODY_CHARS = 200;

/**
 * A push lease outlives the request's timeout by this much, so a batch is settled by its
 * answer, never by expiry; if the object dies mid-request, the expiry brings the batch back.
 */
const LEASE_MARGIN_SECONDS = 5;

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MIN_SECRET_CHARS = 16;

export interface SigningKey {
  id: string;
  secret: string;
}

export type SigningKeyOutcome = { ok: true; key: SigningKey } | { ok: false; detail: string };

export interface PushBatch {
  queue: string;
  partition: number;
  messages: LeasedMessage[];
}

export type PushResult = { ok: true } | { ok: false; reason: string };

const utf8 = new TextEncoder();

/** Seconds a batch is leased for while its request is out. */
export function pushLeaseSeconds(push: PushConfig): number {
  return Math.ceil(push.timeout) + LEASE_MARGIN_SECONDS;
}

/** The key that signs push requests, or a sentence that says how to configure one. */
export function signingKey(
  env: Pick<Env, "SLUICE_PUSH_SIGNING_KEYS" | "SLUICE_PUSH_KEY_ID">,
): SigningKeyOutcome {
  const refuse = (detail: string): SigningKeyOutcome => ({ ok: false, detail });
  if (!env.SLUICE_PUSH_SIGNING_KEYS) {
    return refuse(
      'push requests are signed: set the secret SLUICE_PUSH_SIGNING_KEYS to a JSON object {"<key id>": "<secret>"}',
    );
  }
  let keys: unknown;
  try {
    keys = JSON.parse(env.SLUICE_PUSH_SIGNING_KEYS);
  } catch {
    return refuse('SLUICE_PUSH_SIGNING_KEYS is not JSON; set it to {"<key id>": "<secret>"}');
  }
  if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
    return refuse('SLUICE_PUSH_SIGNING_KEYS must be a JSON object {"<key id>": "<secret>"}');
  }
  const entries = Object.entries(keys);
  for (const [id, secret] of entries) {
    if (!KEY_ID_PATTERN.test(id)) {
      return refuse(
        `push signing key id '${id}' must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' and '-'`,
      );
    }
    if (typeof secret !== "string" || secret.length < MIN_SECRET_CHARS) {
      return refuse(
        `push signing key '${id}' needs a secret of at least ${MIN_SECRET_CHARS} characters`,
      );
    }
  }
  const id = env.SLUICE_PUSH_KEY_ID ?? (entries.length === 1 ? entries[0][0] : undefined);
  if (id === undefined) {
    return refuse(
      `SLUICE_PUSH_SIGNING_KEYS holds ${entries.length} keys; set SLUICE_PUSH_KEY_ID to the one that signs`,
    );
  }
  const secret = (keys as Record<string, string>)[id];
  if (secret === undefined) {
    return refuse(`SLUICE_PUSH_KEY_ID names '${id}', which SLUICE_PUSH_SIGNING_KEYS does not hold`);
  }
  return { ok: true, key: { id, secret } };
}

/** Where a signed body goes: the queue it is from and the URL (as configured) it is sent to. */
export interface PushTarget {
  queue: string;
  url: string;
}

/**
 * The text a push signature covers: time, queue, URL (normalised as a URL parser writes it)
 * and body, one per line. Neither a queue name nor a URL holds a line break, so no two targets
 * sign the same text.
 */
export function signedText(unixSeconds: number, target: PushTarget, body: string): string {
  return `${unixSeconds}\n${target.queue}\n${new URL(target.url).href}\n${body}`;
}

/** The `Sluice-Signature` header for `body` sent to `target` at `unixSeconds`. */
export async function signatureHeader(
  key: SigningKey,
  target: PushTarget,
  body: string,
  unixSeconds: number,
): Promise<string> {
  const hmac = await crypto.subtle.importKey(
    "raw",
    utf8.encode(key.secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    hmac,
    utf8.encode(signedText(unixSeconds, target, body)),
  );
  return `t=${unixSeconds},k=${key.id},v2=${toHex(mac)}`;
}

/** The request body: messages as a pull receive shows them, without receipts or leases. */
export function pushBody({ queue, partition, messages }: PushBatch): string {
  const shown = messages.map(
    ({ id, body, contentType, headers, key, attempts, sentAt, leaseExpiresAt }) => ({
      body,
      contentType,
      id,
      headers,
      key,
      attempts,
      sentAt,
      leaseExpiresAt,
    }),
  );
  // The stored JSON bodies are spliced in as they are (core/message-json.ts).
  return `{"queue":${JSON.stringify(queue)},"partition":${partition},"messages":${messagesJson(shown)}}`;
}

/**
 * Sends one batch and tells how it went. Never throws: whatever goes wrong (no signing key,
 * an unreachable endpoint, a timeout, a refusal) is a failure with a reason.
 */
export async function deliver(
  push: PushConfig,
  batch: PushBatch,
  signing: SigningKeyOutcome,
  fetcher: typeof fetch,
): Promise<PushResult> {
  if (!signing.ok) return { ok: false, reason: `push: not sent: ${signing.detail}` };
  const signal = AbortSignal.timeout(push.timeout * 1000);
  try {
    const body = pushBody(batch);
    const signature = await signatureHeader(
      signing.key,
      { queue: batch.queue, url: push.url },
      body,
      Math.floor(Date.now() / 1000),
    );
    const response = await fetcher(push.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Sluice-Signature": signature,
        "User-Agent": "Sluice-Push/1",
      },
      body,
      redirect: "manual",
      signal,
    });
    if (response.ok) {
      await response.body?.cancel();
      return { ok: true };
    }
    const excerpt = await bodyExcerpt(response);
    return { ok: false, reason: `push: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ""}` };
  } catch (error) {
    if (signal.aborted) return { ok: false, reason: `push: timed out after ${push.timeout} s` };
    return { ok: false, reason: `push: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** The first REASON_BODY_CHARS characters of an answer, reading no more than that needs. */
async function bodyExcerpt(response: Response): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (text.length < REASON_BODY_CHARS) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text.slice(0, REASON_BODY_CHARS).trim();
}
