import { describe, expect, it } from "vitest";
import { ClusterListSchema } from "../../worker/schemas.ts";
import { client } from "../client/support.ts";
import { bindingFor } from "../rpc/binding.ts";
import {
  call,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
} from "./api.ts";

/** A queue whose messages die on their first nack, each with the reason given for it. */
async function queueWithFailures(failures: { key: string; reason: string }[]) {
  const name = queueName("clusters");
  await createQueue(name, { maxAttempts: 1 });
  await send(
    name,
    failures.map(({ key }, n) => ({ body: { n }, key })),
  );
  const leased = await receive(name, { max: failures.length });
  for (const message of leased) {
    const { reason } = failures[message.body.n];
    await ok("POST", `/v1/queues/${name}/nack`, { json: { receipts: [message.receipt], reason } });
  }
  await settleDeadLetters(name);
  return name;
}

const FAILURES = [
  { key: "eu", reason: "timeout after 3021 ms calling order 8f3a91" },
  { key: "us", reason: "timeout after 2980 ms calling order 11c2e0" },
  { key: "eu", reason: 'unknown sku "A-100"' },
  { key: "eu", reason: "timeout after 15 ms calling order 0b7d22" },
];
const TIMEOUT = "timeout after <n> ms calling order <hex>";

describe("failure clusters over HTTP", () => {
  it("lists the clusters, largest first, with their keys and times", async () => {
    const name = await queueWithFailures(FAILURES);
    const answer = ClusterListSchema.parse(await ok("GET", `/v1/queues/${name}/dlq/clusters`));
    expect(
      answer.clusters.map(({ fingerprint, count, keys }) => ({ fingerprint, count, keys })),
    ).toEqual([
      {
        fingerprint: TIMEOUT,
        count: 3,
        keys: [
          { key: "eu", count: 2 },
          { key: "us", count: 1 },
        ],
      },
      { fingerprint: 'unknown sku "…"', count: 1, keys: [{ key: "eu", count: 1 }] },
    ]);
    const [timeouts] = answer.clusters;
    expect(FAILURES.map((f) => f.reason)).toContain(timeouts.example);
    expect(timeouts.firstAt).toBeLessThanOrEqual(timeouts.lastAt);
    expect((await ok("GET", `/v1/queues/${name}/dlq/clusters?limit=1`)).clusters).toHaveLength(1);
  });

  it("lists one cluster's messages, and deletes one cluster", async () => {
    const name = await queueWithFailures(FAILURES);
    const cluster = encodeURIComponent(TIMEOUT);
    const page = await ok("GET", `/v1/queues/${name}/dlq?cluster=${cluster}`);
    expect(page.messages.map((m: { body: { n: number } }) => m.body.n).sort()).toEqual([0, 1, 3]);

    expect(
      await ok("POST", `/v1/queues/${name}/dlq/purge`, { json: { cluster: TIMEOUT } }),
    ).toEqual({ purged: 3 });
    const left = await ok("GET", `/v1/queues/${name}/dlq/clusters`);
    expect(left.clusters.map((c: { fingerprint: string }) => c.fingerprint)).toEqual([
      'unknown sku "…"',
    ]);
    // A purge without a body still deletes everything.
    expect(await ok("POST", `/v1/queues/${name}/dlq/purge`)).toEqual({ purged: 1 });
  });

  it("refuses a bad limit or a fingerprint longer than any, changing nothing", async () => {
    const name = await queueWithFailures(FAILURES.slice(0, 1));
    await expectProblem(
      await call("GET", `/v1/queues/${name}/dlq/clusters?limit=0`),
      400,
      "invalid_query",
    );
    await expectProblem(
      await call("POST", `/v1/queues/${name}/dlq/purge`, { json: { cluster: "x".repeat(201) } }),
      400,
      "invalid_request",
    );
    expect((await ok("GET", `/v1/queues/${name}/dlq/clusters`)).clusters).toHaveLength(1);
  });

  it("needs consume to list clusters and admin to delete one", async () => {
    const name = await queueWithFailures(FAILURES.slice(0, 1));
    const consumer = await createKey(["consume"], [name]);
    expect(
      (await ok("GET", `/v1/queues/${name}/dlq/clusters`, { token: consumer })).clusters,
    ).toHaveLength(1);
    await expectProblem(
      await call("POST", `/v1/queues/${name}/dlq/purge`, {
        json: { cluster: TIMEOUT },
        token: consumer,
      }),
      403,
      "forbidden",
    );
    const producer = await createKey(["produce"], [name]);
    await expectProblem(
      await call("GET", `/v1/queues/${name}/dlq/clusters`, { token: producer }),
      403,
      "forbidden",
    );
  });

  it("answers the same clusters through the SDK and the service binding", async () => {
    const name = await queueWithFailures(FAILURES);
    const http = await ok("GET", `/v1/queues/${name}/dlq/clusters`);
    expect(await client().listFailureClusters(name)).toEqual(http.clusters);

    const key = await ok("POST", "/v1/keys", {
      json: { name: "bound", scopes: ["admin"], queues: [name] },
    });
    const binding = bindingFor(key.id);
    expect(await binding.listFailureClusters(name)).toEqual({ ok: true, clusters: http.clusters });
    expect(await binding.purgeDeadLetters(name, { cluster: TIMEOUT })).toEqual({
      ok: true,
      purged: 3,
    });
    expect(await client().purgeDeadLetters(name, 'unknown sku "…"')).toBe(1);
  });
});
