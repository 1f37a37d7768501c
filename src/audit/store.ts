/**
 * All D1 I/O of the audit log (`AUDIT_DB`). Schema: `migrations/0001_audit_events.sql`, applied by
 * `wrangler d1 migrations apply` (`npm run dev` locally, the deploy runbook remotely) and by the
 * tests' setup. Every D1 failure becomes 503 `audit_unavailable`: a key-management change whose
 * audit row cannot be written is not made.
 */
import { GatewayError } from "../errors";
import { noteDependency } from "../observability/seen";

/** One audit row as stored: times in epoch ms, JSON columns as text (or null). */
export interface AuditRow {
  readonly id: string;
  readonly at: number;
  readonly org_id: string;
  readonly action: string;
  readonly actor_method: string;
  readonly actor_id: string;
  readonly key_id: string | null;
  readonly before_json: string | null;
  readonly after_json: string | null;
  readonly detail_json: string | null;
  readonly request_id: string | null;
  readonly client_ip: string | null;
  readonly user_agent: string | null;
}

/** A position in the newest-first order: the last row a page returned. */
export interface AuditPosition {
  readonly at: number;
  readonly id: string;
}

/** Rows deleted per statement by the retention purge (D1 bounds a statement's work). */
export const PURGE_BATCH_ROWS = 5000;
/** Statements per purge run: bounds one cron invocation (a backlog is finished by the next runs). */
export const PURGE_MAX_BATCHES = 40;

const COLUMNS = "id, at, org_id, action, actor_method, actor_id, key_id, before_json, after_json, detail_json, request_id, client_ip, user_agent";
const INSERT = `INSERT INTO audit_events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

function unavailable(cause: unknown): GatewayError {
  return new GatewayError("audit_unavailable", { detail: "The audit log is unavailable, so no change was made; retry shortly.", cause });
}

async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    const value = await operation();
    noteDependency("audit", true);
    return value;
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    noteDependency("audit", false);
    throw unavailable(cause);
  }
}

/** The audit log over one D1 database. */
export class AuditStore {
  constructor(readonly db: D1Database) {}

  /** Whether the database answers and holds the schema (`/readyz`). Throws `audit_unavailable` otherwise. */
  ping(): Promise<boolean> {
    return io(async () => {
      await this.db.prepare("SELECT 1 FROM audit_events LIMIT 1").all();
      return true;
    });
  }

  /** Write rows, all or none (one D1 batch is one transaction). */
  insert(rows: readonly AuditRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return io(async () => {
      const statement = this.db.prepare(INSERT);
      await this.db.batch(
        rows.map((r) =>
          statement.bind(
            r.id, r.at, r.org_id, r.action, r.actor_method, r.actor_id, r.key_id,
            r.before_json, r.after_json, r.detail_json, r.request_id, r.client_ip, r.user_agent,
          ),
        ),
      );
    });
  }

  /** Remove rows by id: takes back rows of a change that then failed. */
  remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return io(async () => {
      const statement = this.db.prepare("DELETE FROM audit_events WHERE id = ?");
      await this.db.batch(ids.map((id) => statement.bind(id)));
    });
  }

  /** Up to `limit` rows of an organisation (of one key, if given), newest first, after `after`. */
  page(orgId: string, options: { keyId?: string | undefined; after?: AuditPosition | undefined; limit: number }): Promise<AuditRow[]> {
    const where = ["org_id = ?"];
    const params: unknown[] = [orgId];
    if (options.keyId !== undefined) {
      where.push("key_id = ?");
      params.push(options.keyId);
    }
    if (options.after) {
      where.push("(at < ? OR (at = ? AND id < ?))");
      params.push(options.after.at, options.after.at, options.after.id);
    }
    const sql = `SELECT ${COLUMNS} FROM audit_events WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT ?`;
    return io(async () => {
      const result = await this.db.prepare(sql).bind(...params, options.limit).all<AuditRow>();
      return result.results;
    });
  }

  /** Delete rows recorded before `before` (epoch ms), in bounded batches; returns how many went. */
  purge(before: number): Promise<number> {
    return io(async () => {
      const statement = this.db.prepare(
        "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?)",
      );
      let deleted = 0;
      for (let i = 0; i < PURGE_MAX_BATCHES; i++) {
        const result = await statement.bind(before, PURGE_BATCH_ROWS).run();
        const changes = result.meta.changes ?? 0;
        deleted += changes;
        if (changes < PURGE_BATCH_ROWS) break;
      }
      return deleted;
    });
  }
}
