// Apply the audit log's D1 migrations (migrations/) before each test file, as `npm run dev` does.
// applyD1Migrations records what it applied, so running it again is a no-op.
import { applyD1Migrations, type D1Migration } from "cloudflare:test";
import { env } from "cloudflare:workers";

await applyD1Migrations(env.AUDIT_DB, (env as unknown as { TEST_AUDIT_MIGRATIONS: D1Migration[] }).TEST_AUDIT_MIGRATIONS);
