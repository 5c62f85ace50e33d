/**
 * Secrets: an API key's secret is shown once, at creation, and never again, stored only as a
 * hash and a sealed copy, and never written to a log; the admin token is compared in
 * constant time.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { GetQueueUrlCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../core/hex.ts";
import { authenticate } from "../../worker/auth.ts";
import authSource from "../../worker/auth.ts?raw";
import { createCredentials, sqsClient } from "../sqs/support.ts";
import { ADMIN_TOKEN, call, createQueue, ok, queueName } from "../worker/api.ts";

const LOG_METHODS = ["log", "info", "warn", "error", "debug", "trace"] as const;

/** Everything written to the console while `work` runs, as text. */
async function consoleDuring(work: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const spies = LOG_METHODS.map((method) =>
    vi.spyOn(console, method).mockImplementation((...parts: unknown[]) => {
      lines.push(
        parts.map((part) => (part instanceof Error ? `${part.stack}` : String(part))).join(" "),
      );
      lines.push(
        JSON.stringify(parts, (_, value) => (value instanceof Error ? value.stack : value)),
      );
    }),
  );
  try {
    await work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines.join("\n");
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("API key secrets", () => {
  it("are in the creation answer only: not listed, not in any other answer", async () => {
    const queue = queueName("sec");
    await createQueue(queue);
    const created = await ok("POST", "/v1/keys", {
      json: { name: "shown once", scopes: ["admin"], queues: ["*"] },
    });
    expect(created.secret).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    const hash = await sha256Hex(created.secret);

    const answers = await Promise.all(
      [
        "/v1/keys",
        "/v1/queues",
        `/v1/queues/${queue}`,
        "/metrics",
        "/v1/openapi.json",
        "/health",
      ].map(async (path) => (await call("GET", path, { token: created.secret })).text()),
    );
    const revoked = await call("DELETE", `/v1/keys/${created.id}`);
    expect(revoked.status).toBe(204);
    answers.push(await revoked.text());
    for (const answer of answers) {
      expect(answer).not.toContain(created.secret);
      expect(answer).not.toContain(hash);
    }
    const { keys } = JSON.parse(answers[0]);
    expect(keys.find((key: { id: string }) => key.id === created.id)).toEqual({
      id: created.id,
      name: "shown once",
      scopes: ["admin"],
      queues: ["*"],
      topics: [],
      origins: [],
      createdAt: expect.any(Number),
    });
  });

  it("are stored as a SHA-256 hash and a sealed copy, never as they are", async () => {
    const created = await ok("POST", "/v1/keys", {
      json: { name: "stored", scopes: ["consume"], queues: ["*"] },
    });
    const rows = await runInDurableObject(env.CATALOG.getByName("catalog"), (_, state) =>
      state.storage.sql.exec("SELECT * FROM api_keys WHERE id = ?", created.id).toArray(),
    );
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(created.secret);
    expect(JSON.stringify(rows)).not.toContain(created.secret.slice(3));
    expect(rows[0].secret_hash).toBe(await sha256Hex(created.secret));
  });

  it("are never logged: not at creation, on use, on refusals, nor through the SQS door", async () => {
    const queue = queueName("sec");
    await createQueue(queue);
    let secrets: string[] = [];
    const logs = await consoleDuring(async () => {
      const created = await ok("POST", "/v1/keys", {
        json: { name: "quiet", scopes: ["produce"], queues: [queue] },
      });
      const sqs = await createCredentials(["produce"], [queue]);
      secrets = [created.secret, sqs.secretAccessKey];

      await ok("POST", `/v1/queues/${queue}/messages`, {
        token: created.secret,
        json: { body: 1 },
      });
      await call("POST", `/v1/queues/${queue}/receive`, { token: created.secret, json: {} });
      await call("GET", "/v1/queues/elsewhere", { token: created.secret });
      await call("GET", "/v1/queues", {
        token: created.secret,
        headers: { Origin: "https://x.example" },
      });
      await call("GET", "/v1/queues", { token: `${created.secret}x` });

      const client = sqsClient(sqs);
      const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queue }));
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: "hi" }));
      const wrong = sqsClient({ ...sqs, secretAccessKey: `${sqs.secretAccessKey}x` });
      await wrong.send(new GetQueueUrlCommand({ QueueName: queue })).catch(() => undefined);

      // A key whose sealed copy no longer opens (the seal key was rotated) is logged, by id.
      const resealed = await createCredentials(["produce"], [queue]);
      secrets.push(resealed.secretAccessKey);
      await runInDurableObject(env.CATALOG.getByName("catalog"), (_, state) => {
        state.storage.sql.exec(
          "UPDATE api_keys SET sealed_secret = 'AAAAAAAAAAAAAAAA.AAAA' WHERE id = ?",
          resealed.accessKeyId,
        );
      });
      await sqsClient(resealed)
        .send(new GetQueueUrlCommand({ QueueName: queue }))
        .catch(() => undefined);

      await call("DELETE", `/v1/keys/${created.id}`);
      await call("GET", "/v1/queues", { token: created.secret });
    });
    expect(logs).toContain("does not unseal");
    expect(secrets).toHaveLength(3);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.slice(3));
    }
  });
});

describe("the admin token", () => {
  const envWith = (token: string) => ({ ...env, SLUICE_ADMIN_TOKEN: token });

  it.each([
    ["the token itself", ADMIN_TOKEN, true],
    ["a token of the same length", ADMIN_TOKEN.replace(/.$/, "X"), false],
    ["a prefix of it", ADMIN_TOKEN.slice(0, -1), false],
    ["it with more after", `${ADMIN_TOKEN}0`, false],
    ["a much longer token", ADMIN_TOKEN.repeat(50), false],
    ["an empty token", "", false],
  ])("is recognised only in full: %s → %s", async (_, token, isAdmin) => {
    const principal = await authenticate(envWith(ADMIN_TOKEN), token);
    expect(principal?.kind === "admin").toBe(isAdmin);
  });

  it("is compared with crypto.subtle.timingSafeEqual on equal-length digests, whatever the guess", async () => {
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    for (const guess of ["t", ADMIN_TOKEN.slice(0, -1), ADMIN_TOKEN, ADMIN_TOKEN.repeat(9)]) {
      compare.mockClear();
      await authenticate(envWith(ADMIN_TOKEN), guess);
      expect(compare).toHaveBeenCalledTimes(1);
      const [given, expected] = compare.mock.calls[0] as [ArrayBuffer, ArrayBuffer];
      expect([given.byteLength, expected.byteLength]).toEqual([32, 32]);
    }
  });

  it("is never compared as a string in the code", () => {
    expect(authSource).toContain("crypto.subtle.timingSafeEqual(");
    expect(authSource).not.toMatch(/SLUICE_ADMIN_TOKEN\s*[!=]==?/);
    expect(authSource).not.toMatch(/[!=]==?\s*env\.SLUICE_ADMIN_TOKEN/);
  });

  it("is refused with no admin token configured, even when the guess is empty", async () => {
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    expect(await authenticate(envWith(""), "")).toBeNull();
    expect(compare).not.toHaveBeenCalled();
  });
});
