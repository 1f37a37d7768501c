/**
 * The revocation log: one Durable Object (SQLite storage) that every revocation is appended to
 * and every location polls. Strongly consistent: an append that returned is seen by every later
 * `since`. Its load is one `since` per location per poll interval plus one `append` per
 * revocation call — it never grows with requests or isolates (docs/api-keys.md).
 *
 * Only `src/revocation/log.ts` talks to it.
 */
import { DurableObject } from "cloudflare:workers";
import { KeyStore, kvFromBinding, type StoredKey } from "../keys/store";

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
  // The sweep (`alarm`): 1 once KV was seen to hold none of the keys an entry revokes.
  `ALTER TABLE revocations ADD COLUMN swept INTEGER NOT NULL DEFAULT 0;
   UPDATE revocations SET swept = 1 WHERE kind = 'grants';`,
];

/** Entries one sweep checks against KV (its reads and deletes stay bounded). */
export const SWEEP_BATCH = 100;
/** When a sweep could not confirm an entry (KV failing), the next try. */
export const SWEEP_RETRY_MS = 30_000;

/** Longest append id (a UUID is 36). */
const APPEND_ID_MAX = 64;

/** The log's one instance, by name. */
export const REVOCATION_LOG_NAME = "global";

/**
 * Why the sweep: an entry is the only thing that refuses a key whose record is still in KV, and
 * KV has no compare-and-set. A writer that read a key before its revocation and wrote it back
 * after (an edit, a rotation's retirement) undoes the KV delete; the writer re-checks the log and
 * deletes it again (src/keys/service.ts, `settle`), but if that re-check or delete fails, the record
 * stays. Dropping the entry then would make the key work again. So an entry is dropped only after
 * KV was seen to hold none of the keys it revokes: halfway through the retention (leaving the
 * other half for KV's read caches and the isolates' copies to forget a record the sweep deleted),
 * KV is read, any key still there is deleted, and the entry is marked swept; it is pruned at the
 * end of its retention only if swept. A sweep that fails is retried; its entry stays meanwhile.
 */
export class RevocationLog extends DurableObject {
  readonly #sql: SqlStorage;
  /** The key store the sweep checks (absent without an `API_KEYS` binding: entries are pruned unswept). */
  readonly #keys: KeyStore | undefined;
  /** Stats since this instance started (bench, `/healthz` never calls it). */
  #calls = { append: 0, since: 0 };

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.#sql = ctx.storage.sql;
    const kv = (env as { API_KEYS?: KVNamespace } | undefined)?.API_KEYS;
    this.#keys = kv ? new KeyStore(kvFromBinding(kv)) : undefined;
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
   * Append revocations atomically (all or none) and drop swept entries older than `retentionMs`
   * past their `not_after`; schedules the sweep. Returns the sequence number of the last one appended.
   *
   * `id` (chosen by the caller, unique per call) makes the append idempotent and answerable: the
   * same id again appends nothing and returns the first answer; an id already fenced by
   * `appendOutcome` is refused (throws), so an append the caller gave up on never lands later.
   */
  async append(entries: readonly RevocationInput[], retentionMs: number, id?: string): Promise<{ seq: number }> {
    this.#calls.append++;
    if (entries.length === 0 || entries.length > APPEND_MAX) throw new RangeError(`append takes 1 to ${APPEND_MAX} entries`);
    if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > APPEND_ID_MAX)) throw new RangeError("append id must be 1 to 64 characters");
    const now = Date.now();
    // Without a key store to check, every entry counts as swept (pruned at the end of its retention).
    const swept = this.#keys ? 0 : 1;
    const result = this.ctx.storage.transactionSync(() => {
      if (id !== undefined) {
        const known = this.#sql.exec("SELECT seq FROM appends WHERE id = ?", id).toArray()[0];
        if (known && known["seq"] === null) throw new Error("append refused: its caller already gave it up (appendOutcome)");
        if (known) return { seq: Number(known["seq"]) };
      }
      let seq = 0;
      for (const e of entries) {
        const row = this.#sql
          .exec(
            "INSERT INTO revocations (kind, subject, not_after, grants, reason, key_id, actor, at, swept) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            e.kind,
            e.subject,
            e.not_after,
            e.grants ? JSON.stringify(e.grants) : null,
            e.reason,
            e.key_id ?? null,
            e.actor ?? null,
            now,
            e.kind === "grants" ? 1 : swept,
          )
          .one();
        seq = Number(row["seq"]);
      }
      this.#sql.exec("UPDATE meta SET value = ? WHERE name = 'head'", seq);
      this.#sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('retention_ms', ?)", retentionMs);
      this.#sql.exec("DELETE FROM revocations WHERE swept = 1 AND not_after < ?", now - retentionMs);
      if (id !== undefined) {
        this.#sql.exec("INSERT INTO appends (id, seq, at) VALUES (?, ?, ?)", id, seq, now);
        this.#sql.exec("DELETE FROM appends WHERE at < ?", now - retentionMs);
      }
      return { seq };
    });
    if (this.#keys && (await this.ctx.storage.getAlarm()) === null) await this.#schedule(now);
    return result;
  }
  /**
   * The sweep (see the class comment): entries halfway through their retention are checked against
   * KV (keys still there are deleted); swept entries past their retention are pruned.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const retentionMs = this.#retentionMs();
    const due = this.#sql
      .exec("SELECT seq, kind, subject, not_after FROM revocations WHERE swept = 0 AND not_after < ? ORDER BY seq LIMIT ?", now - retentionMs / 2, SWEEP_BATCH)
      .toArray();
    let failed = false;
    for (const row of due) {
      try {
        const removed = await this.#sweepEntry(String(row["kind"]), String(row["subject"]), Number(row["not_after"]));
        this.#sql.exec("UPDATE revocations SET swept = 1 WHERE seq = ?", row["seq"]);
        for (const keyId of removed) {
          console.warn(JSON.stringify({ level: "warn", event: "revocation_sweep_removed_key", key_id: keyId, seq: Number(row["seq"]) }));
        }
      } catch (cause) {
        failed = true;
        console.error(JSON.stringify({ level: "error", event: "revocation_sweep_failed", seq: Number(row["seq"]), cause: cause instanceof Error ? cause.name : typeof cause }));
      }
    }
    this.#sql.exec("DELETE FROM revocations WHERE swept = 1 AND not_after < ?", now - retentionMs);
    await this.#schedule(now, failed);
  }

  /** Delete from KV every key this entry revokes that is still there; returns their ids. */
  async #sweepEntry(kind: string, subject: string, notAfter: number): Promise<string[]> {
    const keys = this.#keys!;
    if (kind === "key") {
      const record = await keys.findByHash(subject);
      if (!record) return [];
      await keys.remove({ ...record, hash: subject });
      return [record.id];
    }
    if (kind !== "org") return [];
    const removed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await keys.listOrg(subject, 100, cursor);
      cursor = page.cursor;
      const ids = page.records.filter((r) => Date.parse(r.created_at) < notAfter).map((r) => r.id);
      const stored = (await keys.findByIds(ids)).filter((s): s is StoredKey => s !== null && s.org_id === subject);
      for (const s of stored) {
        await keys.remove(s);
        removed.push(s.id);
      }
    } while (cursor);
    return removed;
  }

  /** Set the alarm for the next entry due for a sweep or a prune (or soon, to go on or retry). */
  async #schedule(now: number, soon = false): Promise<void> {
    const retentionMs = this.#retentionMs();
    const row = this.#sql
      .exec("SELECT MIN(CASE WHEN swept = 0 THEN not_after + ? ELSE not_after + ? END) AS at FROM revocations", Math.floor(retentionMs / 2), retentionMs)
      .one();
    const next = row["at"] === null ? null : Number(row["at"]) + 1;
    if (soon) await this.ctx.storage.setAlarm(now + SWEEP_RETRY_MS);
    else if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, now));
  }

  #retentionMs(): number {
    const row = this.#sql.exec("SELECT value FROM meta WHERE name = 'retention_ms'").toArray()[0];
    return row ? Number(row["value"]) : 600_000;
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
