/**
 * Flow control on the dashboard, against the real Worker (`wrangler dev`) in headless
 * Chromium: an operator pauses a queue from its page (receives then get nothing), resumes it,
 * and pauses a key and sets its limits from the same panel. The steps share one browser and
 * build on each other, in order. A failing step leaves a screenshot in test-results/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findBrowser, launchBrowser } from "./support/browser.ts";
import { type DevServer, ROOT, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const QUEUE = "e2e-flow";
const SCREENSHOTS = join(ROOT, "test-results");

let server: DevServer;
let call: Call;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser(await findBrowser());
  server = await startDevServer();
  call = adminCall(server);
  const created = await call("PUT", `/v1/queues/${QUEUE}`, {
    ordering: "unordered",
    keyLimits: { concurrency: 5 },
  });
  expect(created.status).toBe(201);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async ({ task }) => {
    if (!page || page.isClosed()) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    const name = task.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    await page.screenshot({ path: join(SCREENSHOTS, `flow-${name}.png`), fullPage: true });
  });
});

function eventually<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 15_000 });
}

async function receiveCount(): Promise<number> {
  const received = await call<{ messages: Array<{ receipt: string }> }>(
    "POST",
    `/v1/queues/${QUEUE}/receive`,
    { max: 10 },
  );
  expect(received.status).toBe(200);
  return received.body.messages.length;
}

describe("flow control on the dashboard", () => {
  it("pauses the queue from its page: receives get nothing, the page says paused", async () => {
    await page.goto(`${server.url}/#/queues/${QUEUE}`);
    await page.getByLabel("API token").fill(server.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: QUEUE }).waitFor();
    const panel = page.getByRole("region", { name: "Flow control" });
    await eventually(() => panel.getByRole("status").textContent()).toContain("Delivering");
    await eventually(() => panel.getByText("5 at once").count()).toBe(1);

    await panel.getByRole("button", { name: "Pause queue" }).click();
    await eventually(() => panel.getByRole("status").textContent()).toContain("Paused");
    const sent = await call("POST", `/v1/queues/${QUEUE}/messages`, { body: { n: 1 } });
    expect(sent.status).toBe(201);
    expect(await receiveCount()).toBe(0);
    const queue = await call<{ stats: { paused: boolean } }>("GET", `/v1/queues/${QUEUE}`);
    expect(queue.body.stats.paused).toBe(true);
  });

  it("resumes it: the waiting message is delivered", async () => {
    const panel = page.getByRole("region", { name: "Flow control" });
    await panel.getByRole("button", { name: "Resume queue" }).click();
    await eventually(() => panel.getByRole("status").textContent()).toContain("Delivering");
    expect(await receiveCount()).toBe(1);
  });

  it("pauses a key and sets its limits", async () => {
    const panel = page.getByRole("region", { name: "Flow control" });
    await panel.getByLabel("Key", { exact: true }).fill("tenant-7");
    await panel.getByRole("button", { name: "Look up key" }).click();
    const facts = panel.getByLabel("Key tenant-7");
    await eventually(() => facts.textContent()).toContain("delivering");

    await panel.getByRole("button", { name: "Pause key" }).click();
    await eventually(() => facts.textContent()).toContain("paused");
    await call("POST", `/v1/queues/${QUEUE}/messages`, { body: { n: 2 }, key: "tenant-7" });
    expect(await receiveCount()).toBe(0);

    await panel.getByLabel("Rate, per second").fill("2");
    await panel.getByRole("button", { name: "Set key limits" }).click();
    await eventually(() => facts.textContent()).toContain("2/s, 5 at once");
    const key = await call<{ limits: unknown; paused: unknown }>(
      "GET",
      `/v1/queues/${QUEUE}/keys/tenant-7`,
    );
    expect(key.body).toMatchObject({ limits: { rate: 2 }, paused: { until: null } });

    await panel.getByRole("button", { name: "Resume key" }).click();
    await eventually(() => facts.textContent()).toContain("delivering");
    expect(await receiveCount()).toBe(1);
  });
});
