import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApiKey } from "../../core/api-keys.ts";
import { sha256Hex } from "../../core/hex.ts";
import { DEFAULT_QUEUE_CONFIG, type QueueConfigPatch } from "../../core/queue-config.ts";
import { deriveSealKey, sealSecret, unsealSecret } from "../../durable-objects/catalog.ts";
import { rowsOf } from "./sql.ts";

/** A fresh catalog per test (production has one, named "catalog"). */
function catalog() {
  return env.CATALOG.getByName(`catalog-${crypto.randomUUID()}`);
}

type Stub = ReturnType<typeof catalog>;

async function put(stub: Stub, name: string, patch: QueueConfigPatch) {
  const outcome = await stub.putQueue(name, patch);
  if (!outcome.ok) throw new Error(`putQueue refused: ${outcome.code} ${outcome.detail}`);
  return outcome;
}

const newKey = {
  name: "billing worker",
  scopes: ["produce", "consume"],
  queues: ["billing-*"],
  topics: ["billing-*"],
  origins: ["https://app.example.com"],
} satisfies Omit<ApiKey, "id" | "createdAt">;

describe("queue definitions", () => {
  it("creates a queue from the defaults at version 1", async () => {
    const stub = catalog();
    const outcome = await put(stub, "orders", {});
    expect(outcome.created).toBe(true);
    expect(outcome.queue).toMatchObject({
      name: "orders",
      config: DEFAULT_QUEUE_CONFIG,
      version: 1,
    });
    expect(await stub.getQueue("orders")).toEqual(outcome.queue);
  });

  it("creates a queue with the given fields over the defaults", async () => {
    const stub = catalog();
    const { queue } = await put(stub, "orders.fifo", {
      partitions: 4,
      visibilityTimeout: 120,
      retry: { maxDelay: 60 },
    });
    expect(queue.config).toEqual({
      ...DEFAULT_QUEUE_CONFIG,
      partitions: 4,
      visibilityTimeout: 120,
      retry: { ...DEFAULT_QUEUE_CONFIG.retry, maxDelay: 60 },
    });
  });

  it("updates only the given fields and bumps the version on each change", async () => {
    const stub = catalog();
    await put(stub, "orders", { maxAttempts: 3, retry: { initialDelay: 2 } });
    const second = await put(stub, "orders", { retry: { multiplier: 3 } });
    expect(second.created).toBe(false);
    expect(second.queue.version).toBe(2);
    expect(second.queue.config.maxAttempts).toBe(3);
    expect(second.queue.config.retry).toMatchObject({ initialDelay: 2, multiplier: 3 });
    const third = await put(stub, "orders", { ordering: "priority" });
    expect(third.queue.version).toBe(3);
    expect(third.queue.createdAt).toBe(second.queue.createdAt);
  });

  it("keeps the version when a patch changes nothing", async () => {
    const stub = catalog();
    await put(stub, "orders", { maxAttempts: 3 });
    const again = await put(stub, "orders", { maxAttempts: 3 });
    expect(again).toMatchObject({ created: false, queue: { version: 1 } });
    expect((await put(stub, "orders", {})).queue.version).toBe(1);
  });

  it("treats a field sent as undefined as absent", async () => {
    const stub = catalog();
    await put(stub, "orders", { partitions: 8, retry: { maxDelay: 30 } });
    const outcome = await put(stub, "orders", {
      partitions: undefined,
      retry: { maxDelay: undefined },
    });
    expect(outcome.queue.config.partitions).toBe(8);
    expect(outcome.queue.config.retry.maxDelay).toBe(30);
  });

  it("sets and clears push delivery", async () => {
    const stub = catalog();
    const push = { url: "https://example.com/hook", batchSize: 20, timeout: 5, concurrency: 4 };
    const set = await put(stub, "hooks", { push });
    expect(set.queue.config.push).toEqual(push);
    const cleared = await put(stub, "hooks", { push: null });
    expect(cleared.queue.config.push).toBeUndefined();
    expect(cleared.queue.version).toBe(2);
  });

  it("lets partitions grow", async () => {
    const stub = catalog();
    await put(stub, "orders", { partitions: 2 });
    expect((await put(stub, "orders", { partitions: 64 })).queue.config.partitions).toBe(64);
  });

  it("refuses to shrink partitions and changes nothing", async () => {
    const stub = catalog();
    const before = (await put(stub, "orders", { partitions: 4 })).queue;
    const outcome = await stub.putQueue("orders", { partitions: 2, maxAttempts: 9 });
    expect(outcome).toEqual({
      ok: false,
      code: "partitions_shrink",
      detail: expect.stringMatching(/never shrink.*has 4, asked for 2/),
    });
    expect(await stub.getQueue("orders")).toEqual(before);
  });

  it.each([
    [{ partitions: 0 }, /^partitions: .*>=1/],
    [{ partitions: 65 }, /^partitions: .*<=64/],
    [{ partitions: 1.5 }, /^partitions: .*int/],
    [{ visibilityTimeout: 43_201 }, /^visibilityTimeout: .*<=43200/],
    [{ maxAttempts: 0 }, /^maxAttempts: /],
    [{ retention: 59 }, /^retention: .*>=60/],
    [{ maxMessageBytes: 2_000_000 }, /^maxMessageBytes: /],
    [{ dedupWindow: -1 }, /^dedupWindow: /],
    [{ ordering: "lifo" }, /^ordering: .*fifo/],
    [{ retry: { initialDelay: 10, maxDelay: 5 } }, /^retry.maxDelay must be at least/],
    [{ backlog: { soft: 10, hard: 5 } }, /^backlog.hard must be at least backlog.soft/],
    [{ push: { url: "ftp://example.com" } }, /^push.url: /],
    [{ speed: "fast" }, /Unrecognized key: "speed"/],
    [{ retry: "soon" }, /^retry: .*expected object/],
  ])("refuses %j with a detail naming the field", async (patch, detail) => {
    const stub = catalog();
    const outcome = await stub.putQueue("orders", patch as QueueConfigPatch);
    expect(outcome).toMatchObject({ ok: false, code: "invalid_config" });
    expect(outcome.ok === false && outcome.detail).toMatch(detail);
    expect(await stub.getQueue("orders")).toBeNull();
  });

  it("checks an update against the merged configuration", async () => {
    const stub = catalog();
    await put(stub, "orders", { retry: { maxDelay: 10 } });
    const outcome = await stub.putQueue("orders", { retry: { initialDelay: 20 } });
    expect(outcome).toMatchObject({ ok: false, code: "invalid_config" });
    expect((await stub.getQueue("orders"))?.version).toBe(1);
  });

  it("refuses a queue name outside SQS's rule", async () => {
    const stub = catalog();
    for (const name of ["", "has space", "a".repeat(81), "bad/slash", "x.fifo.fifo"]) {
      const outcome = await stub.putQueue(name, {});
      expect(outcome).toMatchObject({ ok: false, code: "invalid_config" });
      expect(outcome.ok === false && outcome.detail).toMatch(/queue name/);
    }
    expect(await stub.listQueues()).toEqual([]);
  });

  it("lists queues by name", async () => {
    const stub = catalog();
    for (const name of ["payments", "emails", "orders.fifo"]) await put(stub, name, {});
    expect((await stub.listQueues()).map((q) => q.name)).toEqual([
      "emails",
      "orders.fifo",
      "payments",
    ]);
  });

  it("deletes a queue, and says whether there was one", async () => {
    const stub = catalog();
    await put(stub, "orders", {});
    await put(stub, "emails", {});
    expect(await stub.deleteQueue("orders")).toBe(true);
    expect(await stub.deleteQueue("orders")).toBe(false);
    expect(await stub.getQueue("orders")).toBeNull();
    expect((await stub.listQueues()).map((q) => q.name)).toEqual(["emails"]);
  });
});

describe("API keys", () => {
  it("returns the secret once, at creation", async () => {
    const stub = catalog();
    const key = await stub.createKey(newKey);
    expect(key.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(key.secret).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(key).toMatchObject(newKey);

    const { secret, ...listed } = key;
    expect(await stub.listKeys()).toEqual([listed]);
    expect(await stub.getKey(key.id)).toEqual(listed);
    expect(JSON.stringify(await stub.listKeys())).not.toContain(secret);
  });

  it("stores the secret's hash and a sealed copy, never the secret itself", async () => {
    const stub = catalog();
    const key = await stub.createKey(newKey);
    const row = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec("SELECT * FROM api_keys WHERE id = ?", key.id).one(),
    );
    expect(row.secret_hash).toBe(await sha256Hex(key.secret));
    expect(Object.values(row).some((value) => String(value).includes(key.secret))).toBe(false);
    expect(Object.values(row).some((value) => String(value).includes(key.secret.slice(3)))).toBe(
      false,
    );
  });

  it("gives every key its own id and secret", async () => {
    const stub = catalog();
    const keys = await Promise.all(Array.from({ length: 5 }, () => stub.createKey(newKey)));
    expect(new Set(keys.map((k) => k.id)).size).toBe(5);
    expect(new Set(keys.map((k) => k.secret)).size).toBe(5);
    expect((await stub.listKeys()).map((k) => k.id).sort()).toEqual(keys.map((k) => k.id).sort());
  });

  it("authenticates by the SHA-256 hex of the secret", async () => {
    const stub = catalog();
    const key = await stub.createKey(newKey);
    const { secret, ...expected } = key;
    expect(await stub.authenticate(await sha256Hex(secret))).toEqual(expected);
    expect(await stub.authenticate(await sha256Hex(`${secret}x`))).toBeNull();
    expect(await stub.authenticate(secret)).toBeNull();
    expect(await stub.authenticate("")).toBeNull();
  });

  it("stops authenticating a revoked key", async () => {
    const stub = catalog();
    const kept = await stub.createKey({ ...newKey, name: "kept" });
    const revoked = await stub.createKey({ ...newKey, name: "revoked" });
    expect(await stub.deleteKey(revoked.id)).toBe(true);
    expect(await stub.deleteKey(revoked.id)).toBe(false);
    expect(await stub.authenticate(await sha256Hex(revoked.secret))).toBeNull();
    expect(await stub.signingSecret(revoked.id)).toBeNull();
    expect(await stub.getKey(revoked.id)).toBeNull();
    expect(await stub.authenticate(await sha256Hex(kept.secret))).toMatchObject({ id: kept.id });
    expect((await stub.listKeys()).map((k) => k.id)).toEqual([kept.id]);
  });

  it("unseals the secret for Signature V4 verification", async () => {
    const stub = catalog();
    const key = await stub.createKey(newKey);
    expect(await stub.signingSecret(key.id)).toBe(key.secret);
    expect(await stub.signingSecret("key_0000000000000000")).toBeNull();
  });

  it("seals under SLUICE_SEAL_KEY (the test Worker runs deployed-like, with one set)", async () => {
    const stub = catalog();
    const key = await stub.createKey(newKey);
    const sealed = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql
          .exec<{ sealed_secret: string }>(
            "SELECT sealed_secret FROM api_keys WHERE id = ?",
            key.id,
          )
          .one().sealed_secret,
    );
    const sealKey = await deriveSealKey(env.SLUICE_SEAL_KEY as string);
    expect(await unsealSecret(sealKey, key.id, sealed)).toBe(key.secret);
    expect(await unsealSecret(await deriveSealKey("rotated"), key.id, sealed)).toBeNull();
  });

  it("cannot unseal under another seal key, or for another key id", async () => {
    const sealKey = await deriveSealKey("seal key one");
    const sealed = await sealSecret(sealKey, "key_a", "sk_secret");
    expect(await unsealSecret(sealKey, "key_a", sealed)).toBe("sk_secret");
    expect(await unsealSecret(await deriveSealKey("seal key two"), "key_a", sealed)).toBeNull();
    expect(await unsealSecret(sealKey, "key_b", sealed)).toBeNull();
    expect(await unsealSecret(sealKey, "key_a", "garbage")).toBeNull();
  });

  it("drops repeated scopes and defaults origins to none", async () => {
    const stub = catalog();
    const key = await stub.createKey({
      name: "admin",
      scopes: ["admin", "admin"],
      queues: ["*"],
    } as Omit<ApiKey, "id" | "createdAt">);
    expect(key).toMatchObject({ scopes: ["admin"], queues: ["*"], origins: [] });
  });

  it.each([
    ["no name", { ...newKey, name: " " }, /name/],
    ["no scopes", { ...newKey, scopes: [] }, /at least one scope/],
    ["an unknown scope", { ...newKey, scopes: ["root"] }, /scopes\[0\]/],
    ["no queue patterns", { ...newKey, queues: [] }, /at least one queue pattern/],
    ["an empty queue pattern", { ...newKey, queues: [""] }, /queues\[0\]: a queue pattern/],
    ["a pattern with a slash", { ...newKey, queues: ["a/b"] }, /queues\[0\]/],
    ["an origin with a path", { ...newKey, origins: ["https://a.example/x"] }, /origins\[0\]/],
    ["an unknown field", { ...newKey, admin: true }, /Unrecognized key/],
  ])("refuses a key with %s and stores nothing", async (_, input, message) => {
    const stub = catalog();
    await runInDurableObject(stub, async (instance) => {
      await expect(instance.createKey(input as Omit<ApiKey, "id" | "createdAt">)).rejects.toThrow(
        message,
      );
    });
    expect(await stub.listKeys()).toEqual([]);
  });
});

describe("restart", () => {
  it("keeps queues and keys when the object leaves memory", async () => {
    const stub = catalog();
    const { queue } = await put(stub, "orders", { partitions: 3 });
    const key = await stub.createKey(newKey);
    await evictDurableObject(stub);

    expect(await stub.getQueue("orders")).toEqual(queue);
    expect(await stub.authenticate(await sha256Hex(key.secret))).toMatchObject({ id: key.id });
    expect(await stub.signingSecret(key.id)).toBe(key.secret);
    expect((await put(stub, "orders", { partitions: 4 })).queue.version).toBe(2);
    expect(await rowsOf(stub, "SELECT version FROM schema_version")).toEqual([{ version: 2 }]);
  });
});
