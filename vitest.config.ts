import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Tests run inside workerd: the gateway is the main worker (wrangler.toml's top level), and the
// example origins run as real auxiliary workers that its CHAT and VOICE bindings reach by name.
// The audit log's D1 migrations, applied by test/setup/d1.ts before each test file (as `npm run dev`
// applies them with `wrangler d1 migrations apply`).
const auditMigrations = await readD1Migrations("./migrations");

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
          // Session tokens: a test issuer whose JWKS the jwks-server worker serves; no PEM key, so
          // the default test config verifies against the JWKS over HTTP.
          CLERK_ISSUER: "https://clerk.agntix.test",
          CLERK_JWKS_URL: "",
          CLERK_AUTHORIZED_PARTIES: "https://app.agntix.test,http://localhost:3000",
          CLERK_JWT_KEY: "",
          TEST_AUDIT_MIGRATIONS: auditMigrations,
        },
        // The gateway's (and the tests') outbound fetch goes to the stand-in IdP: no network.
        outboundService: "jwks-server",
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
          {
            name: "jwks-server",
            modules: true,
            scriptPath: "./test/fixtures/jwks-server.js",
            compatibilityDate: "2026-11-01",
          },
        ],
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup/d1.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
