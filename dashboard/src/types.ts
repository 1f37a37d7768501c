/**
 * The management API's shapes as the page reads them. The worker's own types (src/keys/service.ts)
 * pull in Workers-only types, so the page keeps this mirror; test/unit/dashboard-format.test.ts
 * checks at type level that the worker's shapes are assignable to these, so they cannot drift.
 */

export interface KeyCreator {
  readonly method: "api_key" | "jwt" | "operator";
  readonly id: string;
}

/** A key as the list shows it: never the key itself. */
export interface KeyView {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly hint: string;
  readonly created_at: string;
  readonly created_by: KeyCreator;
  readonly last_used_at: string | null;
  readonly expires_at: string | null;
  readonly rotated_from?: string;
  /** Requests in the last 30 days (list and get); null when usage figures are unavailable. */
  readonly requests_30d?: number | null;
  /** Unused for 90 days (list and get). */
  readonly stale?: boolean;
}

/** One key as get shows it: also what it used in 30 days and the smallest grant covering that. */
export interface KeyDetail extends KeyView {
  readonly scopes_used_30d: readonly string[] | null;
  readonly suggested_scopes: readonly string[] | null;
}

/** One hour of a key's usage (hours without requests are absent). */
export interface UsagePoint {
  readonly hour: string;
  readonly requests: number;
  readonly allowed: number;
  readonly refused_scope: number;
  readonly rate_limited: number;
  readonly scopes: Readonly<Record<string, number>>;
}

export interface UsageSeries {
  readonly key_id: string;
  readonly from: string;
  readonly to: string;
  readonly data: readonly UsagePoint[];
}

/** One audit log entry (docs/api-keys.md, "Audit log"). */
export interface AuditEntry {
  readonly id: string;
  readonly at: string;
  readonly action: string;
  readonly key_id: string | null;
  readonly actor: { readonly method: string; readonly id: string };
  readonly before: unknown;
  readonly after: unknown;
  readonly detail: unknown;
  readonly request_id: string | null;
  readonly client_ip: string | null;
}

export interface AuditPage {
  readonly data: readonly AuditEntry[];
  readonly next_cursor: string | null;
}

/** A key just created: the only time `key` is shown. */
export interface CreatedKey extends KeyView {
  readonly key: string;
}

/** A key created by rotation. */
export interface RotatedKey extends CreatedKey {
  readonly old_id: string;
  readonly old_key_expires_at: string | null;
}

export interface KeyList {
  readonly data: readonly KeyView[];
  readonly next_cursor: string | null;
}
