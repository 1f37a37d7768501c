import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Tests run inside workerd: the gateway is the main worker (wrangler.toml's top level), and the
// example origins run as real auxiliary workers that its CHAT and VOICE bindings reach by name.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          API_KEY_PEPPER: "test-pepper-0123456789abcdef0123456789abcdef",
          ORIGIN_TIMEOUT_MS: "1500",
          MAX_BODY_BYTES: "65536",
          CORS_ALLOWED_ORIGINS: "https://app.agntix.test,http://localhost:3000",
        },
        workers: [
          {
            name: "agntix-chat-origin",
            modules: true,
            scriptPath: "./examples/origins/echo.js",
            compatibilityDate: "2026-11-01",
            bindings: { SERVICE: "chat" },
          },
          {
            name: "agntix-voice-origin",
            modules: true,
            scriptPath: "./examples/origins/echo.js",
            compatibilityDate: "2026-11-01",
            bindings: { SERVICE: "voice" },
          },
        ],
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
  },
});
