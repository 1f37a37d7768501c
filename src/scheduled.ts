/**
 * The Cron Trigger (`[triggers] crons` in wrangler.toml): daily upkeep that no request waits for.
 * Today: purge audit rows older than the 180-day retention.
 */
import { AUDIT_RETENTION_MS } from "./audit/log";
import { AuditStore } from "./audit/store";
import type { Bindings } from "./env";

/** The worker's `scheduled` handler. A failure is logged and rethrown, so the run shows as failed. */
export async function scheduled(controller: Pick<ScheduledController, "scheduledTime">, env: Bindings): Promise<void> {
  const before = controller.scheduledTime - AUDIT_RETENTION_MS;
  try {
    const rows = await new AuditStore(env.AUDIT_DB).purge(before);
    console.log(JSON.stringify({ level: "info", event: "audit_purged", rows, before: new Date(before).toISOString() }));
  } catch (cause) {
    console.error(JSON.stringify({ level: "error", event: "audit_purge_failed", cause: cause instanceof Error ? cause.name : typeof cause }));
    throw cause;
  }
}
