/**
 * Clerk session-token rules as pure functions: the protected header's shape, what makes a token a
 * session token (and not a JWT-template, machine or pending-session token), the time and party
 * checks, and the v1/v2 claims → organisation, role and permissions mapping. No I/O, no clock:
 * callers pass `now`. Every check here runs only after the signature has been verified, except
 * `checkTokenHeader`, whose messages say nothing about the claims.
 */

/** The protected-header facts verification needs. */
export interface TokenHeader {
  readonly alg: string;
  readonly kid: string;
}

/** What the claims must satisfy, from the config. */
export interface ClaimsPolicy {
  /** Exact `iss`. */
  readonly issuer: string;
  /** Origins accepted in `azp`. */
  readonly authorizedParties: ReadonlySet<string>;
  /** Documented opt-in: accept a token with no `azp` at all. */
  readonly allowMissingAzp: boolean;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
  readonly clockSkewSeconds: number;
}

/** A verified session's facts, ready to become a principal. */
export interface SessionClaims {
  /** `sub`: the Clerk user id. */
  readonly userId: string;
  /** `sid`: the Clerk session id. */
  readonly sessionId: string;
  readonly orgId: string;
  /** The organisation role with its `org:` prefix, e.g. `org:admin`. */
  readonly orgRole: string | undefined;
  /** `org:<feature>:<permission>` strings. */
  readonly orgPermissions: readonly string[];
  /** `exp`, in seconds since the epoch. */
  readonly expiresAt: number;
  readonly version: 1 | 2;
}

/** The outcome of checking a verified token's claims: a session, or the error a caller sees. */
export type ClaimsResult =
  | { readonly ok: true; readonly session: SessionClaims }
  | { readonly ok: false; readonly code: "invalid_token" | "no_active_organization"; readonly detail: string };

/** Clerk's `cat` header values (`@clerk/backend` jwtCategories): session tokens and "ignore". */
export const JWT_CATEGORY_SESSION_TOKEN = "cl_B7d4PD111AAA";
export const JWT_CATEGORY_IGNORE = "cl_I7d4PD111III";

const USER_ID = /^user_[A-Za-z0-9]{1,64}$/;
const SESSION_ID = /^sess_[A-Za-z0-9]{1,64}$/;
const ORG_ID = /^org_[A-Za-z0-9]{1,64}$/;
const MAX_KID_LENGTH = 256;

const fail = (detail: string): ClaimsResult => ({ ok: false, code: "invalid_token", detail });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumericDate = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** The `detail` of each claim failure: what the caller reads, never the claim's value. */
export const DETAIL = {
  algorithm: "The token's algorithm is not accepted.",
  noKid: "The token has no key id (kid).",
  notSession: "The token is not a Clerk session token.",
  issuer: "The token was issued by another issuer.",
  times: "The token lacks exp, nbf or iat.",
  expired: "The token has expired.",
  notYetValid: "The token is not valid yet.",
  noAzp: "The token has no authorized party (azp).",
  azp: "The token's authorized party (azp) is not accepted.",
  subject: "The token's subject is not a Clerk user.",
  version: "The token's claims version is not supported.",
  pending: "The session is pending; finish signing in first.",
  status: "The session is not active.",
  malformed: "The token's claims are malformed.",
  noOrg: "The session has no active organization.",
} as const;

/**
 * Structural checks on the protected header, before any key is fetched: `alg` in the allowlist
 * (so `none` and HMAC never reach a key) and a `kid`. Says nothing about the claims.
 */
export function checkTokenHeader(
  header: Record<string, unknown>,
  algorithms: readonly string[],
): { ok: true; header: TokenHeader } | { ok: false; detail: string } {
  const { alg, kid } = header;
  if (typeof alg !== "string" || !algorithms.includes(alg)) return { ok: false, detail: DETAIL.algorithm };
  if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) return { ok: false, detail: DETAIL.noKid };
  return { ok: true, header: { alg, kid } };
}

/**
 * True when a verified token is something other than a session token: an RFC 9068 access token
 * (`typ: at+jwt`), a Clerk token category other than session (`cat`: JWT templates, M2M), or a
 * machine subject (`mch_…`). Clerk's SDK closed each of these in 2026.
 */
export function isNonSessionToken(header: Record<string, unknown>, payload: Record<string, unknown>): boolean {
  const { typ, cat } = header;
  // Session tokens say `typ: JWT` (or nothing); `at+jwt` and anything else is another kind.
  if (typ !== undefined && (typeof typ !== "string" || typ.toLowerCase() !== "jwt")) return true;
  if (cat !== undefined && cat !== JWT_CATEGORY_SESSION_TOKEN && cat !== JWT_CATEGORY_IGNORE) return true;
  return typeof payload["sub"] === "string" && payload["sub"].startsWith("mch_");
}

/**
 * Check a signature-verified token's header and claims against the policy at `now` (seconds) and
 * map them to a session. Order: token kind, issuer, times, party, subject and session, version,
 * status, organisation.
 */
export function checkSessionClaims(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  policy: ClaimsPolicy,
  now: number,
): ClaimsResult {
  if (isNonSessionToken(header, payload)) return fail(DETAIL.notSession);
  if (payload["iss"] !== policy.issuer) return fail(DETAIL.issuer);

  const { exp, nbf, iat } = payload;
  if (!isNumericDate(exp) || !isNumericDate(nbf) || !isNumericDate(iat)) return fail(DETAIL.times);
  const skew = policy.clockSkewSeconds;
  if (now >= exp + skew) return fail(DETAIL.expired);
  if (nbf > now + skew || iat > now + skew) return fail(DETAIL.notYetValid);

  const azp = payload["azp"];
  // Only an absent `azp` is "missing"; an empty one is a party, and not a listed one.
  if (azp === undefined) {
    if (!policy.allowMissingAzp) return fail(DETAIL.noAzp);
  } else if (typeof azp !== "string" || !policy.authorizedParties.has(azp)) {
    return fail(DETAIL.azp);
  }

  const sub = payload["sub"];
  if (typeof sub !== "string" || !USER_ID.test(sub)) return fail(DETAIL.subject);
  // JWT-template tokens carry no `sid`: they outlive the session that minted them.
  const sid = payload["sid"];
  if (typeof sid !== "string" || !SESSION_ID.test(sid)) return fail(DETAIL.notSession);

  const v = payload["v"];
  if (v !== undefined && v !== 2) return fail(DETAIL.version);

  // Clerk omits `sts` for active sessions; `pending` means the user has tasks left (e.g. choose an org).
  const sts = payload["sts"];
  if (sts === "pending") return fail(DETAIL.pending);
  if (sts !== undefined && sts !== "active") return fail(DETAIL.status);

  const org = v === 2 ? organisationV2(payload) : organisationV1(payload);
  if (org === "malformed") return fail(DETAIL.malformed);
  if (org === undefined) return { ok: false, code: "no_active_organization", detail: DETAIL.noOrg };
  return {
    ok: true,
    session: { userId: sub, sessionId: sid, ...org, expiresAt: exp, version: v === 2 ? 2 : 1 },
  };
}

type Organisation = { orgId: string; orgRole: string | undefined; orgPermissions: string[] };

/** v1: `org_id`, `org_role` (already `org:`-prefixed), `org_permissions`. */
export function organisationV1(payload: Record<string, unknown>): Organisation | undefined | "malformed" {
  const { org_id: orgId, org_role: role, org_permissions: permissions } = payload;
  if (orgId === undefined || orgId === null || orgId === "") return undefined;
  if (typeof orgId !== "string" || !ORG_ID.test(orgId)) return "malformed";
  if (role !== undefined && typeof role !== "string") return "malformed";
  if (permissions !== undefined && !(Array.isArray(permissions) && permissions.every((p) => typeof p === "string"))) {
    return "malformed";
  }
  return { orgId, orgRole: role || undefined, orgPermissions: (permissions as string[] | undefined) ?? [] };
}

/** v2: the `o` claim (`id`, `rol` without prefix, `per`, `fpm`) and the organisation features in `fea`. */
export function organisationV2(payload: Record<string, unknown>): Organisation | undefined | "malformed" {
  const o = payload["o"];
  const fea = payload["fea"];
  if (fea !== undefined && typeof fea !== "string") return "malformed";
  if (o === undefined || o === null) return undefined;
  if (!isRecord(o)) return "malformed";
  const { id, rol, per, fpm } = o;
  if (id === undefined || id === "") return undefined;
  if (typeof id !== "string" || !ORG_ID.test(id)) return "malformed";
  if ((rol !== undefined && typeof rol !== "string") || (per !== undefined && typeof per !== "string")) return "malformed";
  if (fpm !== undefined && typeof fpm !== "string") return "malformed";
  const orgPermissions = decodeOrgPermissions({ fea, per, fpm });
  if (orgPermissions === undefined) return "malformed";
  return { orgId: id, orgRole: rol ? `org:${rol}` : undefined, orgPermissions };
}

/**
 * Organisation features of a `fea` claim (`o:x`, `ou:x`, `uo:x`; `u:x` is the user's), or
 * `undefined` when an element has no scope (Clerk's `splitByScope` throws on those).
 */
export function orgFeatures(fea: string | undefined): string[] | undefined {
  if (!fea) return [];
  const features: string[] = [];
  for (const raw of fea.split(",")) {
    const part = raw.trim();
    const colon = part.indexOf(":");
    if (colon < 0) return undefined;
    const scope = part.slice(0, colon);
    if (scope === "o" || scope === "ou" || scope === "uo") features.push(part.slice(colon + 1));
  }
  return features;
}

/** Bit i of a decimal string (least significant first), for i < count; none when it is not a decimal. */
export function permissionBits(decimal: string, count: number): boolean[] {
  if (!/^\d+$/.test(decimal)) return [];
  const n = BigInt(decimal);
  return Array.from({ length: count }, (_, i) => ((n >> BigInt(i)) & 1n) === 1n);
}

/**
 * Decode v2 organisation permissions exactly as Clerk's SDK does: feature i of the organisation
 * features in `fea` has permission j of `o.per` when bit j of the i-th decimal in `o.fpm` is set,
 * giving `org:<feature>:<permission>`. `undefined` when `fea` is malformed.
 *
 * @example decodeOrgPermissions({ fea: "o:dashboard,o:teams", per: "manage,read", fpm: "3,2" })
 * // → ["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]
 */
export function decodeOrgPermissions(claims: { fea?: string; per?: string; fpm?: string }): string[] | undefined {
  const features = orgFeatures(claims.fea);
  if (features === undefined) return undefined;
  if (!claims.per || !claims.fpm) return [];
  const permissions = claims.per.split(",").map((p) => p.trim());
  const masks = claims.fpm.split(",").map((m) => permissionBits(m.trim(), permissions.length));
  const out: string[] = [];
  features.forEach((feature, i) => {
    (masks[i] ?? []).forEach((set, j) => {
      if (set) out.push(`org:${feature}:${permissions[j]}`);
    });
  });
  return out;
}

/**
 * The v2 encoding of `org:<feature>:<permission>` strings (inverse of `decodeOrgPermissions`):
 * used to mint development tokens. Strings of another shape are ignored.
 */
export function encodeOrgPermissions(orgPermissions: readonly string[]): { fea?: string; per?: string; fpm?: string } {
  const features: string[] = [];
  const permissions: string[] = [];
  const masks = new Map<string, bigint>();
  for (const p of orgPermissions) {
    const m = /^org:([^:,\s]+):([^:,\s]+)$/.exec(p);
    if (!m) continue;
    const [, feature, permission] = m as unknown as [string, string, string];
    if (!features.includes(feature)) features.push(feature);
    if (!permissions.includes(permission)) permissions.push(permission);
    masks.set(feature, (masks.get(feature) ?? 0n) | (1n << BigInt(permissions.indexOf(permission))));
  }
  if (features.length === 0) return {};
  return {
    fea: features.map((f) => `o:${f}`).join(","),
    per: permissions.join(","),
    fpm: features.map((f) => String(masks.get(f))).join(","),
  };
}
