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
