/**
 * The dashboard keeps an admin token in sessionStorage, so its pages are served with a
 * Content-Security-Policy that runs only the dashboard's own scripts and styles, may not be
 * framed (frame-ancestors 'none'), and with X-Content-Type-Options: nosniff.
 */
import { describe, expect, it } from "vitest";
import { DASHBOARD_HEADERS, headersFile } from "../../worker/dashboard-headers.ts";
import { fetchWithEnv, ORIGIN } from "../worker/api.ts";

const PAGE =
  '<!doctype html><html><head><script type="module" src="/assets/index.js"></script></head></html>';

/** The static assets as the Worker sees them through its ASSETS binding: one HTML page. */
const assets = {
  fetch: async () => new Response(PAGE, { headers: { "Content-Type": "text/html" } }),
} as unknown as Fetcher;

describe("finding 12: the dashboard's response headers", () => {
  it("finding 12: the dashboard page the Worker serves carries a CSP, frame-ancestors 'none' and nosniff", async () => {
    const response = await fetchWithEnv(new Request(`${ORIGIN}/`), { ASSETS: assets });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(PAGE);
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).toContain("default-src 'none'");
    expect(policy).not.toContain("unsafe-inline");
    expect(policy).not.toContain("unsafe-eval");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });

  it("finding 12: the same headers go to every static asset through the build's _headers file", () => {
    const [pattern, ...lines] = headersFile().trimEnd().split("\n");
    expect(pattern).toBe("/*");
    expect(
      Object.fromEntries(
        lines.map((line) =>
          line
            .trim()
            .split(/: (.*)/s)
            .slice(0, 2),
        ),
      ),
    ).toEqual(DASHBOARD_HEADERS);
  });
});
