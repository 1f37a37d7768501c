/**
 * The revocation log: one Durable Object (SQLite storage) that every revocation is appended to
 * and every location polls. Strongly consistent: an append that returned is seen by every later
 * `since`. Its load is one `since` per location per poll interval plus one `append` per
 * revocation call — it never grows with requests or isolates (docs/api-keys.md).
 *
 * Only `src/revocation/log.ts` talks to it.
 */
import { DurableObject } from "cloudflare:workers";

/**
 * What is revoked: one key (by its lookup hash), every key an organisation had at `not_after`, or
 * a key's former grants (an edit: the key holds `grants` from `not_after` on).
 */
export type RevocationKind = "key" | "org" | "grants";

/** Why, for the record (`reason` column): which call revoked it. */
export type RevocationReason = "delete" | "rotate" | "leaked" | "org" | "edit";

/** One revocation to append. */
export interface RevocationInput {
  readonly kind: RevocationKind;
  /** Key hash (`kind` key) or organisation id (`kind` org). */
  readonly subject: string;
  /** Epoch ms from which the key (or the org's older keys) is refused; a rotation's grace end may lie ahead. */
  readonly not_after: number;
  /** `kind` grants: the key's grants from `not_after` on. */
  readonly grants?: readonly string[];
  readonly reason: RevocationReason;
  /** Key id (for the record; never sent to locations). */
  readonly key_id?: string;
  /** Who revoked it: `api_key:key_…`, `jwt:user_…`, `operator:name`, `anonymous:<ip hash>`. */
  readonly actor?: string;
}

/** One revocation as locations receive it. */
export interface FeedEntry {
  readonly seq: number;
  readonly kind: RevocationKind;
  readonly subject: string;
  readonly not_after: number;
  readonly grants?: readonly string[];
}

/** A page of the log after some sequence number. */
export interface FeedPage {
  readonly entries: FeedEntry[];
  /** Highest sequence number in the log (entries pruned or not). */
  readonly head: number;
  /** More entries after the last one returned. */
  readonly more: boolean;
}

/** Most entries one `since` returns. */
export const FEED_PAGE_MAX = 1000;
/** Most entries one `append` takes (the leaked-key endpoint's 1,000 keys). */
export const APPEND_MAX = 1000;

// Schema versions, applied in order on first use of a new object or after a deploy.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT OR IGNORE INTO meta (name, value) VALUES ('head', 0);
   CREATE TABLE IF NOT EXISTS revocations (
     seq       INTEGER PRIMARY KEY AUTOINCREMENT,
     kind      TEXT    NOT NULL,
     subject   TEXT    NOT NULL,
     not_after INTEGER NOT NULL,
     grants    TEXT,
     reason    TEXT    NOT NULL,
     key_id    TEXT,
     actor     TEXT,
     at        INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS revocations_not_after ON revocations (not_after);`,
  // `refusedFrom` looks a key up by its hash (and its organisation) after every edit and retirement.
  `CREATE INDEX IF NOT EXISTS revocations_subject ON revocations (subject, kind);`,
  // Appends by their caller's id: `seq` the last entry appended, or NULL when the caller asked
  // `appendOutcome` first (fenced: that append can no longer land).
  `CREATE TABLE IF NOT EXISTS appends (id TEXT PRIMARY KEY, seq INTEGER, at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS appends_at ON appends (at);`,
];

/** Longest append id (a UUID is 36). */
const APPEND_ID_MAX = 64;

/** The log's one instance, by name. */
export const REVOCATION_LOG_NAME = "global";

export class RevocationLog extends DurableObject {
  readonly #sql: SqlStorage;
  /** Stats since this instance started (bench, `/healthz` never calls it). */
  #calls = { append: 0, since: 0 };

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => this.#migrate());
  }

  #migrate(): void {
    this.#sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = this.#sql.exec("SELECT version FROM schema_version").toArray()[0];
    const version = row ? Number(row["version"]) : 0;
    if (!row) this.#sql.exec("INSERT INTO schema_version (version) VALUES (0)");
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.ctx.storage.transactionSync(() => {
        this.#sql.exec(MIGRATIONS[v]!);
        this.#sql.exec("UPDATE schema_version SET version = ?", v + 1);
      });
    }
  }

  /**
   * Append revocations atomically (all or none) and drop entries older than `retentionMs` past
   * their `not_after`. Returns the sequence number of the last one appended.
   *
   * `id` (chosen by the caller, unique per call) makes the append idempotent and answerable: the
   * same id again appends nothing and returns the first answer; an id already fenced by
   * `appendOutcome` is refused (throws), so an append the caller gave up on never lands later.
   */
  append(entries: readonly RevocationInput[], retentionMs: number, id?: string): { seq: number } {
    this.#calls.append++;
    if (entries.length === 0 || entries.length > APPEND_MAX) throw new RangeError(`append takes 1 to ${APPEND_MAX} entries`);
    if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > APPEND_ID_MAX)) throw new RangeError("append id must be 1 to 64 characters");
    const now = Date.now();
    return this.ctx.storage.transactionSync(() => {
      if (id !== undefined) {
        const known = this.#sql.exec("SELECT seq FROM appends WHERE id = ?", id).toArray()[0];
        if (known && known["seq"] === null) throw new Error("append refused: its caller already gave it up (appendOutcome)");
        if (known) return { seq: Number(known["seq"]) };
      }
      let seq = 0;
      for (const e of entries) {
        const row = this.#sql
          .exec(
            "INSERT INTO revocations (kind, subject, not_after, grants, reason, key_id, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            e.kind,
            e.subject,
            e.not_after,
            e.grants ? JSON.stringify(e.grants) : null,
            e.reason,
            e.key_id ?? null,
            e.actor ?? null,
            now,
          )
          .one();
        seq = Number(row["seq"]);
      }
      this.#sql.exec("UPDATE meta SET value = ? WHERE name = 'head'", seq);
      this.#sql.exec("DELETE FROM revocations WHERE not_after < ?", now - retentionMs);
      if (id !== undefined) {
        this.#sql.exec("INSERT INTO appends (id, seq, at) VALUES (?, ?, ?)", id, seq, now);
        this.#sql.exec("DELETE FROM appends WHERE at < ?", now - retentionMs);
      }
      return { seq };
    });
  }

  /**
   * Whether the append with this id landed (its last sequence number), asked by a caller that did
   * not hear its answer (timeout, lost connection). If it has not landed, it never will: the id is
   * fenced, and an append carrying it that arrives later is refused. Kept as long as entries are.
   */
  appendOutcome(id: string): { landed: true; seq: number } | { landed: false } {
    if (typeof id !== "string" || id.length === 0 || id.length > APPEND_ID_MAX) throw new RangeError("append id must be 1 to 64 characters");
    return this.ctx.storage.transactionSync(() => {
      const known = this.#sql.exec("SELECT seq FROM appends WHERE id = ?", id).toArray()[0];
      if (known) return known["seq"] === null ? { landed: false as const } : { landed: true as const, seq: Number(known["seq"]) };
      this.#sql.exec("INSERT INTO appends (id, seq, at) VALUES (?, NULL, ?)", id, Date.now());
      return { landed: false as const };
    });
  }

  /** Entries after `seq`, oldest first, at most `limit` (≤ 1000). */
  since(seq: number, limit = FEED_PAGE_MAX): FeedPage {
    this.#calls.since++;
    const n = Math.max(1, Math.min(FEED_PAGE_MAX, Math.floor(limit)));
    const rows = this.#sql
      .exec("SELECT seq, kind, subject, not_after, grants FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?", Math.max(0, Math.floor(seq)), n + 1)
      .toArray();
    const more = rows.length > n;
    const entries = rows.slice(0, n).map((r) => ({
      seq: Number(r["seq"]),
      kind: r["kind"] as RevocationKind,
      subject: String(r["subject"]),
      not_after: Number(r["not_after"]),
      ...(typeof r["grants"] === "string" ? { grants: JSON.parse(r["grants"]) as string[] } : {}),
    }));
    return { entries, head: this.#head(), more };
  }

  /**
   * When the log refuses this key from (epoch ms), or null: the earliest `not_after` of its `key`
   * entries and of its organisation's `org` entries cutting off keys created before `createdAt`.
   * A key management call that wrote a key's record back to KV asks this afterwards
   * (src/keys/service.ts, `settle`), so a delete or rotation it raced is never undone.
   * `exceptReason` leaves out key entries of that reason (a rotation asking about deletes only).
   */
  refusedFrom(hash: string, orgId: string, createdAt: number, exceptReason?: RevocationReason): number | null {
    const row = this.#sql
      .exec(
        `SELECT MIN(not_after) AS at FROM revocations
          WHERE (kind = 'key' AND subject = ? AND reason <> ?) OR (kind = 'org' AND subject = ? AND not_after > ?)`,
        hash,
        exceptReason ?? "",
        orgId,
        createdAt,
      )
      .one();
    return row["at"] === null ? null : Number(row["at"]);
  }

  /** The full record of the entries after `seq` (reasons, key ids, actors): operators and tests. */
  records(seq = 0, limit = FEED_PAGE_MAX): Record<string, SqlStorageValue>[] {
    return this.#sql.exec("SELECT * FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?", seq, Math.min(FEED_PAGE_MAX, limit)).toArray();
  }

  /** Calls served since this instance started, and the head (bench counters). */
  stats(): { append: number; since: number; head: number } {
    return { ...this.#calls, head: this.#head() };
  }

  #head(): number {
    // Kept apart from the table, so pruning every entry never lowers it.
    return Number(this.#sql.exec("SELECT value FROM meta WHERE name = 'head'").one()["value"]);
  }
}
