/**
 * What a chaos run records: every operation with who made it, what it targeted, when it was
 * invoked and completed (a logical clock and wall time), and what came back. The invariant
 * checkers are pure functions of this record, so they can be tested on hand-made histories.
 */

export type OpKind =
  | "create"
  | "use"
  | "stream"
  | "token_use"
  | "list"
  | "get"
  | "rotate"
  | "bulk_rotate"
  | "delete"
  | "edit"
  | "cross_org"
  | "jwks"
  | "restart"
  /** `POST /v1/chat/api-keys/revoke` with one known key, no credential (always 202). */
  | "leak_revoke"
  /** `POST /v1/chat/api-keys/revoke-all`: the organisation kill switch. */
  | "kill_switch"
  /** A proxied call with an `agntix` JWT-template token (`aud` agntix). */
  | "template_use"
  /** A WebSocket opened through the gateway with an API key, one message echoed. */
  | "websocket";

/** The credential an operation presented. */
export interface Credential {
  readonly method: "api_key" | "jwt";
  readonly org: string;
  /** Key id or user id: what the gateway must name as the principal. */
  readonly subject: string;
}

/** A key as a 2xx create or rotate returned it (the only time the secret is seen). */
export interface Minted {
  readonly id: string;
  readonly org: string;
  readonly key: string;
  readonly name: string;
  readonly rotatedFrom?: string;
}

/** One old key's fate in a 2xx rotation. */
export interface Retired {
  readonly oldId: string;
  readonly newId: string;
  readonly grace: number;
  /** null: the gateway said it could not retire the old key. */
  readonly oldExpiresAt: string | null;
}

/** A key as a list or get showed it. */
export interface Shown {
  readonly id: string;
  readonly name: string;
  readonly expiresAt: string | null;
  readonly rotatedFrom?: string;
}

/** What the origin says it received (the echo origin returns the headers it got). */
export interface Echo {
  readonly orgId: string | null;
  readonly principalId: string | null;
  readonly method: string | null;
  /** True when the caller's `x-api-key`, `authorization` or `cookie` reached the origin. */
  readonly credentialForwarded: boolean;
  /** `x-agntix-scopes` as the origin received it. */
  readonly scopes?: string | null;
}

/** One operation of the history. */
export interface OpRecord {
  /** Position in the program (settle operations come after it). */
  readonly index: number;
  readonly client: number;
  readonly org: string;
  readonly kind: OpKind;
  readonly phase: "run" | "settle";
  /** Logical clock: `a.complete < b.invoke` means a finished before b began. */
  invoke: number;
  complete: number;
  startMs: number;
  endMs: number;
  readonly credential?: Credential;
  /** The key the operation targeted (use, get, delete, rotate, cross_org). */
  readonly keyId?: string;
  readonly keyIds?: readonly string[];
  readonly grace?: number;
  /** The unique name a create asked for. */
  readonly name?: string;
  /** An edit: the grants it set (absent when it changed only the name). */
  readonly scopes?: readonly string[];
  /** A use: the scope its route and method need (`chat:read`, `voice:write`…). */
  readonly needs?: string;
  /** A use: every scope its key was ever granted (expanded), by its create and any edit. */
  grants?: readonly string[];
  status: number;
  code?: string;
  contentType?: string;
  /** The whole response body as text (checked for secrets and stack traces). */
  body: string;
  /**
   * Set when the body was scanned on arrival and then cut short to save memory (long runs): what
   * `leaks()` found in the whole body, with the keys this response itself minted allowed.
   */
  bodyLeaks?: string[];
  /** Response headers worth checking (x-request-id, www-authenticate…). */
  headers: Record<string, string>;
  /** Set when reading a streamed body failed (an origin reset mid-stream). */
  streamError?: string;
  minted?: Minted[];
  retired?: Retired[];
  shown?: Shown[];
  /** A list op: false when it could not read every page. */
  listComplete?: boolean;
  echo?: Echo;
  /**
   * A leaked-key report: whether its work behind the 202 revoked the key (the gateway's log says
   * the key existed, and not that both its log append and its KV delete failed). Only then is it a
   * promise the key is dead; `complete`/`endMs` are then when that work had finished.
   */
  leakTookEffect?: boolean;
  /** The faults this operation's binding calls met, in order (`kv.put.throw`, …): for diagnosis. */
  faults?: string[];
  /** Free-form note (nemesis ops: what was done). */
  note?: string;
}

/** The store as read directly after the run (faults off): the ground truth behind the API. */
export interface StoreSnapshot {
  /** When it was read (ms); keys whose end had passed by then are not judged. */
  readonly atMs: number;
  /** `h:` entries: each a key usable by whoever holds its secret. */
  readonly hashEntries: readonly { readonly id: string; readonly org: string; readonly expiresAt: string | null }[];
  /** `k:` entries. */
  readonly idEntries: readonly { readonly id: string; readonly org: string; readonly hashPresent: boolean; readonly expiresAt: string | null }[];
}

/** An audit record as `GET /v1/chat/api-keys/audit` showed it to `readBy`. */
export interface AuditRecord {
  /** The organisation whose read returned it. */
  readonly readBy: string;
  readonly org: string;
  readonly action: string;
  readonly keyId: string | null;
}

/** A whole run: operations, captured log lines, and the settled reads. */
export interface History {
  readonly seed: number;
  readonly ops: OpRecord[];
  readonly logs: string[];
  /** Secrets that must never appear in a response or a log line, besides API keys and tokens. */
  readonly secrets: readonly string[];
  /** Markers of injected failures' internals (e.g. an origin's error message). */
  readonly internalMarkers: readonly string[];
  readonly snapshot?: StoreSnapshot;
  /** Audit records by organisation, read after the run; undefined when there is no audit log. */
  readonly audit?: readonly AuditRecord[];
}

export const isOk = (op: Pick<OpRecord, "status">) => op.status >= 200 && op.status < 300;
/** A use the gateway let through: a 2xx, or a WebSocket it opened (101). */
export const isAccepted = (op: Pick<OpRecord, "status" | "kind">) => isOk(op) || (op.kind === "websocket" && op.status === 101);
export const isRefused = (op: Pick<OpRecord, "status">) => op.status >= 400;
export const MANAGEMENT: ReadonlySet<OpKind> = new Set(["create", "rotate", "bulk_rotate", "delete", "edit", "kill_switch"]);
