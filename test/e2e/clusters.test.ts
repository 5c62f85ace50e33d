/**
 * The dead-letter page's failure clusters against the real Worker (`wrangler dev`) in headless
 * Chromium: open a cluster, redrive it as a job behind a canary of 2, and watch it reach done
 * once the canary messages are acked at the queue; then edit the last dead letter and redrive it.
 * The steps share one server and build on each other, in order.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBrowser, launchBrowser } from "./support/browser.ts";
import { type DevServer, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const QUEUE = "e2e-clusters";
const TIMEOUT = "timeout after <n> ms calling order <hex>";

let server: DevServer;
let call: Call;
let browser: Browser;
let page: Page;

type Leased = { messages: Array<{ receipt: string; body: { n: number } }> };

/** Four messages die of a timeout, one of a declined card. */
async function deadLetters() {
  expect((await call("PUT", `/v1/queues/${QUEUE}`, { maxAttempts: 1 })).status).toBe(201);
  const messages = Array.from({ length: 5 }, (_, n) => ({ body: { n } }));
  expect((await call("POST", `/v1/queues/${QUEUE}/messages`, { messages })).status).toBe(201);
  const leased = await call<Leased>("POST", `/v1/queues/${QUEUE}/receive`, { max: 10 });
  for (const message of leased.body.messages) {
    const n = message.body.n;
    const reason = n === 4 ? "card declined" : `timeout after ${300 + n} ms calling order ${n}f3a9`;
    await call("POST", `/v1/queues/${QUEUE}/nack`, { receipts: [message.receipt], reason });
  }
  await expect
    .poll(
      async () =>
        (await call<{ clusters: unknown[] }>("GET", `/v1/queues/${QUEUE}/dlq/clusters`)).body
          .clusters.length,
      { timeout: 15_000 },
    )
    .toBe(2);
}

beforeAll(async () => {
  browser = await launchBrowser(await findBrowser());
  server = await startDevServer();
  call = adminCall(server);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("failure clusters in the browser", () => {
  it("opens a cluster, redrives it as a job with a canary of 2, and follows it to done", async () => {
    await deadLetters();
    await page.goto(`${server.url}/#/queues/${QUEUE}/dead-letters`);
    await page.getByLabel("API token").fill(server.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: TIMEOUT }).click();
    await page.getByRole("heading", { name: "Failure cluster", exact: true }).waitFor();
    await expect.poll(() => page.locator("table.dead-letter-table tbody tr").count()).toBe(4);

    await page.getByLabel("Canary").fill("2");
    await page.getByRole("button", { name: "Redrive this cluster" }).click();
    const progress = page.getByRole("status", { name: "Redrive job" });
    const timeout = { timeout: 20_000 };
    await expect.poll(() => progress.textContent(), timeout).toContain("moved 2, remaining 2");
    expect(await progress.textContent()).toContain("Canary");

    // A consumer acks the two canary messages at the queue; the job goes on.
    const canaries = await call<Leased>("POST", `/v1/queues/${QUEUE}/receive`, { max: 10 });
    expect(canaries.body.messages).toHaveLength(2);
    const receipts = canaries.body.messages.map((m) => m.receipt);
    expect((await call("POST", `/v1/queues/${QUEUE}/ack`, { receipts })).status).toBe(200);

    await expect
      .poll(() => progress.textContent(), timeout)
      .toMatch(/^Done — moved 4, remaining 0/);
    expect(await progress.textContent()).toContain("canary 2/2 acked");
    const rest = await call<Leased>("POST", `/v1/queues/${QUEUE}/receive`, { max: 10 });
    expect(rest.body.messages).toHaveLength(2);
    const acked = await call("POST", `/v1/queues/${QUEUE}/ack`, {
      receipts: rest.body.messages.map((m) => m.receipt),
    });
    expect(acked.status).toBe(200);
  });

  it("edits a dead letter's body and redrives it: the queue gets the edit", async () => {
    const dead = await call<{ messages: Array<{ id: string }> }>("GET", `/v1/queues/${QUEUE}/dlq`);
    expect(dead.body.messages).toHaveLength(1);
    const [{ id }] = dead.body.messages;
    await page.goto(`${server.url}/#/queues/${QUEUE}/dead-letters?id=${encodeURIComponent(id)}`);
    const detail = page.getByRole("region", { name: `Dead letter ${id}` });
    await detail.getByRole("button", { name: "Edit body or headers…" }).click();
    const form = detail.getByRole("form", { name: "Edit and redrive" });
    await form.getByLabel(/^Body/).fill("{oops");
    await form.getByRole("button", { name: "Save and redrive" }).click();
    await form.getByText(/^Body: not JSON/).waitFor();

    await form.getByLabel(/^Body/).fill('{"n": 4, "card": "replaced"}');
    await form.getByLabel(/^Headers/).fill('{"fixed-by": "e2e"}');
    await form.getByRole("button", { name: "Save and redrive" }).click();
    await expect
      .poll(() => page.getByRole("status").first().textContent(), { timeout: 15_000 })
      .toContain("Edited and redrove 1 message");

    const back = await call<{
      messages: Array<{ body: unknown; headers: Record<string, string> }>;
    }>("POST", `/v1/queues/${QUEUE}/receive`, { max: 10 });
    expect(back.body.messages.map((m) => [m.body, m.headers])).toEqual([
      [{ n: 4, card: "replaced" }, { "fixed-by": "e2e" }],
    ]);
    const left = await call<{ messages: unknown[] }>("GET", `/v1/queues/${QUEUE}/dlq`);
    expect(left.body.messages).toEqual([]);
  });
});
