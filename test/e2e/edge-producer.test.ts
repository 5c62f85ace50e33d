/**
 * Two Workers together, as they are deployed: the example edge function
 * (`examples/edge-producer`) bound to Sluice by a service binding to its `SluiceRpc`
 * entrypoint, both run from their own wrangler.toml by wrangler's test harness. An order
 * POSTed to the edge function is enqueued over RPC and then received through Sluice's HTTP
 * API with the SDK, running in Node. The two tests build on each other, in order: first the
 * binding names no real key, then the deployer gives it one.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestHarness, experimental_readRawConfig, type TestHarness } from "wrangler";
import { type Fetch, Sluice } from "../../client/index.ts";
import { ROOT } from "./support/dev-server.ts";

const PRODUCER_CONFIG = "examples/edge-producer/wrangler.toml";
const QUEUE = "orders";
const ORDER = { customer: "ada", items: [{ sku: "apple", quantity: 3 }] };

let harness: TestHarness;
let sluice: Sluice;

/** The example's configuration as a deployer finishes it: `props.keyId` names a real key. */
function producerWithKey(keyId: string) {
  const { rawConfig } = experimental_readRawConfig({ config: join(ROOT, PRODUCER_CONFIG) });
  return {
    config: {
      ...rawConfig,
      main: join(ROOT, "examples/edge-producer", rawConfig.main as string),
      services: rawConfig.services?.map((service: object) => ({ ...service, props: { keyId } })),
    },
  };
}

function postOrder(headers: Record<string, string> = {}) {
  return harness.getWorker("edge-producer").fetch("http://edge.test/orders", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(ORDER),
  });
}

beforeAll(async () => {
  const token = `e2e-${randomBytes(12).toString("hex")}`;
  harness = createTestHarness({
    root: ROOT,
    workers: [
      { configPath: PRODUCER_CONFIG },
      {
        configPath: "wrangler.toml",
        secrets: { SLUICE_ADMIN_TOKEN: token, SLUICE_ENV: "development" },
      },
    ],
  });
  await harness.listen();
  const sluiceWorker = harness.getWorker("sluice");
  // Miniflare's fetch speaks undici's types; the SDK passes a URL string and a plain init.
  const fetch: Fetch = async (input, init) =>
    (await sluiceWorker.fetch(String(input), init as never)) as unknown as Response;
  sluice = new Sluice({ url: "http://sluice.test", token, fetch });
  await sluice.putQueue(QUEUE);
});

afterAll(async () => {
  await harness?.close();
});

describe("an edge function bound to Sluice", () => {
  it("cannot enqueue while its binding names a key Sluice does not know", async () => {
    const response = await postOrder();
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ code: "not_queued" });
    expect((await sluice.getQueue(QUEUE)).stats.sent).toBe(0);
  });

  it("enqueues an order over RPC once its binding names a key that may produce", async () => {
    const key = await sluice.createKey({
      name: "edge-producer",
      scopes: ["produce"],
      queues: [QUEUE],
    });
    await harness.update((options) => ({
      ...options,
      workers: [producerWithKey(key.id), ...options.workers.slice(1)],
    }));

    const first = await postOrder({ "Idempotency-Key": "order-1" });
    expect(first.status).toBe(202);
    const { id, duplicate } = (await first.json()) as { id: string; duplicate: boolean };
    expect(duplicate).toBe(false);
    const retried = await postOrder({ "Idempotency-Key": "order-1" });
    expect(await retried.json()).toEqual({ id, duplicate: true });

    const [message] = await sluice.receive(QUEUE, { max: 10, wait: 1 });
    expect(message).toMatchObject({ id, body: ORDER, key: "ada", attempts: 1 });
    expect(await sluice.ack(QUEUE, message.receipt)).toEqual({ acked: 1, failed: [] });
    expect((await sluice.getQueue(QUEUE)).stats).toMatchObject({ sent: 1, acked: 1, ready: 0 });
  });
});
