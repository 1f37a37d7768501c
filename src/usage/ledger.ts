/**
 * `UsageLedger`: one Durable Object per organisation (`USAGE.idFromName(org_id)`), with SQLite
 * storage, holding its keys' hourly usage. Only `src/usage/store.ts` calls it. Its schema is
 * migrated in the constructor (`MIGRATIONS`, applied in order, recorded in `schema_migrations`).
 */
import { DurableObject } from "cloudflare:workers";
import type { UsageRow } from "./counter";

/** How long hourly rows are kept: 90 days (the stale flag and the 30-day figures need less). */
export const USAGE_RETENTION_MS = 90 * 24 * 3_600_000;
const DAY_MS = 24 * 3_600_000;

/** The ledger's SQL schema, one entry per version. Append; never edit an applied one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usage_hourly (
     key_id TEXT NOT NULL, hour INTEGER NOT NULL,
     allowed INTEGER NOT NULL DEFAULT 0, refused_scope INTEGER NOT NULL DEFAULT 0, rate_limited INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (key_id, hour)
   ) WITHOUT ROWID;
   CREATE TABLE usage_scopes (
     key_id TEXT NOT NULL, hour INTEGER NOT NULL, scope TEXT NOT NULL, count INTEGER NOT NULL,
     PRIMARY KEY (key_id, hour, scope)
   ) WITHOUT ROWID;
   CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
   CREATE INDEX usage_scopes_hour ON usage_scopes (hour);`,
];

/** One hour of one key, as `series` returns it. */
export interface UsagePoint {
  readonly hour: number;
  readonly allowed: number;
  readonly refused_scope: number;
  readonly rate_limited: number;
  readonly scopes: Record<string, number>;
}

/** A key's usage since a time: all requests, and the scopes its allowed requests exercised. */
export interface UsageSummary {
  readonly requests: number;
  readonly scopes: string[];
}

/** The hourly usage of one organisation's keys. */
export class UsageLedger extends DurableObject {
  #purgedAt = Number.NEGATIVE_INFINITY;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
    const applied = sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations").one().v ?? 0;
    ctx.storage.transactionSync(() => {
      for (let version = applied + 1; version <= MIGRATIONS.length; version++) {
        sql.exec(MIGRATIONS[version - 1]!);
        sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", version);
      }
    });
  }

  /** Add counts (one transaction); purges rows past retention at most once a day. */
  record(rows: readonly UsageRow[], now: number = Date.now()): void {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const r of rows) {
        sql.exec(
          `INSERT INTO usage_hourly (key_id, hour, allowed, refused_scope, rate_limited) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (key_id, hour) DO UPDATE SET allowed = allowed + excluded.allowed,
             refused_scope = refused_scope + excluded.refused_scope, rate_limited = rate_limited + excluded.rate_limited`,
          r.key_id, r.hour, r.allowed, r.refused_scope, r.rate_limited,
        );
        for (const [scope, count] of Object.entries(r.scopes)) {
          sql.exec(
            `INSERT INTO usage_scopes (key_id, hour, scope, count) VALUES (?, ?, ?, ?)
             ON CONFLICT (key_id, hour, scope) DO UPDATE SET count = count + excluded.count`,
            r.key_id, r.hour, scope, count,
          );
        }
      }
      if (now - this.#purgedAt >= DAY_MS) {
        this.#purgedAt = now;
        sql.exec("DELETE FROM usage_hourly WHERE hour < ?", now - USAGE_RETENTION_MS);
        sql.exec("DELETE FROM usage_scopes WHERE hour < ?", now - USAGE_RETENTION_MS);
      }
    });
  }

  /** Requests of each key since `since` (epoch ms); keys without any are absent. */
  totals(keyIds: readonly string[], since: number): Record<string, number> {
    const out: Record<string, number> = {};
    const cursor = this.ctx.storage.sql.exec<{ key_id: string; n: number }>(
      `SELECT key_id, SUM(allowed + refused_scope + rate_limited) AS n FROM usage_hourly
       WHERE key_id IN (SELECT value FROM json_each(?)) AND hour >= ? GROUP BY key_id`,
      JSON.stringify(keyIds), since,
    );
    for (const row of cursor) out[row.key_id] = row.n;
    return out;
  }

  /** One key's requests and exercised scopes since `since`. */
  summary(keyId: string, since: number): UsageSummary {
    const sql = this.ctx.storage.sql;
    const requests =
      sql.exec<{ n: number | null }>(
        "SELECT SUM(allowed + refused_scope + rate_limited) AS n FROM usage_hourly WHERE key_id = ? AND hour >= ?",
        keyId, since,
      ).one().n ?? 0;
    const scopes = [
      ...sql.exec<{ scope: string }>(
        "SELECT DISTINCT scope FROM usage_scopes WHERE key_id = ? AND hour >= ? AND count > 0 ORDER BY scope",
        keyId, since,
      ),
    ].map((r) => r.scope);
    return { requests, scopes };
  }

  /** One key's hours with any request in [from, to), oldest first. */
  series(keyId: string, from: number, to: number): UsagePoint[] {
    const sql = this.ctx.storage.sql;
    const points = new Map<number, UsagePoint>();
    for (const r of sql.exec<{ hour: number; allowed: number; refused_scope: number; rate_limited: number }>(
      "SELECT hour, allowed, refused_scope, rate_limited FROM usage_hourly WHERE key_id = ? AND hour >= ? AND hour < ? ORDER BY hour",
      keyId, from, to,
    )) {
      points.set(r.hour, { hour: r.hour, allowed: r.allowed, refused_scope: r.refused_scope, rate_limited: r.rate_limited, scopes: {} });
    }
    for (const r of sql.exec<{ hour: number; scope: string; count: number }>(
      "SELECT hour, scope, count FROM usage_scopes WHERE key_id = ? AND hour >= ? AND hour < ?",
      keyId, from, to,
    )) {
      const point = points.get(r.hour);
      if (point) point.scopes[r.scope] = r.count;
    }
    return [...points.values()];
  }
}
