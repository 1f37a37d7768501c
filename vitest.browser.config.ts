import { defineConfig } from "vitest/config";

// The dashboard page in a real browser: headless Chromium (from @sparticuz/chromium, driven by
// playwright-core) against a running gateway (`wrangler dev` with the built assets, the example
// origins and a fresh local KV), started once by test/browser/global-setup.ts. Runs in Node,
// after the workerd suite (`npm test`).
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/browser/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
