import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig, defineProject } from "vitest/config";

// Two projects. "workers": the gateway's tests run inside workerd: the gateway is the main worker
// (wrangler.toml's top level), and the example origins run as real auxiliary workers that its CHAT
// and VOICE bindings reach by name. "node" (test/node/): the operator tooling as operators run it
// (the CLIs as processes, the smoke script against `wrangler dev`), typed by tsconfig.node.json.
const TEST_PEPPER = "test-pepper-0123456789abcdef0123456789abcdef";
// wrangler reads required secrets (wrangler.toml [secrets]) from process.env when there is no
// .dev.vars; the value is the one the tests bind below.
process.env["API_KEY_PEPPER"] ??= TEST_PEPPER;

// The audit log's D1 migrations, applied by test/setup/d1.ts before each test file (as `npm run dev`
// applies them with `wrangler d1 migrations apply`).
const auditMigrations = await readD1Migrations("./migrations");

// `npm run chaos` (scripts/chaos.mjs) runs only the long chaos run, its arguments passed as a binding.
const chaosArgs = process.env["CHAOS_ARGS"];

const workers = defineProject({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          API_KEY_PEPPER: TEST_PEPPER,
          ORIGIN_TIMEOUT_MS: "1500",
          MAX_BODY_BYTES: "65536",
          CORS_ALLOWED_ORIGINS: "https://app.agntix.test,http://localhost:3000",
          // Session tokens: a test issuer whose JWKS the jwks-server worker serves; no PEM key, so
          // the default test config verifies against the JWKS over HTTP.
          CLERK_ISSUER: "https://clerk.agntix.test",
          CLERK_JWKS_URL: "",
          CLERK_AUTHORIZED_PARTIES: "https://app.agntix.test,http://localhost:3000",
          CLERK_JWT_KEY: "",
          // The dashboard's development sign-in is off by default here, so that a test may switch
          // ENVIRONMENT to staging or production; its own tests turn it on.
          DASHBOARD_DEV_SIGN_IN_KEY: "",
          TEST_AUDIT_MIGRATIONS: auditMigrations,
          ...(chaosArgs ? { CHAOS_ARGS: chaosArgs } : {}),
        },
        // Test-only Rate Limiting bindings with small limits: the rate-limit tests point a config at
        // them (test/integration/rate-limits.test.ts); wrangler.toml's own bindings stay as deployed.
        ratelimits: {
          RL_TEST_SMALL: { namespace_id: "9001", simple: { limit: 2, period: 60 } },
          RL_TEST_STANDARD: { namespace_id: "9002", simple: { limit: 3, period: 60 } },
          RL_TEST_LARGE: { namespace_id: "9003", simple: { limit: 10, period: 60 } },
          RL_TEST_ORGANIZATION: { namespace_id: "9004", simple: { limit: 5, period: 60 } },
          RL_TEST_ORGANIZATION_SESSIONS: { namespace_id: "9005", simple: { limit: 4, period: 60 } },
          RL_TEST_KEY_API: { namespace_id: "9006", simple: { limit: 6, period: 60 } },
          RL_TEST_KEY_CREATION: { namespace_id: "9007", simple: { limit: 2, period: 60 } },
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
    name: "workers",
    include: chaosArgs ? ["test/chaos/long-run.chaos.ts"] : ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/chaos/**/*.test.ts"],
    setupFiles: ["./test/setup/d1.ts"],
    ...(chaosArgs ? { testTimeout: 6 * 3600_000 } : {}),
  },
});

const node = defineProject({
  test: {
    name: "node",
    include: ["test/node/**/*.test.ts"],
    environment: "node",
    // These start processes (tsx, wrangler): generous, since up to eight engineers share two cores.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});

export default defineConfig({
  test: {
    projects: chaosArgs ? [workers] : [workers, node],
    // The access log writes a line per request (it stays on, as deployed); its lines are not echoed.
    onConsoleLog: (log) => !log.startsWith('{"event":"access"'),
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
