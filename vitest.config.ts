import { cloudflareTest } from "@cloudflare/vitest-plugin";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Three projects: code that runs in workerd (router, objects, SDK) is tested inside workerd
// with real SQLite storage and alarms; dashboard components in happy-dom; end-to-end runs
// (a real Worker process, a real browser, killed runtimes) from Node.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                // Deployed-like: a full-length admin token and a seal key, no SLUICE_ENV
                // (core/deployment.ts); tests of local development set it per request.
                SLUICE_ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
                SLUICE_SEAL_KEY: "test-seal-key-0123456789abcdef0123",
                // Push signing keys (test/durable-objects/push.test.ts): "next" signs.
                SLUICE_PUSH_SIGNING_KEYS: JSON.stringify({
                  previous: "previous-push-signing-secret",
                  next: "next-push-signing-secret",
                }),
                SLUICE_PUSH_KEY_ID: "next",
              },
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          exclude: ["test/dashboard/**", "test/e2e/**"],
          testTimeout: 30_000,
        },
      },
      {
        plugins: [react()],
        test: {
          name: "dashboard",
          include: ["test/dashboard/**/*.test.tsx"],
          environment: "happy-dom",
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
