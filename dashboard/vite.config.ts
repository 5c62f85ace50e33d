import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into dashboard/dist, which wrangler.toml's [assets] serves next to the API.
// `vite --config dashboard/vite.config.ts` serves it with hot reload against a running
// `wrangler dev` on :8787.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    proxy: { "/v1": "http://127.0.0.1:8787", "/health": "http://127.0.0.1:8787" },
  },
});
