/**
 * Who is calling, and what they may do.
 *
 * A principal is the admin token (`SLUICE_ADMIN_TOKEN`, may do everything) or an API key from
 * the catalog, found by the SHA-256 of its secret. A key's scopes and queue patterns decide:
 *
 * | operation                                             | scope needed          |
 * |-------------------------------------------------------|-----------------------|
 * | send                                                  | produce               |
 * | receive, ack, nack, extend, peek, dead-letter list/get | consume               |
 * | GET a queue or the queue list                         | any scope             |
 * | create/update/delete a queue, purge, dead-letter redrive/delete/purge | admin |
 * | keys (create, list, delete)                           | admin, queues ["*"]   |
 *
 * `admin` includes `produce` and `consume`. The key's queue patterns must match the queue
 * (`*` matches any run of characters); the key endpoints and a redrive's target need the
 * same. Key lookups are cached in the isolate for `KEY_CACHE_MS`: a revoked key stops
 * working everywhere within that time (at once in the isolate that revoked it).
 */

import { toHex } from "../core/hex.ts";
import type { ApiKey, Scope } from "../durable-objects/catalog.ts";
import { TtlCache } from "./cache.ts";
import { type Outcome, refuse } from "./outcome.ts";
import type { CreateKeyInput } from "./schemas.ts";

export type Principal = { kind: "admin" } | { kind: "key"; key: ApiKey };

/** Any scope at all: reading a queue's definition and stats. */
export type Permission = Scope | "read";

export const KEY_CACHE_MS = 5_000;

const ADMIN: Principal = { kind: "admin" };
const keysByHash = new TtlCache<string, ApiKey | null>(KEY_CACHE_MS, 10_000);
const keysById = new TtlCache<string, ApiKey | null>(KEY_CACHE_MS, 10_000);
const encoder = new TextEncoder();

function catalog(env: Env) {
  return env.CATALOG.getByName("catalog");
}

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

/** The admin token's digest, made once per isolate: the secret does not change under it. */
const adminDigests = new Map<string, Promise<ArrayBuffer>>();

function adminDigest(adminToken: string): Promise<ArrayBuffer> {
  let digest = adminDigests.get(adminToken);
  if (digest === undefined) {
    digest = sha256(adminToken);
    adminDigests.set(adminToken, digest);
  }
  return digest;
}

/**
 * The principal a bearer token stands for, or null for a token nobody issued. The token is
 * digested once: the digest is compared with the admin token's in constant time (digests have
 * equal length whatever the guess), and its hex is what the catalog looks keys up by
 * (`hashSecret`).
 */
export async function authenticate(env: Env, token: string): Promise<Principal | null> {
  const digest = await sha256(token);
  if (
    env.SLUICE_ADMIN_TOKEN &&
    crypto.subtle.timingSafeEqual(digest, await adminDigest(env.SLUICE_ADMIN_TOKEN))
  ) {
    return ADMIN;
  }
  const hash = toHex(digest);
  let key = keysByHash.get(hash);
  if (key === undefined) {
    key = await catalog(env).authenticate(hash);
    keysByHash.set(hash, key);
  }
  return key === null ? null : { kind: "key", key };
}

/**
 * The principal an API key stands for when it is named by id, not proven by its secret: the
 * service-binding door (`rpc.ts`), whose binding's configuration names the key. Null for a key
 * that does not exist or was revoked.
 */
export async function authenticateKeyId(env: Env, id: string): Promise<Principal | null> {
  let key = keysById.get(id);
  if (key === undefined) {
    key = await catalog(env).getKey(id);
    keysById.set(id, key);
  }
  return key === null ? null : { kind: "key", key };
}

/** `*` matches any run of characters; everything else matches itself. */
export function matchesPattern(pattern: string, name: string): boolean {
  const escaped = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".*")}$`).test(name);
}

/**
 * Whether the principal may act with `permission` on `queue`; without a queue, on every
 * queue (the key endpoints).
 */
export function allows(principal: Principal, permission: Permission, queue?: string): boolean {
  if (principal.kind === "admin") return true;
  const { scopes, queues } = principal.key;
  const scoped =
    permission === "read"
      ? scopes.length > 0
      : scopes.includes(permission) || scopes.includes("admin");
  if (!scoped) return false;
  return queue === undefined
    ? queues.includes("*")
    : queues.some((pattern) => matchesPattern(pattern, queue));
}

/** A sentence for a 403 that says what was missing. */
export function denial(principal: Principal, permission: Permission, queue?: string): string {
  const who = principal.kind === "key" ? `API key '${principal.key.name}'` : "this token";
  const what = permission === "read" ? "any scope" : `the '${permission}' scope`;
  const where = queue === undefined ? 'on every queue (queues: ["*"])' : `on queue '${queue}'`;
  return `${who} does not have ${what} ${where}`;
}

/**
 * May a browser page from `origin` use this principal? Same-origin pages always may; the
 * admin token is for same-origin pages only; a key allows the origins listed on it (`*`: any).
 */
export function allowsOrigin(principal: Principal, origin: string, ownOrigin: string): boolean {
  if (origin === ownOrigin) return true;
  if (principal.kind === "admin") return false;
  return principal.key.origins.includes("*") || principal.key.origins.includes(origin);
}

// ───────────── key administration (admin scope on every queue) ─────────────

export async function createKey(
  env: Env,
  principal: Principal,
  input: CreateKeyInput,
): Promise<Outcome<{ key: ApiKey & { secret: string } }>> {
  if (!allows(principal, "admin")) return refuse("forbidden", denial(principal, "admin"));
  return { ok: true, key: await catalog(env).createKey(input) };
}

export async function listKeys(
  env: Env,
  principal: Principal,
): Promise<Outcome<{ keys: ApiKey[] }>> {
  if (!allows(principal, "admin")) return refuse("forbidden", denial(principal, "admin"));
  return { ok: true, keys: await catalog(env).listKeys() };
}

/** Deletes a key; this isolate forgets it at once, others within `KEY_CACHE_MS`. */
export async function deleteKey(
  env: Env,
  principal: Principal,
  id: string,
): Promise<Outcome<object>> {
  if (!allows(principal, "admin")) return refuse("forbidden", denial(principal, "admin"));
  const deleted = await catalog(env).deleteKey(id);
  keysByHash.deleteWhere((key) => key?.id === id);
  keysById.delete(id);
  return deleted ? { ok: true } : refuse("key_not_found", `no API key with id '${id}'`);
}
