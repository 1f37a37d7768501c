/** The audit API's one read: a page of an organisation's audit entries, newest first. */
import { GatewayError } from "../errors";
import type { AuditInput } from "../keys/validate";
import { type AuditEntry, auditEntry, decodeAuditCursor, encodeAuditCursor } from "./log";
import type { AuditStore } from "./store";

/** A page of audit entries. */
export interface AuditPage {
  readonly data: AuditEntry[];
  readonly next_cursor: string | null;
}

/** Entries of `orgId` (of one key, if `keyId`), newest first; `next_cursor` is null on the last page. */
export async function listAudit(store: AuditStore, orgId: string, input: AuditInput): Promise<AuditPage> {
  const after = input.cursor === undefined ? undefined : decodeAuditCursor(input.cursor);
  if (input.cursor !== undefined && !after) {
    throw new GatewayError("validation_failed", {
      detail: "The cursor is not one this API returned to you.",
      extra: { errors: [{ field: "cursor", message: "is not a cursor returned by this API" }] },
    });
  }
  // One row more than asked says whether there is a next page.
  const rows = await store.page(orgId, { keyId: input.keyId, after, limit: input.limit + 1 });
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(auditEntry),
    next_cursor: rows.length > input.limit && last ? encodeAuditCursor({ at: last.at, id: last.id }) : null,
  };
}
