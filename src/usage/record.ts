/**
 * The request path's side of usage: count in this isolate, and flush what is due behind the
 * response (`waitUntil`). No I/O happens before the response; a busy key flushes once a minute.
 */
import type { Principal } from "../auth/principal";
import type { Bindings } from "../env";
import { GatewayError } from "../errors";
import { type UsageBatch, UsageCounter, type UsageOutcome } from "./counter";
import { UsageStore } from "./store";

/** This isolate's counts. */
export const usageCounter = new UsageCounter();

/** Count one request of an API key; flushes due counts in `waitUntil`. */
export function countUse(
  env: Bindings,
  ctx: Pick<ExecutionContext, "waitUntil">,
  principal: Principal,
  outcome: UsageOutcome,
  scopes: readonly string[],
  now = Date.now(),
): void {
  const due = usageCounter.count(principal.orgId, principal.subject, outcome, scopes, now);
  if (due.length > 0) ctx.waitUntil(flush(env, due));
}

async function flush(env: Bindings, batches: readonly UsageBatch[]): Promise<void> {
  const store = new UsageStore(env.USAGE);
  await Promise.all(
    batches.map(async (batch) => {
      try {
        await store.record(batch.orgId, batch.rows);
      } catch (cause) {
        // Kept for the key's next flush; only counts of a key pushed out of the isolate are lost.
        usageCounter.restore(batch);
        const kind = cause instanceof GatewayError ? cause.code : "unknown";
        console.warn(JSON.stringify({ level: "warn", event: "usage_flush_failed", org_id: batch.orgId, keys: batch.rows.length, cause: kind }));
      }
    }),
  );
}
