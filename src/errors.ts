/**
 * The gateway's closed set of error codes: one code, one status, one title, one way to render.
 * Every code here is documented in docs/errors.md (a test keeps the two in step).
 */
export const ERRORS = {
  invalid_path: { status: 400, title: "Invalid path" },
  invalid_json: { status: 400, title: "Request body is not valid JSON" },
  validation_failed: { status: 400, title: "Validation failed" },
  body_not_allowed: { status: 400, title: "Body not allowed" },
  method_override_refused: { status: 400, title: "Method override refused" },
  conflicting_credentials: { status: 400, title: "Conflicting credentials" },
  missing_credentials: { status: 401, title: "Missing credentials" },
  invalid_api_key: { status: 401, title: "Invalid API key" },
  invalid_token: { status: 401, title: "Invalid session token" },
  insufficient_scope: { status: 403, title: "Insufficient scope" },
  scope_escalation: { status: 403, title: "Cannot grant a scope the caller does not hold" },
  no_active_organization: { status: 403, title: "No active organization" },
  api_key_in_browser: { status: 403, title: "API key sent from a browser" },
  rate_limit_escalation: { status: 403, title: "Cannot give a key a rate limit above the caller's own" },
  not_found: { status: 404, title: "Not found" },
  key_not_found: { status: 404, title: "API key not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  already_rotated: { status: 409, title: "Key already rotated" },
  key_limit_reached: { status: 409, title: "Key limit reached" },
  organization_keys_revoked: { status: 409, title: "Organization's keys revoked meanwhile" },
  payload_too_large: { status: 413, title: "Payload too large" },
  uri_too_long: { status: 414, title: "URI too long" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  rate_limited: { status: 429, title: "Rate limit exceeded" },
  headers_too_large: { status: 431, title: "Request header fields too large" },
  internal_error: { status: 500, title: "Internal error" },
  origin_error: { status: 502, title: "Bad gateway" },
  key_store_unavailable: { status: 503, title: "Key store unavailable" },
  audit_unavailable: { status: 503, title: "Audit log unavailable" },
  usage_unavailable: { status: 503, title: "Usage figures unavailable" },
  revocation_log_unavailable: { status: 503, title: "Revocation log unavailable" },
  key_issuance_unavailable: { status: 503, title: "Key issuance unavailable" },
  jwks_unavailable: { status: 503, title: "Session-token keys unavailable" },
  gateway_misconfigured: { status: 503, title: "Gateway misconfigured" },
  rate_limiter_unavailable: { status: 503, title: "Rate limiter unavailable" },
  origin_timeout: { status: 504, title: "Gateway timeout" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Base of the problem type URIs; the fragment is the code. */
export const PROBLEM_TYPE_BASE = "https://docs.agntix.ai/errors#";

/** The realm named in every `WWW-Authenticate` challenge. */
export const AUTH_REALM = "agntix";

export interface GatewayErrorOptions {
  /** Human-readable explanation for the caller; never internal details. */
  detail?: string;
  /** Extra members merged into the problem body (e.g. `required_scopes`, `errors`). */
  extra?: Record<string, unknown>;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Internal cause, for logs only; never rendered. */
  cause?: unknown;
}

/** An error a caller is meant to see, by code. Thrown anywhere, rendered once by `problemResponse`. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(options.detail ?? ERRORS[code].title, { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = options.detail ?? ERRORS[code].title;
    this.extra = boundedExtra(options.extra);
    this.headers = options.headers;
  }
}

/** Field errors listed in one problem at most; the rest are counted in `errors_omitted`. */
export const MAX_FIELD_ERRORS = 10;
/** Longest field name echoed back in a field error. */
const MAX_FIELD_NAME = 64;

/**
 * An answer never grows with what the caller sent: a body of thousands of unknown fields gets at
 * most `MAX_FIELD_ERRORS` errors back, each naming at most 64 characters of its field.
 */
function boundedExtra(extra: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const errors = extra?.["errors"];
  if (!Array.isArray(errors)) return extra;
  const shown = errors.slice(0, MAX_FIELD_ERRORS).map((e: unknown) => {
    if (typeof e !== "object" || e === null) return e;
    const field = (e as { field?: unknown }).field;
    return typeof field === "string" && field.length > MAX_FIELD_NAME ? { ...e, field: `${field.slice(0, MAX_FIELD_NAME)}…` } : e;
  });
  return errors.length > MAX_FIELD_ERRORS ? { ...extra, errors: shown, errors_omitted: errors.length - MAX_FIELD_ERRORS } : { ...extra, errors: shown };
}

/** Quote a value for an RFC 7235 auth-param (quoted-string), dropping characters it cannot carry. */
function quoteParam(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, "").replace(/["\\]/g, "")}"`;
}

/** RFC 6750 §3 challenge: `Bearer realm="agntix"[, error="…", error_description="…", scope="…"]`. */
export function bearerChallenge(params: { error?: string; description?: string; scope?: string } = {}): string {
  const parts = [`realm=${quoteParam(AUTH_REALM)}`];
  if (params.error) parts.push(`error=${quoteParam(params.error)}`);
  if (params.description) parts.push(`error_description=${quoteParam(params.description)}`);
  if (params.scope) parts.push(`scope=${quoteParam(params.scope)}`);
  return `Bearer ${parts.join(", ")}`;
}

/** The `WWW-Authenticate` value a code carries, if any (RFC 6750 §3.1). */
function challengeFor(error: GatewayError): string | undefined {
  switch (error.code) {
    case "missing_credentials":
      // §3.1: a request with no authentication information gets no error code.
      return bearerChallenge();
    case "conflicting_credentials":
      return bearerChallenge({ error: "invalid_request", description: error.detail });
    case "invalid_api_key":
    case "invalid_token":
      return bearerChallenge({ error: "invalid_token", description: error.detail });
    case "insufficient_scope":
    case "scope_escalation":
    case "no_active_organization": {
      const scopes = error.extra?.["required_scopes"];
      const scope = Array.isArray(scopes) ? scopes.join(" ") : undefined;
      return bearerChallenge({ error: "insufficient_scope", description: error.detail, scope });
    }
    default:
      return undefined;
  }
}

/** Render an error as `application/problem+json` (RFC 9457) with `code` and `request_id`. */
export function problemResponse(error: GatewayError, requestId: string | undefined): Response {
  const body = {
    type: PROBLEM_TYPE_BASE + error.code,
    title: ERRORS[error.code].title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...error.extra,
    request_id: requestId ?? null,
  };
  const headers = new Headers({
    "content-type": "application/problem+json; charset=utf-8",
    "cache-control": "no-store",
    ...error.headers,
  });
  const challenge = challengeFor(error);
  if (challenge) headers.set("www-authenticate", challenge);
  if (requestId) headers.set("x-request-id", requestId);
  const response = new Response(JSON.stringify(body), { status: error.status, headers });
  errorCodes.set(response, error.code);
  return response;
}

// The code of each problem response, for the access log (src/observability/access-log.ts).
const errorCodes = new WeakMap<Response, ErrorCode>();

/** The error code a response was rendered for by `problemResponse`, if it was. */
export function errorCodeOf(response: Response): ErrorCode | undefined {
  return errorCodes.get(response);
}
