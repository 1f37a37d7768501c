/**
 * Per-key usage counted in the isolate: requests by outcome and the scopes each allowed request
 * exercised, per hour. Counting is memory only; a key's counts are handed back for a flush (which
 * the caller runs behind the response) on its first use and then at most once per
 * `USAGE_FLUSH_INTERVAL_MS`, so a busy key costs one Durable Object call per minute per isolate.
 */

/** What became of a request made with a key. */
export type UsageOutcome = "allowed" | "refused_scope" | "rate_limited";

/** One key's counts for one hour. `hour` is the hour's start, epoch ms. */
export interface UsageRow {
  readonly key_id: string;
  readonly hour: number;
  allowed: number;
  refused_scope: number;
  rate_limited: number;
  /** Allowed requests per scope exercised (the route's required scope). */
  readonly scopes: Record<string, number>;
}

/** Counts of one organisation to write together. */
export interface UsageBatch {
  readonly orgId: string;
  readonly rows: UsageRow[];
}

/** Shortest time between two flushes of one key from one isolate. */
export const USAGE_FLUSH_INTERVAL_MS = 60_000;
/** Keys whose flush time an isolate remembers; the least recently flushed is flushed out first. */
export const USAGE_MAX_KEYS = 10_000;

const HOUR_MS = 3_600_000;
/** The start of the hour `ms` falls in. */
export const hourOf = (ms: number) => ms - (ms % HOUR_MS);

interface KeyUsage {
  readonly orgId: string;
  readonly keyId: string;
  lastFlushAt: number;
  /** Pending rows by hour (rarely more than one). */
  rows: Map<number, UsageRow>;
}

/** The isolate's usage counts. */
export class UsageCounter {
  readonly #keys = new Map<string, KeyUsage>();

  constructor(
    readonly flushIntervalMs = USAGE_FLUSH_INTERVAL_MS,
    readonly maxKeys = USAGE_MAX_KEYS,
  ) {}

  /**
   * Count one request of `keyId`; returns the batches now due for a flush (usually none): this
   * key's counts on its first use and once per interval, and those of a key pushed out by the cap.
   */
  count(orgId: string, keyId: string, outcome: UsageOutcome, scopes: readonly string[], now: number): UsageBatch[] {
    let usage = this.#keys.get(keyId);
    const due: UsageBatch[] = [];
    if (!usage) {
      usage = { orgId, keyId, lastFlushAt: Number.NEGATIVE_INFINITY, rows: new Map() };
      this.#keys.set(keyId, usage);
      if (this.#keys.size > this.maxKeys) {
        const oldest = this.#keys.values().next().value!;
        this.#keys.delete(oldest.keyId);
        if (oldest.rows.size > 0) due.push({ orgId: oldest.orgId, rows: [...oldest.rows.values()] });
      }
    }
    const hour = hourOf(now);
    let row = usage.rows.get(hour);
    if (!row) {
      row = { key_id: keyId, hour, allowed: 0, refused_scope: 0, rate_limited: 0, scopes: {} };
      usage.rows.set(hour, row);
    }
    row[outcome]++;
    if (outcome === "allowed") for (const scope of scopes) row.scopes[scope] = (row.scopes[scope] ?? 0) + 1;
    if (now - usage.lastFlushAt >= this.flushIntervalMs) {
      usage.lastFlushAt = now;
      // Re-inserted last: the map's first entry is the least recently flushed key.
      this.#keys.delete(keyId);
      this.#keys.set(keyId, usage);
      due.push({ orgId, rows: [...usage.rows.values()] });
      usage.rows = new Map();
    }
    return due;
  }

  /** Put back the counts of a flush that failed, to go with the key's next one. */
  restore(batch: UsageBatch): void {
    for (const failed of batch.rows) {
      const usage = this.#keys.get(failed.key_id);
      if (!usage) continue; // pushed out meanwhile: those counts are lost (logged by the caller)
      const row = usage.rows.get(failed.hour);
      if (!row) {
        usage.rows.set(failed.hour, failed);
        continue;
      }
      row.allowed += failed.allowed;
      row.refused_scope += failed.refused_scope;
      row.rate_limited += failed.rate_limited;
      for (const [scope, n] of Object.entries(failed.scopes)) row.scopes[scope] = (row.scopes[scope] ?? 0) + n;
    }
  }

  /** Keys tracked (tests). */
  get size(): number {
    return this.#keys.size;
  }

  /** Forget everything (tests). */
  clear(): void {
    this.#keys.clear();
  }
}
