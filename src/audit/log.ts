/**
 * The audit log's events: what the key services report, the rows they become, and the entries the
 * audit API shows. Pure functions here; `AuditStore` does the I/O.
 */
import { randomBase62 } from "../keys/format";
import type { AuditPosition, AuditRow, AuditStore } from "./store";

/** How long audit rows are kept: 180 days, in ms (purged daily by the Cron Trigger). */
export const AUDIT_RETENTION_MS = 180 * 24 * 3600 * 1000;
/** Longest `user_agent` kept, in characters. */
export const MAX_USER_AGENT_LENGTH = 256;

/** What happened. */
export type AuditAction =
  | "key.created"
  | "key.updated"
  | "key.rotated"
  | "key.bulk_rotated"
  | "key.deleted"
  | "key.escalation_refused"
  /** A key reported as leaked (`POST /v1/chat/api-keys/revoke`), revoked and deleted. */
  | "key.leak_revoked"
  /** The organisation kill switch: every key of the organisation revoked (one row, no key). */
  | "org.keys_revoked";

/** Who acted: a key, a Clerk user, an operator of the CLI, or the gateway itself. */
export interface AuditActor {
  readonly method: "api_key" | "jwt" | "operator" | "system";
  readonly id: string;
}

/** The request an event came from. */
export interface AuditRequest {
  readonly requestId: string | null;
  readonly clientIp: string | null;
  readonly userAgent: string | null;
}

/** One event, as a key service reports it. */
export interface AuditEvent {
  readonly action: AuditAction;
  readonly orgId: string;
  readonly keyId: string | null;
  readonly before?: Record<string, unknown>;
  readonly after?: Record<string, unknown>;
  readonly detail?: Record<string, unknown>;
}

/** Rows written for a group of events, so that they can be taken back if the change fails. */
export interface AuditReceipt {
  readonly ids: readonly string[];
}

/** What the key services need: record events before a change, take them back if it fails. */
export interface AuditLog {
  /** Write the events' rows; throws 503 `audit_unavailable` when they cannot be written. */
  record(events: readonly AuditEvent[]): Promise<AuditReceipt>;
  /** Remove the rows of a change that failed after they were written (best effort, logged). */
  retract(receipt: AuditReceipt): Promise<void>;
}

const json = (value: Record<string, unknown> | undefined) => (value === undefined ? null : JSON.stringify(value));

/** The rows of `events` for this actor and request, all at `at`. */
export function auditRows(events: readonly AuditEvent[], actor: AuditActor, request: AuditRequest, at: number): AuditRow[] {
  return events.map((event) => ({
    id: `aud_${randomBase62(24)}`,
    at,
    org_id: event.orgId,
    action: event.action,
    actor_method: actor.method,
    actor_id: actor.id,
    key_id: event.keyId,
    before_json: json(event.before),
    after_json: json(event.after),
    detail_json: json(event.detail),
    request_id: request.requestId,
    client_ip: request.clientIp,
    user_agent: request.userAgent === null ? null : request.userAgent.slice(0, MAX_USER_AGENT_LENGTH),
  }));
}

/** Attempts to take back a failed change's rows before `audit_retract_failed` is logged. */
export const RETRACT_ATTEMPTS = 3;

/** An audit log that writes to `store` as `actor`, for one request. */
export function auditLog(store: AuditStore, actor: AuditActor, request: AuditRequest, now: () => number = Date.now): AuditLog {
  /** Remove a failed change's rows; deleting by id is idempotent, so it is tried a few times. */
  async function retract(receipt: AuditReceipt): Promise<void> {
    for (let attempt = 1; attempt <= RETRACT_ATTEMPTS; attempt++) {
      try {
        return await store.remove(receipt.ids);
      } catch {
        // Try again; after the last attempt, say so below.
      }
    }
    // The rows stay and describe a change that did not complete: say so in the logs.
    console.warn(JSON.stringify({ level: "warn", event: "audit_retract_failed", audit_ids: receipt.ids, request_id: request.requestId }));
  }
  return {
    async record(events) {
      const rows = auditRows(events, actor, request, now());
      const receipt = { ids: rows.map((r) => r.id) };
      try {
        await store.insert(rows);
      } catch (error) {
        // A write reported as failed may still have landed (a timeout after the commit): the
        // change will not be made, so its rows must not stay (found by the chaos run).
        await retract(receipt);
        throw error;
      }
      return receipt;
    },
    retract,
  };
}

/** An audit entry as `GET /v1/chat/api-keys/audit` shows it. */
export interface AuditEntry {
  readonly id: string;
  readonly at: string;
  readonly action: string;
  readonly org_id: string;
  readonly key_id: string | null;
  readonly actor: { readonly method: string; readonly id: string };
  readonly before: unknown;
  readonly after: unknown;
  readonly detail: unknown;
  readonly request_id: string | null;
  readonly client_ip: string | null;
  readonly user_agent: string | null;
}

const parsed = (text: string | null): unknown => {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};

/** A stored row as the API shows it. */
export function auditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    action: row.action,
    org_id: row.org_id,
    key_id: row.key_id,
    actor: { method: row.actor_method, id: row.actor_id },
    before: parsed(row.before_json),
    after: parsed(row.after_json),
    detail: parsed(row.detail_json),
    request_id: row.request_id,
    client_ip: row.client_ip,
    user_agent: row.user_agent,
  };
}

const AUDIT_ID = /^aud_[0-9A-Za-z]{24}$/;

/** The opaque cursor after `position`. Positions are only ever used within the caller's organisation. */
export function encodeAuditCursor(position: AuditPosition): string {
  return btoa(`${position.at}.${position.id}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The position a cursor names, or undefined when it is not one `encodeAuditCursor` made. */
export function decodeAuditCursor(cursor: string): AuditPosition | undefined {
  let text: string;
  try {
    text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
  const dot = text.indexOf(".");
  const at = Number(text.slice(0, dot));
  const id = text.slice(dot + 1);
  return dot > 0 && Number.isSafeInteger(at) && at >= 0 && AUDIT_ID.test(id) ? { at, id } : undefined;
}
