/**
 * The queue page's charts come from the history Sluice keeps, so a reload keeps the last
 * minutes: against the real Worker (`wrangler dev`) in headless Chromium.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBrowser, launchBrowser } from "./support/browser.ts";
import { type DevServer, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const QUEUE = "e2e-history";

let server: DevServer;
let call: Call;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser(await findBrowser());
  server = await startDevServer();
  call = adminCall(server);
  expect((await call("PUT", `/v1/queues/${QUEUE}`, {})).status).toBe(201);
  const messages = Array.from({ length: 7 }, (_, n) => ({ body: { n } }));
  expect((await call("POST", `/v1/queues/${QUEUE}/messages`, { messages })).status).toBe(201);
  const received = await call<{ messages: Array<{ receipt: string }> }>(
    "POST",
    `/v1/queues/${QUEUE}/receive`,
    { max: 3 },
  );
  const receipts = received.body.messages.map((m) => m.receipt);
  expect((await call("POST", `/v1/queues/${QUEUE}/ack`, { receipts })).status).toBe(200);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** The accessible description of the chart titled `title`. */
function chart(title: string) {
  return page.locator(`svg[aria-label^="${title}"]`).getAttribute("aria-label");
}

describe("history charts in the browser", () => {
  it("shows the last minutes' traffic, and still shows it after a reload", async () => {
    await page.goto(`${server.url}/#/queues/${QUEUE}`);
    await page.getByLabel("API token").fill(server.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: QUEUE }).waitFor();
    const timeout = { timeout: 15_000 };
    await expect.poll(() => chart("Messages per minute"), timeout).toContain("peak 7");
    expect(await chart("Messages per minute")).toContain("Acked");

    await page.reload();
    await page.getByRole("heading", { level: 1, name: QUEUE }).waitFor();
    // The chart is drawn empty until the history arrives; after a reload the page's own
    // polling starts from nothing, so "peak 7" can only come from the history Sluice kept.
    await expect.poll(() => chart("Messages per minute"), timeout).toContain("peak 7");
    expect(await chart("Backlog at each step's end")).toContain("Backlog: now 4");

    await page.getByRole("button", { name: "Last 24 hours" }).click();
    await expect.poll(() => chart("Messages per 10 minutes"), timeout).toContain("peak 7");
  });
});
