/**
 * The response headers of the dashboard. It keeps an admin token in sessionStorage, so its
 * pages run only the dashboard's own scripts and styles (the Vite build has no inline script
 * or style, and its one image is the data: icon), talk only to this origin, cannot be framed
 * (clickjacking) and are never sniffed as another content type.
 *
 * Two ways out, one source: the Worker sets them on `GET /`, which it serves itself
 * (worker/index.ts), and the dashboard's build writes them into the `_headers` file of
 * Workers Static Assets for every other asset (dashboard/vite.config.ts).
 */
export const DASHBOARD_HEADERS: Record<string, string> = {
  "Content-Security-Policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "same-origin",
};

/** The `_headers` file: every header above on every asset. */
export function headersFile(): string {
  const lines = Object.entries(DASHBOARD_HEADERS).map(([name, value]) => `  ${name}: ${value}`);
  return `/*\n${lines.join("\n")}\n`;
}

/** The asset's answer with the dashboard's headers set. */
export function withDashboardHeaders(response: Response): Response {
  const secured = new Response(response.body, response);
  for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) secured.headers.set(name, value);
  return secured;
}
