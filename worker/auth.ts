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
 * | publish to a topic                                    | produce on the topic  |
 * | create/replace/delete a topic                         | admin on the topic and its queues |
 * | a schedule: create, change, pause, resume, delete     | admin on its queue    |
 *
 * A key's topic patterns (`topics`) match topic names as its queue patterns match queues;
 * topics.ts and schedules.ts check their own operations (`allowsTopic`, the schedule's queue).
 * `admin` includes `produce` and `consume`. The key's queue patterns must match the queue
 * (`*` matches any run of characters); the key endpoints and a redrive's target need the
 * same. Key lookups are cached in the isolate for `KEY_CACHE_MS`: a revoked key stops
 * working everywhere within that time (at once in the isolate that revoked it).
 */

import type { ApiKey, Scope } from "../core/api-keys.ts";
import { isKeyIdShaped, isSecretShaped } from "../core/api-keys.ts";
import { adminTokenProblem } from "../core/deployment.ts";
import { toHex } from "../core/hex.ts";
import { LookupCache, TtlCache } from "./cache.ts";
import { type Outcome, refuse } from "./outcome.ts";
import { problem } from "./problem.ts";
import type { CreateKeyInput } from "./schemas.ts";

export type Principal = { kind: "admin" } | { kind: "key"; key: ApiKey };

/** Who a principal is in records of what it did: its key's id, or `admin`. */
export function actorOf(principal: Principal): string {
  return principal.kind === "key" ? principal.key.id : "admin";
}

/** Any scope at all: reading a queue's definition and stats. */
export type Permission = Scope | "read";

export const KEY_CACHE_MS = 5_000;
/** Keys found, per cache; misses (unknown tokens, ids) are kept apart, fewer of them. */
export const KEY_CACHE_ENTRIES = 10_000;
const MISS_CACHE_ENTRIES = 1_000;

/** A key and its secret, as SigV4 needs them (doors/sqs/sigv4.ts). */
export type SigningCredentials = { key: ApiKey; secret: string };

const ADMIN: Principal = { kind: "admin" };
const keysByHash = new LookupCache<string, ApiKey>(
  KEY_CACHE_MS,
  KEY_CACHE_ENTRIES,
  MISS_CACHE_ENTRIES,
);
const keysById = new LookupCache<string, ApiKey>(
  KEY_CACHE_MS,
  KEY_CACHE_ENTRIES,
  MISS_CACHE_ENTRIES,
);
const credentialsById = new LookupCache<string, SigningCredentials>(
  KEY_CACHE_MS,
  KEY_CACHE_ENTRIES,
  MISS_CACHE_ENTRIES,
);
const encoder = new TextEncoder();

function catalog(env: Env) {
  return env.CATALOG.getByName("catalog");
}

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

/**
 * The digests of tokens that proved to be the admin token or a key's secret, so a client that
 * sends the same token on every request is not hashed again each time (SHA-256 and its
 * promise and buffers were a tenth of a send's CPU). Only tokens that authenticated are kept,
 * so guessed tokens cannot fill it; entries expire with the keys and are forgotten with a
 * revoked key (`deleteKey`). The digest is a token's fixed function, so a stale entry cannot
 * grant anything: the key itself is still looked up by the digest's hex in `keysByHash`.
 */
const tokenDigests = new TtlCache<string, { digest: ArrayBuffer; keyId?: string }>(
  KEY_CACHE_MS,
  KEY_CACHE_ENTRIES,
);

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

/** The cached answer for `name`, else the catalog's, which is cached (found or not). */
async function lookUp<V>(
  cache: LookupCache<string, V>,
  name: string,
  fetch: () => Promise<V | null>,
): Promise<V | null> {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const value = await fetch();
  cache.set(name, value);
  return value;
}

/**
 * The principal a bearer token stands for, or null for a token nobody issued. The token is
 * digested once: the digest is compared with the admin token's in constant time (digests have
 * equal length whatever the guess), and its hex (`toHex`) is what the catalog looks keys up
 * by. The admin token is refused with a problem that says why when it is too weak
 * for a deployment (core/deployment.ts). A token without the shape of a key's secret is
 * refused without asking the catalog, and unknown tokens are remembered apart from keys
 * (`LookupCache`), so guessing costs the one catalog object at most one call per distinct
 * well-shaped guess.
 */
export async function authenticate(env: Env, token: string): Promise<Principal | null> {
  const cached = tokenDigests.get(token);
  const digest = cached?.digest ?? (await sha256(token));
  if (
    env.SLUICE_ADMIN_TOKEN &&
    crypto.subtle.timingSafeEqual(digest, await adminDigest(env.SLUICE_ADMIN_TOKEN))
  ) {
    const weak = adminTokenProblem(env);
    if (weak !== null) throw problem(401, "admin_token_refused", weak);
    if (cached === undefined) tokenDigests.set(token, { digest });
    return ADMIN;
  }
  if (!isSecretShaped(token)) return null;
  const hash = toHex(digest);
  const key = await lookUp(keysByHash, hash, () => catalog(env).authenticate(hash));
  if (key === null) return null;
  if (cached === undefined) tokenDigests.set(token, { digest, keyId: key.id });
  return { kind: "key", key };
}

/**
 * The principal an API key stands for when it is named by id, not proven by its secret: the
 * service-binding door (`rpc.ts`), whose binding's configuration names the key. Null for a key
 * that does not exist or was revoked.
 */
export async function authenticateKeyId(env: Env, id: string): Promise<Principal | null> {
  if (!isKeyIdShaped(id)) return null;
  const key = await lookUp(keysById, id, () => catalog(env).getKey(id));
  return key === null ? null : { kind: "key", key };
}

/**
 * The key named by a SigV4 access key id, with the secret it signs with; null for an id that
 * is no live key's (or whose secret no longer unseals). Cached as Bearer keys are, and
 * forgotten with them when the key is revoked.
 */
export async function signingCredentials(env: Env, id: string): Promise<SigningCredentials | null> {
  if (!isKeyIdShaped(id)) return null;
  return lookUp(credentialsById, id, () => catalog(env).signingCredentials(id));
}

/**
 * `*` matches any run of characters; everything else matches itself. Greedy with one
 * backtrack point (the last star): each step moves along the name or retries from the star,
 * so a match takes at most pattern × name steps, however many stars there are.
 */
export function matchesPattern(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      resume = n;
    } else if (p < pattern.length && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (star !== -1) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/**
 * Whether the principal may act with `permission` on `queue`; without a queue, on every
 * queue (the key endpoints).
 */
export function allows(principal: Principal, permission: Permission, queue?: string): boolean {
  if (principal.kind === "admin") return true;
  const { queues } = principal.key;
  if (!hasScope(principal.key, permission)) return false;
  return queue === undefined
    ? queues.includes("*")
    : queues.some((pattern) => matchesPattern(pattern, queue));
}

function hasScope({ scopes }: ApiKey, permission: Permission): boolean {
  return permission === "read"
    ? scopes.length > 0
    : scopes.includes(permission) || scopes.includes("admin");
}

/** Whether the principal may act with `permission` on `topic`: the key's topic patterns. */
export function allowsTopic(principal: Principal, permission: Permission, topic: string): boolean {
  if (principal.kind === "admin") return true;
  return (
    hasScope(principal.key, permission) &&
    principal.key.topics.some((pattern) => matchesPattern(pattern, topic))
  );
}

/** A sentence for a 403 on a topic. */
export function topicDenial(principal: Principal, permission: Permission, topic: string): string {
  const who = principal.kind === "key" ? `API key '${principal.key.name}'` : "this token";
  const what = permission === "read" ? "any scope" : `the '${permission}' scope`;
  return `${who} does not have ${what} on topic '${topic}' (its topics patterns)`;
}

/**
 * Why `principal` may not send a queue's messages to `url` (its `push.url`), or null when it
 * may. Setting it is admin of the queue, but the messages then leave Sluice for that host:
 * an admin of every queue may point push anywhere, an admin of fewer queues only at a host
 * on the Worker's allow-list `SLUICE_PUSH_HOSTS` (comma-separated host names).
 */
export function pushTargetDenial(env: Env, principal: Principal, url: string): string | null {
  if (allows(principal, "admin")) return null;
  const host = URL.parse(url)?.hostname ?? "";
  const allowed = (env.SLUICE_PUSH_HOSTS ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  if (allowed.includes(host)) return null;
  const listed = allowed.length === 0 ? "none is set" : `it lists ${allowed.join(", ")}`;
  return `${denial(principal, "admin")}, so it may set push.url only to a host on SLUICE_PUSH_HOSTS (${listed}); '${host}' is not on it`;
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

// ─── key administration (admin scope on every queue, checked by operations.ts `invoke`) ───

export async function createKey(
  env: Env,
  input: CreateKeyInput,
): Promise<Outcome<{ key: ApiKey & { secret: string } }>> {
  return { ok: true, key: await catalog(env).createKey(input) };
}

export async function listKeys(env: Env): Promise<Outcome<{ keys: ApiKey[] }>> {
  return { ok: true, keys: await catalog(env).listKeys() };
}

/**
 * Deletes a key; this isolate forgets it (and its secret's digest) at once on every door
 * (Bearer, service binding and SigV4), others within `KEY_CACHE_MS`.
 */
export async function deleteKey(env: Env, id: string): Promise<Outcome<object>> {
  const deleted = await catalog(env).deleteKey(id);
  keysByHash.deleteWhere((key) => key.id === id);
  keysById.deleteWhere((key) => key.id === id);
  credentialsById.deleteWhere((credentials) => credentials.key.id === id);
  tokenDigests.deleteWhere((entry) => entry.keyId === id);
  return deleted ? { ok: true } : refuse("key_not_found", `no API key with id '${id}'`);
}
