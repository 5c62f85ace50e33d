/**
 * The dashboard against the real Worker (`wrangler dev`) in headless Chromium: an operator
 * signs in, finds a queue's dead letters, reads why they failed, redrives one, deletes one
 * and exports the rest. The steps share one browser and build on each other, in order.
 * A failing step leaves a screenshot in test-results/.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findBrowser, launchBrowser } from "./support/browser.ts";
import { type DevServer, ROOT, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const QUEUE = "e2e-orders";
const SCREENSHOTS = join(ROOT, "test-results");

/** What each message carries and why each of its two attempts failed. */
const FAILING = {
  apple: {
    body: { order: 1, sku: "apple" },
    reasons: ["warehouse API timed out", "warehouse API answered 503"],
  },
  banana: {
    body: { order: 2, sku: "banana" },
    reasons: ["card declined: insufficient funds", "card declined: insufficient funds"],
  },
  cherry: {
    body: { order: 3, sku: "cherry" },
    reasons: ["address has no postcode", "address has no postcode"],
  },
} as const;
type Fruit = keyof typeof FAILING;

let server: DevServer;
let call: Call;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const ids = {} as Record<Fruit, string>;

beforeAll(async () => {
  // The browser first: a wrong SLUICE_CHROMIUM fails here, before the server starts.
  browser = await launchBrowser(await findBrowser());
  server = await startDevServer();
  call = adminCall(server);
  await deadLetterEveryFruit();
  context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  page = await context.newPage();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async ({ task }) => {
    if (!page || page.isClosed()) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    const name = task.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    await page.screenshot({ path: join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true });
  });
});

/** Sends the fruits, then receives and nacks each with its reasons until all are dead. */
async function deadLetterEveryFruit() {
  const created = await call("PUT", `/v1/queues/${QUEUE}`, {
    maxAttempts: 2,
    ordering: "unordered",
    retry: { initialDelay: 0, jitter: false },
  });
  expect(created.status).toBe(201);
  const fruits = Object.keys(FAILING) as Fruit[];
  const sent = await call<{ messages: Array<{ id: string }> }>(
    "POST",
    `/v1/queues/${QUEUE}/messages`,
    {
      messages: fruits.map((fruit) => ({
        body: FAILING[fruit].body,
        headers: { "x-fruit": fruit },
      })),
    },
  );
  expect(sent.status).toBe(201);
  fruits.forEach((fruit, i) => {
    ids[fruit] = sent.body.messages[i].id;
  });

  for (let round = 0; round < 2 * fruits.length; round++) {
    const received = await call<{
      messages: Array<{ id: string; receipt: string; attempts: number }>;
    }>("POST", `/v1/queues/${QUEUE}/receive`, { max: 10 });
    expect(received.status).toBe(200);
    if (received.body.messages.length === 0) break;
    for (const message of received.body.messages) {
      const fruit = fruits.find((f) => ids[f] === message.id) as Fruit;
      const nacked = await call("POST", `/v1/queues/${QUEUE}/nack`, {
        receipts: [message.receipt],
        reason: FAILING[fruit].reasons[message.attempts - 1],
        delaySeconds: 0,
      });
      expect(nacked.status).toBe(200);
    }
  }
  const dead = await call<{ messages: Array<{ id: string }> }>(
    "GET",
    `/v1/queues/${QUEUE}/dlq?limit=10`,
  );
  expect(dead.body.messages.map((m) => m.id).sort()).toEqual(Object.values(ids).sort());
}

/** The UI and the Worker answer in their own time; give them longer than expect.poll's 1 s. */
function eventually<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 15_000 });
}

function rows(): Locator {
  return page.locator("table.dead-letter-table tbody tr");
}

async function filter(fields: { reason?: string; text?: string; range?: string }) {
  await page.getByLabel("Failure reason contains").fill(fields.reason ?? "");
  await page.getByLabel("Body contains").fill(fields.text ?? "");
  await page.getByLabel("Died").selectOption(fields.range ?? "");
  await page.getByRole("button", { name: "Apply filters" }).click();
}

function rowOf(fruit: Fruit): Locator {
  return rows().filter({ has: page.locator(`[data-message-id="${ids[fruit]}"]`) });
}

describe("dashboard against a real Worker", () => {
  it("refuses a wrong token clearly, then signs in with the admin token", async () => {
    await page.goto(`${server.url}/`);
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await eventually(() => page.getByRole("alert").textContent()).toContain(
      "That token was not accepted.",
    );

    await page.getByLabel("API token").fill(server.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("link", { name: QUEUE, exact: true }).waitFor();
  });

  it("finds the queue and opens its dead letters", async () => {
    const queueRow = page
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name: QUEUE, exact: true }) });
    await eventually(() =>
      queueRow.getByRole("link", { name: `3 dead letters in ${QUEUE}` }).count(),
    ).toBe(1);
    await page.getByRole("link", { name: QUEUE, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: QUEUE }).waitFor();
    await page.getByRole("link", { name: "Dead letters (3)" }).click();
    await page.getByRole("heading", { level: 1, name: `Dead letters ${QUEUE}` }).waitFor();
    await eventually(() => rows().count()).toBe(3);
  });

  it("filters by failure reason, by body text and by time", async () => {
    await filter({ reason: "CARD DECLINED" });
    await eventually(() => rows().count()).toBe(1);
    await eventually(() => rowOf("banana").count()).toBe(1);

    await filter({ text: "cherry" });
    await eventually(() => rows().count()).toBe(1);
    await eventually(() => rowOf("cherry").count()).toBe(1);

    await filter({ reason: "warehouse", range: "1h" });
    await eventually(() => rows().count()).toBe(1);
    await eventually(() => rowOf("apple").count()).toBe(1);
    expect(page.url()).toContain("reason=warehouse&range=1h");
  });

  it("shows a dead letter's body and the reason each attempt failed", async () => {
    await page.locator(`[data-message-id="${ids.apple}"]`).click();
    const detail = page.getByRole("region", { name: `Dead letter ${ids.apple}` });
    const timeline = detail.getByRole("list", { name: "Attempt timeline" });
    await eventually(() => timeline.getByRole("listitem").allTextContents()).toEqual([
      expect.stringMatching(/^Sent/),
      expect.stringMatching(/^Attempt 1 failed nack.*warehouse API timed out$/),
      expect.stringMatching(/^Attempt 2 failed nack.*warehouse API answered 503$/),
      expect.stringMatching(/^Dead-lettered after 2 attempts/),
    ]);
    expect(await detail.locator("pre").textContent()).toBe('{\n  "order": 1,\n  "sku": "apple"\n}');
    expect(await detail.getByRole("row", { name: "x-fruit apple" }).count()).toBe(1);
  });

  it("redrives it: the row leaves the table and the message is back in the queue", async () => {
    await page
      .getByRole("region", { name: `Dead letter ${ids.apple}` })
      .getByRole("button", { name: "Redrive" })
      .click();
    const dialog = page.getByRole("dialog", { name: "Redrive 1 dead letter?" });
    await dialog.getByRole("button", { name: "Redrive" }).click();
    await eventually(() => page.getByRole("status").textContent()).toContain(
      `Redrove 1 message to ${QUEUE}.`,
    );
    await page.getByRole("heading", { name: "No dead letters match these filters" }).waitFor();

    const waiting = await call<{ messages: Array<{ body: unknown }> }>(
      "GET",
      `/v1/queues/${QUEUE}/messages?limit=10`,
    );
    expect(waiting.body.messages.map((m) => m.body)).toEqual([FAILING.apple.body]);
    expect((await call("GET", `/v1/queues/${QUEUE}/dlq/${ids.apple}`)).status).toBe(404);
  });

  it("deletes a selected dead letter after confirmation", async () => {
    await page.getByRole("button", { name: "Clear" }).click();
    await eventually(() => rows().count()).toBe(2);
    await page.getByRole("checkbox", { name: `Select dead letter ${ids.cherry}` }).check();
    await page.getByRole("button", { name: "Delete selected" }).click();
    await page
      .getByRole("dialog", { name: "Delete 1 dead letter?" })
      .getByRole("button", { name: "Delete" })
      .click();
    await eventually(() => page.getByRole("status").textContent()).toContain(
      "Deleted 1 dead letter.",
    );
    await eventually(() => rows().count()).toBe(1);
    expect(await rowOf("banana").count()).toBe(1);
    expect((await call("GET", `/v1/queues/${QUEUE}/dlq/${ids.cherry}`)).status).toBe(404);
  });

  it("exports the filtered dead letters as an NDJSON download", async () => {
    await filter({ reason: "declined" });
    await eventually(() => rows().count()).toBe(1);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export NDJSON" }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^e2e-orders-dead-letters-.+\.ndjson$/);
    const text = readFileSync(await download.path(), "utf8");
    const lines = text.split("\n");
    expect(lines.at(-1)).toBe("");
    const messages = lines.slice(0, -1).map((line) => JSON.parse(line));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      id: ids.banana,
      queue: QUEUE,
      body: FAILING.banana.body,
      attempts: 2,
      failures: FAILING.banana.reasons.map((reason, i) => ({ attempt: i + 1, reason, by: "nack" })),
    });
  });
});
