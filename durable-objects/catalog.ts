/**
 * The catalog (one object, named "catalog"): queue definitions and API keys. The router
 * caches what it reads, so every queue change bumps `version`.
 *
 * API-key secrets are shown once, at creation. For Bearer authentication only the SHA-256
 * of a secret is kept, looked up through an index. AWS Signature V4 (access key id = key id,
 * secret = key secret) needs the secret itself, so it is ALSO kept sealed with AES-256-GCM
 * under a key derived (HKDF-SHA-256) from `SLUICE_SEAL_KEY` (in local development the admin
 * token stands in; core/deployment.ts). Without a seal key a key is made for Bearer only.
 * Rotating the seal key invalidates SigV4 use of existing keys; Bearer keeps working.
 */
import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import { type ApiKey, KEY_ID_BYTES, NewApiKeySchema, SECRET_BYTES } from "../core/api-keys.ts";
import { sealKeyMaterial } from "../core/deployment.ts";
import { sha256Hex, toHex } from "../core/hex.ts";
import { describeIssues } from "../core/issues.ts";
import {
  applyConfigPatch,
  type QueueConfigPatch,
  QueueConfigPatchSchema,
  QueueConfigSchema,
  QueueNameSchema,
  type QueueRecord,
} from "../core/queue-config.ts";
import {
  type Subscription,
  type TopicDefinition,
  TopicDefinitionSchema,
  TopicNameSchema,
  type TopicRecord,
} from "../core/topic.ts";
import { type Migration, migrate, type Sql, sqlOf } from "./sql.ts";

export type PutQueueOutcome =
  | { ok: true; created: boolean; queue: QueueRecord }
  | { ok: false; code: "invalid_config" | "partitions_shrink"; detail: string };

const MIGRATIONS: readonly Migration[] = [
  // v1: queues by name; keys by id, with a unique index on the secret's hash for Bearer.
  (sql) => {
    sql`CREATE TABLE queues (
      name TEXT PRIMARY KEY,
      config TEXT NOT NULL,
      version INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`;
    sql`CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      scopes TEXT NOT NULL,
      queues TEXT NOT NULL,
      origins TEXT NOT NULL,
      secret_hash TEXT NOT NULL UNIQUE,
      sealed_secret TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`;
  },
  // v2: topics and the queues subscribed to them (worker/topics.ts), in the order given.
  (sql) => {
    sql`CREATE TABLE topics (
      name TEXT PRIMARY KEY,
      version INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`;
    sql`CREATE TABLE topic_subscriptions (
      topic TEXT NOT NULL REFERENCES topics (name),
      position INTEGER NOT NULL,
      queue TEXT NOT NULL,
      filter TEXT,
      PRIMARY KEY (topic, queue)
    )`;
    sql`CREATE INDEX topic_subscriptions_by_queue ON topic_subscriptions (queue)`;
    sql`ALTER TABLE api_keys ADD COLUMN topics TEXT NOT NULL DEFAULT '[]'`;
  },
];

type QueueRow = {
  name: string;
  config: string;
  version: number;
  created_at: number;
  updated_at: number;
};

export type PutTopicOutcome =
  | { ok: true; created: boolean; topic: TopicRecord }
  | { ok: false; code: "invalid_topic" | "queue_not_found"; detail: string };

type TopicRow = { name: string; version: number; created_at: number; updated_at: number };
type SubscriptionRow = { topic: string; queue: string; filter: string | null };

type ApiKeyRow = {
  id: string;
  name: string;
  scopes: string;
  queues: string;
  topics: string;
  origins: string;
  created_at: number;
};

export class Catalog extends DurableObject<Env> {
  #sql: Sql;
  #sealKey: Promise<CryptoKey> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = sqlOf(ctx.storage);
    migrate(ctx.storage, MIGRATIONS);
  }

  /**
   * Creates the queue from the defaults plus `patch`, or applies `patch` to the queue's
   * configuration. Partitions may grow, never shrink. A patch that changes nothing keeps
   * the version, so a repeated PUT is harmless.
   */
  async putQueue(name: string, patch: QueueConfigPatch): Promise<PutQueueOutcome> {
    const validName = QueueNameSchema.safeParse(name);
    if (!validName.success) return invalidConfig(validName.error);
    // Across RPC a key set to undefined arrives as present; treat it as absent, as JSON does,
    // so `{ partitions: undefined }` cannot reset partitions to the default.
    const validPatch = QueueConfigPatchSchema.safeParse(JSON.parse(JSON.stringify(patch ?? {})));
    if (!validPatch.success) return invalidConfig(validPatch.error);

    const current = this.#queue(name);
    const merged = applyConfigPatch(current?.config, validPatch.data);
    if (!merged.success) return invalidConfig(merged.error);
    const config = merged.data;

    const now = Date.now();
    if (!current) {
      this.#sql`INSERT INTO queues (name, config, version, created_at, updated_at)
        VALUES (${name}, ${JSON.stringify(config)}, 1, ${now}, ${now})`;
      return { ok: true, created: true, queue: this.#queue(name) as QueueRecord };
    }
    if (config.partitions < current.config.partitions) {
      return {
        ok: false,
        code: "partitions_shrink",
        detail: `partitions can grow but never shrink: queue ${name} has ${current.config.partitions}, asked for ${config.partitions}`,
      };
    }
    if (JSON.stringify(config) === JSON.stringify(current.config)) {
      return { ok: true, created: false, queue: current };
    }
    this.#sql`UPDATE queues
      SET config = ${JSON.stringify(config)}, version = version + 1, updated_at = ${now}
      WHERE name = ${name}`;
    return { ok: true, created: false, queue: this.#queue(name) as QueueRecord };
  }

  async getQueue(name: string): Promise<QueueRecord | null> {
    return this.#queue(name);
  }

  async listQueues(): Promise<QueueRecord[]> {
    return this.#sql<QueueRow>`SELECT * FROM queues ORDER BY name`.toArray().map(toQueueRecord);
  }

  /**
   * Deletes the queue and, in the same transaction, its subscriptions to topics: a publish
   * never fans out to a queue that is gone, and a queue made again under the name starts
   * unsubscribed. Each topic it left gets a new version.
   */
  async deleteQueue(name: string): Promise<boolean> {
    return this.ctx.storage.transactionSync(() => {
      const deleted = this.#sql`DELETE FROM queues WHERE name = ${name} RETURNING name`.toArray();
      const left = this.#sql<{ topic: string }>`
        DELETE FROM topic_subscriptions WHERE queue = ${name} RETURNING topic`.toArray();
      for (const { topic } of left) {
        this.#sql`UPDATE topics SET version = version + 1, updated_at = ${Date.now()}
          WHERE name = ${topic}`;
      }
      return deleted.length > 0;
    });
  }

  /**
   * Creates the topic or replaces its subscriptions whole. Every subscribed queue must exist
   * (checked here, in the same transaction as the write). A PUT that changes nothing keeps
   * the version.
   */
  async putTopic(name: string, definition: TopicDefinition): Promise<PutTopicOutcome> {
    const validName = TopicNameSchema.safeParse(name);
    if (!validName.success) return invalidTopic(validName.error);
    const valid = TopicDefinitionSchema.safeParse(definition);
    if (!valid.success) return invalidTopic(valid.error);
    const subscriptions: Subscription[] = valid.data.subscriptions.map(({ queue, filter }) => ({
      queue,
      filter: filter ?? null,
    }));
    const missing = subscriptions.find(({ queue }) => this.#queue(queue) === null);
    if (missing) {
      return {
        ok: false,
        code: "queue_not_found",
        detail: `no queue named '${missing.queue}'; create it before subscribing it to topic '${name}'`,
      };
    }
    return this.ctx.storage.transactionSync(() => {
      const current = this.#topic(name);
      if (current && JSON.stringify(current.subscriptions) === JSON.stringify(subscriptions)) {
        return { ok: true, created: false, topic: current };
      }
      const now = Date.now();
      if (current) {
        this
          .#sql`UPDATE topics SET version = version + 1, updated_at = ${now} WHERE name = ${name}`;
        this.#sql`DELETE FROM topic_subscriptions WHERE topic = ${name}`;
      } else {
        this.#sql`INSERT INTO topics (name, version, created_at, updated_at)
          VALUES (${name}, 1, ${now}, ${now})`;
      }
      subscriptions.forEach(({ queue, filter }, position) => {
        this.#sql`INSERT INTO topic_subscriptions (topic, position, queue, filter)
          VALUES (${name}, ${position}, ${queue}, ${filter === null ? null : JSON.stringify(filter)})`;
      });
      return { ok: true, created: current === null, topic: this.#topic(name) as TopicRecord };
    });
  }

  async getTopic(name: string): Promise<TopicRecord | null> {
    return this.#topic(name);
  }

  async listTopics(): Promise<TopicRecord[]> {
    const subscriptions = Map.groupBy(
      this.#sql<SubscriptionRow>`SELECT topic, queue, filter FROM topic_subscriptions
        ORDER BY topic, position`.toArray(),
      (row) => row.topic,
    );
    return this.#sql<TopicRow>`SELECT * FROM topics ORDER BY name`
      .toArray()
      .map((row) => toTopicRecord(row, subscriptions.get(row.name) ?? []));
  }

  async deleteTopic(name: string): Promise<boolean> {
    return this.ctx.storage.transactionSync(() => {
      this.#sql`DELETE FROM topic_subscriptions WHERE topic = ${name}`;
      return this.#sql`DELETE FROM topics WHERE name = ${name} RETURNING name`.toArray().length > 0;
    });
  }

  /**
   * The secret is returned here and never again. Input that breaks `NewApiKeySchema` throws:
   * the router validates first, so reaching that is a bug.
   */
  async createKey(input: z.input<typeof NewApiKeySchema>): Promise<ApiKey & { secret: string }> {
    const parsed = NewApiKeySchema.safeParse(input);
    if (!parsed.success) throw new TypeError(`invalid API key: ${describeIssues(parsed.error)}`);
    const id = `key_${toHex(crypto.getRandomValues(new Uint8Array(KEY_ID_BYTES)))}`;
    const secret = `sk_${toBase64Url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)))}`;
    const secretHash = await sha256Hex(secret);
    const sealingKey = this.#sealingKey();
    const sealed = sealingKey === null ? UNSEALED : await sealSecret(await sealingKey, id, secret);

    const key: ApiKey = { id, ...parsed.data, createdAt: Date.now() };
    this.#sql`INSERT INTO api_keys
        (id, name, scopes, queues, topics, origins, secret_hash, sealed_secret, created_at)
      VALUES (${id}, ${key.name}, ${JSON.stringify(key.scopes)}, ${JSON.stringify(key.queues)},
        ${JSON.stringify(key.topics)}, ${JSON.stringify(key.origins)}, ${secretHash}, ${sealed},
        ${key.createdAt})`;
    return { ...key, secret };
  }

  /** Every key, oldest first, without secrets or their hashes. */
  async listKeys(): Promise<ApiKey[]> {
    return this.#sql<ApiKeyRow>`SELECT * FROM api_keys ORDER BY created_at, id`
      .toArray()
      .map(toApiKey);
  }

  async getKey(id: string): Promise<ApiKey | null> {
    const row = this.#sql<ApiKeyRow>`
      SELECT * FROM api_keys WHERE id = ${id}`.toArray()[0];
    return row ? toApiKey(row) : null;
  }

  /** Revokes the key: it stops authenticating at once (routers drop cached keys soon after). */
  async deleteKey(id: string): Promise<boolean> {
    return this.#sql`DELETE FROM api_keys WHERE id = ${id} RETURNING id`.toArray().length > 0;
  }

  /** Looks a key up by the SHA-256 hex of its secret, as the router digests a Bearer token. */
  async authenticate(secretHash: string): Promise<ApiKey | null> {
    if (typeof secretHash !== "string" || !/^[0-9a-f]{64}$/.test(secretHash)) return null;
    const row = this.#sql<ApiKeyRow>`
      SELECT * FROM api_keys WHERE secret_hash = ${secretHash}`.toArray()[0];
    return row ? toApiKey(row) : null;
  }

  /**
   * The key's secret, for verifying AWS Signature V4. Null for an unknown or revoked key, and
   * for a key sealed under a seal key that has since been rotated.
   */
  async signingSecret(id: string): Promise<string | null> {
    const row = this.#sql<{ sealed_secret: string }>`
      SELECT sealed_secret FROM api_keys WHERE id = ${id}`.toArray()[0];
    const sealingKey = this.#sealingKey();
    if (!row || sealingKey === null || row.sealed_secret === UNSEALED) return null;
    const secret = await unsealSecret(await sealingKey, id, row.sealed_secret);
    if (secret === null) {
      console.warn(`Catalog: the secret of ${id} does not unseal; was the seal key rotated?`);
    }
    return secret;
  }

  /**
   * The key named by a SigV4 access key id and its secret, in one call: null when either is
   * missing (see `signingSecret`).
   */
  async signingCredentials(id: string): Promise<{ key: ApiKey; secret: string } | null> {
    const key = await this.getKey(id);
    const secret = key === null ? null : await this.signingSecret(id);
    return key === null || secret === null ? null : { key, secret };
  }

  #queue(name: string): QueueRecord | null {
    const row = this.#sql<QueueRow>`SELECT * FROM queues WHERE name = ${name}`.toArray()[0];
    return row ? toQueueRecord(row) : null;
  }

  #topic(name: string): TopicRecord | null {
    const row = this.#sql<TopicRow>`SELECT * FROM topics WHERE name = ${name}`.toArray()[0];
    if (!row) return null;
    const subscriptions = this.#sql<SubscriptionRow>`SELECT topic, queue, filter
      FROM topic_subscriptions WHERE topic = ${name} ORDER BY position`.toArray();
    return toTopicRecord(row, subscriptions);
  }

  /** Null without a seal key (core/deployment.ts): keys are then made for Bearer only. */
  #sealingKey(): Promise<CryptoKey> | null {
    const material = sealKeyMaterial(this.env);
    if (material === null) return null;
    this.#sealKey ??= deriveSealKey(material);
    return this.#sealKey;
  }
}

const SEAL_INFO = new TextEncoder().encode("sluice/api-key-secret/v1");

/** The sealed secret of a key made without a seal key: it authenticates Bearer only. */
const UNSEALED = "";

export async function deriveSealKey(material: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(material),
    "HKDF",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: SEAL_INFO },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/**
 * `iv.ciphertext`, both base64url. The key id is authenticated data, so a sealed secret
 * copied onto another key's row does not unseal.
 */
export async function sealSecret(key: CryptoKey, keyId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(keyId) },
    key,
    new TextEncoder().encode(secret),
  );
  return `${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ciphertext))}`;
}

/** Null when `sealed` was not sealed under `key` for `keyId`. */
export async function unsealSecret(
  key: CryptoKey,
  keyId: string,
  sealed: string,
): Promise<string | null> {
  const [iv, ciphertext] = sealed.split(".");
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: new TextEncoder().encode(keyId) },
      key,
      fromBase64Url(ciphertext ?? ""),
    );
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}

function invalidConfig(error: z.ZodError): PutQueueOutcome {
  return { ok: false, code: "invalid_config", detail: describeIssues(error) };
}

function invalidTopic(error: z.ZodError): PutTopicOutcome {
  return { ok: false, code: "invalid_topic", detail: describeIssues(error) };
}

function toTopicRecord(row: TopicRow, subscriptions: SubscriptionRow[]): TopicRecord {
  return {
    name: row.name,
    subscriptions: subscriptions.map(({ queue, filter }) => ({
      queue,
      filter: filter === null ? null : JSON.parse(filter),
    })),
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toQueueRecord(row: QueueRow): QueueRecord {
  return {
    name: row.name,
    // Parsed again so a configuration stored before a field existed gets that field's default.
    config: QueueConfigSchema.parse(JSON.parse(row.config)),
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The one way a key leaves the catalog: the secret's hash and sealed copy stay behind. */
function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes),
    queues: JSON.parse(row.queues),
    topics: JSON.parse(row.topics),
    origins: JSON.parse(row.origins),
    createdAt: row.created_at,
  };
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (c) =>
    c.charCodeAt(0),
  );
}
