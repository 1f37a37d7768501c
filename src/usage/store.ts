/**
 * All Durable Object I/O of usage: the `USAGE` namespace, one `UsageLedger` per organisation. Every
 * failure becomes 503 `usage_unavailable`. Request-path code never calls this except to flush,
 * and only inside `waitUntil`.
 */
import { GatewayError } from "../errors";
import type { UsageRow } from "./counter";
import type { UsageLedger, UsagePoint, UsageSummary } from "./ledger";

function unavailable(cause: unknown): GatewayError {
  return new GatewayError("usage_unavailable", { detail: "Usage figures are unavailable; retry shortly.", cause });
}

async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (cause) {
    throw cause instanceof GatewayError ? cause : unavailable(cause);
  }
}

/** Usage of every organisation, one ledger each. */
export class UsageStore {
  constructor(readonly namespace: DurableObjectNamespace<UsageLedger>) {}

  #ledger(orgId: string) {
    return this.namespace.get(this.namespace.idFromName(orgId));
  }

  /** Add counts to the organisation's ledger. */
  record(orgId: string, rows: readonly UsageRow[]): Promise<void> {
    return io(async () => {
      await this.#ledger(orgId).record([...rows]);
    });
  }

  /** Requests of each key since `since` (0 for keys without any). */
  totals(orgId: string, keyIds: readonly string[], since: number): Promise<Map<string, number>> {
    return io(async () => {
      const found: Record<string, number> = keyIds.length ? await this.#ledger(orgId).totals([...keyIds], since) : {};
      return new Map(keyIds.map((id) => [id, found[id] ?? 0]));
    });
  }

  /** One key's requests and exercised scopes since `since`. */
  summary(orgId: string, keyId: string, since: number): Promise<UsageSummary> {
    return io(async () => {
      const s = await this.#ledger(orgId).summary(keyId, since);
      return { requests: s.requests, scopes: [...s.scopes] };
    });
  }

  /** One key's hours with requests in [from, to), oldest first. */
  series(orgId: string, keyId: string, from: number, to: number): Promise<UsagePoint[]> {
    return io(async () => (await this.#ledger(orgId).series(keyId, from, to)).map((p) => ({ ...p, scopes: { ...p.scopes } })));
  }
}
