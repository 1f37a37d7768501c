/**
 * Clerk token rules as pure functions: the protected header's shape and the key it routes to, the
 * two kinds of accepted token (session tokens, and JWT-template tokens told apart by `aud`), the
 * Clerk-specific claim checks, and the v1/v2/template claims → organisation, role and permissions
 * mapping. No I/O, no clock: callers pass `now`. The standard claims (`iss`, `aud`, `exp`, `nbf`,
 * presence of the times) are checked by jose's `jwtVerify` options in `session-token.ts`; every
 * check here runs after that, except `checkTokenHeader` and `tokenKind`, which only route.
 */

/** Where a token's key comes from: the instance's JWKS / PEM (asymmetric, with a kid), or a template's custom HMAC key. */
export type KeyRoute = { readonly kind: "jwks"; readonly alg: string; readonly kid: string } | { readonly kind: "hmac"; readonly alg: string };

/** What the Clerk-specific claim checks need from the config. */
export interface ClaimsPolicy {
  /** Origins accepted in `azp`. */
  readonly authorizedParties: ReadonlySet<string>;
  /** Documented opt-in: accept a token with no `azp` at all. */
  readonly allowMissingAzp: boolean;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
  readonly clockSkewSeconds: number;
}

/** Template tokens also have a bounded lifetime. */
export interface TemplatePolicy extends ClaimsPolicy {
  /** Longest accepted `exp − iat`, in seconds. */
  readonly maxLifetimeSeconds: number;
}

/** A verified token's identity, ready to become a principal. */
export interface IdentityClaims {
  /** `sub`: the Clerk user id. */
  readonly userId: string;
  readonly orgId: string;
  /** The organisation role with its `org:` prefix, e.g. `org:admin`. */
  readonly orgRole: string | undefined;
  /** `org:<feature>:<permission>` strings. */
  readonly orgPermissions: readonly string[];
  /** `exp`, in seconds since the epoch. */
  readonly expiresAt: number;
}

/** A verified session's facts. */
export interface SessionClaims extends IdentityClaims {
  /** `sid`: the Clerk session id. */
  readonly sessionId: string;
  readonly version: 1 | 2;
}

/** The outcome of checking a verified token's claims: the identity, or the error a caller sees. */
export type ClaimsResult<T extends IdentityClaims = SessionClaims> =
  | { readonly ok: true; readonly session: T }
  | { readonly ok: false; readonly code: "invalid_token" | "no_active_organization"; readonly detail: string };

/** Clerk's `cat` header values (`@clerk/backend` jwtCategories): session tokens, JWT templates, M2M, and "ignore". */
export const JWT_CATEGORY_SESSION_TOKEN = "cl_B7d4PD111AAA";
export const JWT_CATEGORY_JWT_TEMPLATE = "cl_B7d4PD222AAA";
export const JWT_CATEGORY_IGNORE = "cl_I7d4PD111III";

const USER_ID = /^user_[A-Za-z0-9]{1,64}$/;
const SESSION_ID = /^sess_[A-Za-z0-9]{1,64}$/;
const ORG_ID = /^org_[A-Za-z0-9]{1,64}$/;
const MAX_KID_LENGTH = 256;

const fail = <T extends IdentityClaims>(detail: string): ClaimsResult<T> => ({ ok: false, code: "invalid_token", detail });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumericDate = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** The `detail` of each failure: what the caller reads, never the claim's value. */
export const DETAIL = {
  malformedToken: "The token is malformed.",
  algorithm: "The token's algorithm is not accepted.",
  noKid: "The token has no key id (kid).",
  hmacNotConfigured:
    "The token is signed with a shared-secret (HMAC) algorithm; this gateway accepts that only from a JWT template whose custom signing key it has been given, and it has none.",
  hmacWithKid: "An HMAC-signed template token must not name a key id (kid): key ids belong to the instance's JWKS.",
  hmacSession: "HMAC-signed tokens are accepted only as JWT-template tokens (with an audience, aud).",
  signature: "The token's signature is invalid.",
  notSession: "The token is not a Clerk session token.",
  notTemplate: "The token is not a Clerk JWT-template token.",
  noAudience: "The token has no audience (aud) and no session id (sid): it is neither a JWT-template token nor a session token.",
  audience: "The token's audience (aud) is not accepted.",
  sessionWithAud: "The token is a session token that carries an audience (aud); session tokens must not.",
  templatesDisabled: "JWT-template tokens (tokens with an audience, aud) are not accepted by this gateway.",
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

/** The detail of a template token whose lifetime exceeds the configured maximum. */
export const lifetimeDetail = (maxSeconds: number) => `The token's lifetime (exp - iat) exceeds ${maxSeconds} seconds.`;

/**
 * Structural checks on the protected header, before any key is fetched, and the key it routes to.
 * An asymmetric `alg` from the allowlist needs a `kid` (JWKS or PEM); the configured HMAC `alg`
 * (only when a template signing key is set) must have no `kid`, so a JWKS-kid token is never tried
 * against the shared secret and an HMAC token never reaches a JWKS key. `none` and anything else
 * never reach a key. Says nothing about the claims.
 */
export function checkTokenHeader(
  header: Record<string, unknown>,
  algorithms: readonly string[],
  hmacAlgorithm?: string,
): { ok: true; route: KeyRoute } | { ok: false; detail: string } {
  const { alg, kid } = header;
  if (typeof alg !== "string") return { ok: false, detail: DETAIL.algorithm };
  if (algorithms.includes(alg)) {
    if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) return { ok: false, detail: DETAIL.noKid };
    return { ok: true, route: { kind: "jwks", alg, kid } };
  }
  if (/^HS(256|384|512)$/.test(alg)) {
    if (hmacAlgorithm === undefined) return { ok: false, detail: DETAIL.hmacNotConfigured };
    if (alg !== hmacAlgorithm) return { ok: false, detail: DETAIL.algorithm };
    if (kid !== undefined) return { ok: false, detail: DETAIL.hmacWithKid };
    return { ok: true, route: { kind: "hmac", alg } };
  }
  return { ok: false, detail: DETAIL.algorithm };
}

/**
 * Which rules a token is verified under (RFC 8725 §3.11: kinds told apart, here by audience): no
 * `aud` → a session token; an `aud` → a JWT-template token, unless it also carries a session's
 * marks (`sid`, `v`, the session category), which makes it a session token with an audience, refused.
 * Read from the unverified token only to choose the rules; every rule runs after the signature.
 */
export function tokenKind(header: Record<string, unknown>, payload: Record<string, unknown>): "session" | "template" | "session_with_aud" {
  if (payload["aud"] === undefined) return "session";
  if (payload["sid"] !== undefined || payload["v"] !== undefined || header["cat"] === JWT_CATEGORY_SESSION_TOKEN) return "session_with_aud";
  return "template";
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
 * Check a signature-verified session token's header and Clerk-specific claims against the policy
 * at `now` (seconds) and map them to a session. `iss`, `exp` and `nbf` were checked by jose.
 * Order: token kind, `iat`, party, subject and session, version, status, organisation.
 */
export function checkSessionClaims(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  policy: ClaimsPolicy,
  now: number,
): ClaimsResult {
  // A JWT-template token that reached the session rules has no `aud`: say what it lacks.
  if (header["cat"] === JWT_CATEGORY_JWT_TEMPLATE) return fail(DETAIL.noAudience);
  if (isNonSessionToken(header, payload)) return fail(DETAIL.notSession);
  if (payload["aud"] !== undefined) return fail(DETAIL.sessionWithAud);
  const times = checkTimes(payload, policy, now);
  if (times) return fail(times);
  const party = checkParty(payload, policy);
  if (party) return fail(party);

  const sub = payload["sub"];
  if (typeof sub !== "string" || !USER_ID.test(sub)) return fail(DETAIL.subject);
  // A token with neither `aud` nor `sid` is a JWT-template token without an audience (or nothing
  // Clerk mints): template tokens outlive the session that minted them, so `sid` is required here.
  const sid = payload["sid"];
  if (sid === undefined) return fail(DETAIL.noAudience);
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
    session: { userId: sub, sessionId: sid, ...org, expiresAt: payload["exp"] as number, version: v === 2 ? 2 : 1 },
  };
}

/**
 * Check a signature-verified JWT-template token (`aud` already matched by jose) and map its
 * organisation claims (`org_id`, `org_role`, `org_permissions`) to an identity. Order: token kind,
 * lifetime, `iat`, party, subject, organisation.
 */
export function checkTemplateClaims(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  policy: TemplatePolicy,
  now: number,
): ClaimsResult<IdentityClaims> {
  const { typ, cat } = header;
  if (typ !== undefined && (typeof typ !== "string" || typ.toLowerCase() !== "jwt")) return fail(DETAIL.notTemplate);
  if (tokenKind(header, payload) !== "template") return fail(DETAIL.sessionWithAud);
  if (cat !== undefined && cat !== JWT_CATEGORY_JWT_TEMPLATE && cat !== JWT_CATEGORY_IGNORE) return fail(DETAIL.notTemplate);
  const times = checkTimes(payload, policy, now);
  if (times) return fail(times);
  // A template set to a long lifetime must not become a long-lived bearer secret.
  if ((payload["exp"] as number) - (payload["iat"] as number) > policy.maxLifetimeSeconds) return fail(lifetimeDetail(policy.maxLifetimeSeconds));
  const party = checkParty(payload, policy);
  if (party) return fail(party);

  const sub = payload["sub"];
  if (typeof sub !== "string") return fail(DETAIL.subject);
  if (sub.startsWith("mch_")) return fail(DETAIL.notTemplate);
  if (!USER_ID.test(sub)) return fail(DETAIL.subject);

  const org = organisationTemplate(payload);
  if (org === "malformed") return fail(DETAIL.malformed);
  if (org === undefined) return { ok: false, code: "no_active_organization", detail: DETAIL.noOrg };
  return { ok: true, session: { userId: sub, ...org, expiresAt: payload["exp"] as number } };
}

/** Presence and shape of `exp`/`nbf`/`iat` (jose checked them too), and an `iat` not in the future: jose checks that only with `maxTokenAge`. */
function checkTimes(payload: Record<string, unknown>, policy: ClaimsPolicy, now: number): string | undefined {
  const { exp, nbf, iat } = payload;
  if (!isNumericDate(exp) || !isNumericDate(nbf) || !isNumericDate(iat)) return DETAIL.times;
  if (iat > now + policy.clockSkewSeconds) return DETAIL.notYetValid;
  return undefined;
}

/** `azp`: only an absent one is "missing"; an empty one is a party, and not a listed one. */
function checkParty(payload: Record<string, unknown>, policy: ClaimsPolicy): string | undefined {
  const azp = payload["azp"];
  if (azp === undefined) return policy.allowMissingAzp ? undefined : DETAIL.noAzp;
  if (typeof azp !== "string" || !policy.authorizedParties.has(azp)) return DETAIL.azp;
  return undefined;
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

/**
 * The `agntix` template's claims, filled by Clerk's shortcodes: `org_id` ({{org.id}}), `org_role`
 * ({{org.role}}), `org_permissions` ({{org_membership.permissions}}). With no active organisation
 * Clerk fills them with `null`. A role without the `org:` prefix gets it, as in v2 session tokens.
 */
export function organisationTemplate(payload: Record<string, unknown>): Organisation | undefined | "malformed" {
  const { org_id: orgId, org_role: role, org_permissions: permissions } = payload;
  if (orgId === undefined || orgId === null || orgId === "") return undefined;
  if (typeof orgId !== "string" || !ORG_ID.test(orgId)) return "malformed";
  if (role !== undefined && role !== null && typeof role !== "string") return "malformed";
  if (permissions !== undefined && permissions !== null && !(Array.isArray(permissions) && permissions.every((p) => typeof p === "string"))) {
    return "malformed";
  }
  const orgRole = typeof role === "string" && role !== "" ? (role.startsWith("org:") ? role : `org:${role}`) : undefined;
  return { orgId, orgRole, orgPermissions: Array.isArray(permissions) ? (permissions as string[]) : [] };
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
