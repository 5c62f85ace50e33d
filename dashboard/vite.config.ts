import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";
import { headersFile } from "../worker/dashboard-headers.ts";

/** Writes Workers Static Assets' `_headers` file: the dashboard's security headers on every asset. */
const securityHeaders: Plugin = {
  name: "sluice-security-headers",
  apply: "build",
  generateBundle() {
    this.emitFile({ type: "asset", fileName: "_headers", source: headersFile() });
  },
};

// Built into dashboard/dist, which wrangler.toml's [assets] serves next to the API.
// `vite --config dashboard/vite.config.ts` serves it with hot reload against a running
// `wrangler dev` on :8787.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [react(), securityHeaders],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    proxy: { "/v1": "http://127.0.0.1:8787", "/health": "http://127.0.0.1:8787" },
  },
});
