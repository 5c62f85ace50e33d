/**
 * The dashboard's security headers on what Workers Static Assets serves without the Worker
 * (a page's route, its script), from the `_headers` file the build writes, and on `GET /`,
 * which the Worker serves itself (worker/dashboard-headers.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_HEADERS } from "../../worker/dashboard-headers.ts";
import { type DevServer, startDevServer } from "./support/dev-server.ts";

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});

afterAll(async () => {
  await server?.stop();
});

describe("finding 12: the dashboard's headers as served", () => {
  it("finding 12: the page, a client-side route and the page's script all carry the dashboard's headers", async () => {
    const page = await fetch(`${server.url}/`);
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    for (const path of ["/", "/queues/orders", script as string]) {
      const response = await fetch(`${server.url}${path}`);
      await response.arrayBuffer();
      expect(response.status, path).toBe(200);
      for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) {
        expect(response.headers.get(name), `${path} ${name}`).toBe(value);
      }
    }
  });
});
