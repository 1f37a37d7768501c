import { __experimental_JWTPayloadToAuthObjectProperties as clerkParse } from "@clerk/shared/jwtPayloadParser";
import { describe, expect, it } from "vitest";
import {
  checkSessionClaims,
  checkTemplateClaims,
  checkTokenHeader,
  type ClaimsPolicy,
  decodeOrgPermissions,
  DETAIL,
  encodeOrgPermissions,
  isNonSessionToken,
  JWT_CATEGORY_IGNORE,
  JWT_CATEGORY_JWT_TEMPLATE,
  JWT_CATEGORY_SESSION_TOKEN,
  lifetimeDetail,
  organisationTemplate,
  type TemplatePolicy,
  tokenKind,
} from "../../src/auth/jwt-claims";

/** Clerk's own decoding of v2 organisation permissions (its SDK's parser), or "throws". */
function clerkPermissions(claims: { fea?: string; per?: string; fpm?: string }): string[] | "throws" {
  try {
    const parsed = clerkParse({ v: 2, sub: "user_x", o: { id: "org_x", rol: "admin", per: claims.per, fpm: claims.fpm }, fea: claims.fea } as never);
    return (parsed.orgPermissions as string[] | undefined) ?? [];
  } catch {
    return "throws";
  }
}

const seventy = Array.from({ length: 70 }, (_, i) => `p${i}`).join(",");

describe("decodeOrgPermissions (fea, o.per, o.fpm) matches Clerk's SDK", () => {
  const cases: { name: string; fea?: string; per?: string; fpm?: string; expected: string[] | undefined }[] = [
    {
      name: "the example in Clerk's docs",
      fea: "o:dashboard,o:teams",
      per: "manage,read",
      fpm: "3,2",
      expected: ["org:dashboard:manage", "org:dashboard:read", "org:teams:read"],
    },
    { name: "one feature, one permission", fea: "o:voice", per: "write", fpm: "1", expected: ["org:voice:write"] },
    { name: "mask 0 grants nothing", fea: "o:voice", per: "write,read", fpm: "0", expected: [] },
    {
      name: "user features are not organisation features (and do not shift the masks)",
      fea: "u:billing,o:dashboard,ou:teams,uo:chat",
      per: "manage,read",
      fpm: "1,2,3",
      expected: ["org:dashboard:manage", "org:teams:read", "org:chat:manage", "org:chat:read"],
    },
    { name: "unknown scopes are skipped", fea: "x:ghost,o:agents", per: "read", fpm: "1", expected: ["org:agents:read"] },
    { name: "fewer masks than features", fea: "o:a,o:b", per: "x,y", fpm: "2", expected: ["org:a:y"] },
    { name: "more masks than features", fea: "o:a", per: "x,y", fpm: "1,3,3", expected: ["org:a:x"] },
    { name: "mask bits beyond the permissions are ignored", fea: "o:a", per: "x", fpm: "7", expected: ["org:a:x"] },
    { name: "a non-decimal mask grants nothing", fea: "o:a,o:b", per: "x", fpm: "one,1", expected: ["org:b:x"] },
    { name: "a negative mask grants nothing", fea: "o:a", per: "x", fpm: "-1", expected: [] },
    { name: "leading zeros", fea: "o:a", per: "x,y", fpm: "002", expected: ["org:a:y"] },
    { name: "spaces are trimmed", fea: " o:a , o:b ", per: "x, y", fpm: " 3 , 2 ", expected: ["org:a:x", "org:a:y", "org:b:y"] },
    { name: "masks wider than 53 bits", fea: "o:big", per: seventy, fpm: (2n ** 69n + 1n).toString(), expected: ["org:big:p0", "org:big:p69"] },
    { name: "no per", fea: "o:a", fpm: "1", expected: [] },
    { name: "no fpm", fea: "o:a", per: "x", expected: [] },
    { name: "no fea", per: "x", fpm: "1", expected: [] },
    { name: "empty fea", fea: "", per: "x", fpm: "1", expected: [] },
    { name: "a fea element without a scope is malformed", fea: "dashboard", per: "x", fpm: "1", expected: undefined },
  ];
  it.each(cases)("$name", ({ fea, per, fpm, expected }) => {
    expect(decodeOrgPermissions({ fea, per, fpm })).toEqual(expected);
    expect(clerkPermissions({ fea, per, fpm })).toEqual(expected ?? "throws");
  });
});

describe("encodeOrgPermissions", () => {
  it.each([
    [["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]],
    [["org:voice:write"]],
    [["org:chat:write", "org:agents:read", "org:voice:write", "org:voice:read"]],
  ])("round-trips %j through Clerk's decoder", (permissions) => {
    const encoded = encodeOrgPermissions(permissions);
    expect(clerkPermissions(encoded)).toEqual(expect.arrayContaining(permissions));
    expect((clerkPermissions(encoded) as string[]).length).toBe(permissions.length);
    expect(decodeOrgPermissions(encoded)?.slice().sort()).toEqual([...permissions].sort());
  });
  it("encodes the docs example as the docs do", () => {
    expect(encodeOrgPermissions(["org:dashboard:manage", "org:dashboard:read", "org:teams:read"])).toEqual({
      fea: "o:dashboard,o:teams",
      per: "manage,read",
      fpm: "3,2",
    });
  });
  it("ignores other shapes and encodes nothing for none", () => {
    expect(encodeOrgPermissions(["admin", "org:x"])).toEqual({});
  });
});

describe("checkTokenHeader", () => {
  const algorithms = ["RS256"];
  it.each([
    { header: { alg: "RS256", kid: "ins_1" }, ok: true },
    { header: { alg: "none", kid: "ins_1" }, detail: DETAIL.algorithm },
    { header: { alg: "HS256", kid: "ins_1" }, detail: DETAIL.hmacNotConfigured },
    { header: { alg: "HS256" }, detail: DETAIL.hmacNotConfigured },
    { header: { alg: "RS512", kid: "ins_1" }, detail: DETAIL.algorithm },
    { header: { kid: "ins_1" }, detail: DETAIL.algorithm },
    { header: { alg: ["RS256"], kid: "ins_1" }, detail: DETAIL.algorithm },
    { header: { alg: "RS256" }, detail: DETAIL.noKid },
    { header: { alg: "RS256", kid: "" }, detail: DETAIL.noKid },
    { header: { alg: "RS256", kid: 7 }, detail: DETAIL.noKid },
    { header: { alg: "RS256", kid: "k".repeat(257) }, detail: DETAIL.noKid },
  ])("$header", ({ header, ok, detail }) => {
    const result = checkTokenHeader(header, algorithms);
    if (ok) expect(result).toEqual({ ok: true, route: { kind: "jwks", ...header } });
    else expect(result).toEqual({ ok: false, detail });
  });
  it("follows the configured allowlist", () => {
    expect(checkTokenHeader({ alg: "ES256", kid: "k" }, ["RS256", "ES256"]).ok).toBe(true);
  });
  it.each([
    { header: { alg: "HS256" }, route: { kind: "hmac", alg: "HS256" } },
    // A JWKS kid is never tried against the shared secret, whatever the kid.
    { header: { alg: "HS256", kid: "ins_1" }, detail: DETAIL.hmacWithKid },
    { header: { alg: "HS256", kid: "" }, detail: DETAIL.hmacWithKid },
    // Only the pinned HMAC algorithm.
    { header: { alg: "HS512" }, detail: DETAIL.algorithm },
    // An asymmetric token never reaches the HMAC key: without a kid it is refused, not re-routed.
    { header: { alg: "RS256" }, detail: DETAIL.noKid },
    { header: { alg: "RS256", kid: "ins_1" }, route: { kind: "jwks", alg: "RS256", kid: "ins_1" } },
    { header: { alg: "none" }, detail: DETAIL.algorithm },
  ])("with an HS256 template key: $header", ({ header, route, detail }) => {
    const result = checkTokenHeader(header, algorithms, "HS256");
    expect(result).toEqual(route ? { ok: true, route } : { ok: false, detail });
  });
});

describe("isNonSessionToken", () => {
  const session = { sub: "user_1" };
  it.each([
    { name: "plain session token", header: { typ: "JWT" }, payload: session, expected: false },
    { name: "no typ", header: {}, payload: session, expected: false },
    { name: "session category", header: { cat: JWT_CATEGORY_SESSION_TOKEN }, payload: session, expected: false },
    { name: "ignore category", header: { cat: JWT_CATEGORY_IGNORE }, payload: session, expected: false },
    { name: "JWT-template category", header: { cat: "cl_B7d4PD222AAA" }, payload: session, expected: true },
    { name: "M2M category", header: { cat: "cl_B7d4PD333AAA" }, payload: session, expected: true },
    { name: "unknown category", header: { cat: "cl_other" }, payload: session, expected: true },
    { name: "OAuth access token typ", header: { typ: "at+jwt" }, payload: session, expected: true },
    { name: "OAuth access token media type", header: { typ: "application/at+jwt" }, payload: session, expected: true },
    { name: "machine subject", header: { typ: "JWT" }, payload: { sub: "mch_2abc" }, expected: true },
  ])("$name → $expected", ({ header, payload, expected }) => {
    expect(isNonSessionToken(header, payload)).toBe(expected);
  });
});

describe("checkSessionClaims", () => {
  const now = 1_800_000_000;
  const policy: ClaimsPolicy = {
    authorizedParties: new Set(["https://app.example.com"]),
    allowMissingAzp: false,
    clockSkewSeconds: 5,
  };
  const header = { alg: "RS256", kid: "ins_1", typ: "JWT" };
  const v2 = {
    v: 2,
    iss: "https://clerk.example.com",
    sub: "user_2abc",
    sid: "sess_2abc",
    azp: "https://app.example.com",
    iat: now,
    nbf: now - 10,
    exp: now + 60,
    fea: "o:voice",
    o: { id: "org_2abc", rol: "member", slg: "acme", per: "write", fpm: "1" },
  };
  const v1 = {
    iss: "https://clerk.example.com",
    sub: "user_1abc",
    sid: "sess_1abc",
    azp: "https://app.example.com",
    iat: now,
    nbf: now - 10,
    exp: now + 60,
    org_id: "org_1abc",
    org_role: "org:admin",
    org_permissions: ["org:chat:write"],
  };

  it("maps v2 claims to the session", () => {
    expect(checkSessionClaims(header, v2, policy, now)).toEqual({
      ok: true,
      session: {
        userId: "user_2abc",
        sessionId: "sess_2abc",
        orgId: "org_2abc",
        orgRole: "org:member",
        orgPermissions: ["org:voice:write"],
        expiresAt: now + 60,
        version: 2,
      },
    });
  });
  it("maps v1 claims to the session", () => {
    expect(checkSessionClaims(header, v1, policy, now)).toEqual({
      ok: true,
      session: {
        userId: "user_1abc",
        sessionId: "sess_1abc",
        orgId: "org_1abc",
        orgRole: "org:admin",
        orgPermissions: ["org:chat:write"],
        expiresAt: now + 60,
        version: 1,
      },
    });
  });
  it("agrees with Clerk's parser on organisation, role and permissions", () => {
    for (const claims of [v2, v1]) {
      const ours = checkSessionClaims(header, claims, policy, now);
      const clerk = clerkParse(claims as never);
      expect(ours.ok && [ours.session.orgId, ours.session.orgRole, ours.session.orgPermissions]).toEqual([
        clerk.orgId,
        clerk.orgRole,
        clerk.orgPermissions,
      ]);
    }
  });

  const rows: { name: string; claims?: Record<string, unknown>; header?: Record<string, unknown>; detail: string; code?: string }[] = [
    { name: "JWT-template category (no aud)", header: { cat: "cl_B7d4PD222AAA" }, detail: DETAIL.noAudience },
    { name: "M2M category", header: { cat: "cl_B7d4PD333AAA" }, detail: DETAIL.notSession },
    { name: "OAuth access token", header: { typ: "at+jwt" }, detail: DETAIL.notSession },
    { name: "machine subject", claims: { sub: "mch_2abc" }, detail: DETAIL.notSession },
    { name: "template token (no sid, no aud)", claims: { sid: undefined }, detail: DETAIL.noAudience },
    { name: "a session token with aud", claims: { aud: "agntix" }, detail: DETAIL.sessionWithAud },
    { name: "sid of another kind", claims: { sid: "client_2abc" }, detail: DETAIL.notSession },
    { name: "no exp", claims: { exp: undefined }, detail: DETAIL.times },
    { name: "no nbf", claims: { nbf: undefined }, detail: DETAIL.times },
    { name: "no iat", claims: { iat: undefined }, detail: DETAIL.times },
    { name: "exp as a string", claims: { exp: String(now + 60) }, detail: DETAIL.times },
    { name: "iat beyond the skew", claims: { iat: now + 6 }, detail: DETAIL.notYetValid },
    { name: "no azp", claims: { azp: undefined }, detail: DETAIL.noAzp },
    { name: "empty azp", claims: { azp: "" }, detail: DETAIL.azp },
    { name: "azp not listed", claims: { azp: "https://evil.example.com" }, detail: DETAIL.azp },
    { name: "azp not a string", claims: { azp: ["https://app.example.com"] }, detail: DETAIL.azp },
    { name: "no sub", claims: { sub: undefined }, detail: DETAIL.subject },
    { name: "sub not a user", claims: { sub: "org_2abc" }, detail: DETAIL.subject },
    { name: "sub with a header-breaking character", claims: { sub: "user_2abc\r\nx: y" }, detail: DETAIL.subject },
    { name: "version 3", claims: { v: 3 }, detail: DETAIL.version },
    { name: "version as a string", claims: { v: "2" }, detail: DETAIL.version },
    { name: "pending session", claims: { sts: "pending" }, detail: DETAIL.pending },
    { name: "unknown status", claims: { sts: "revoked" }, detail: DETAIL.status },
    { name: "o not an object", claims: { o: "org_2abc" }, detail: DETAIL.malformed },
    { name: "o.id malformed", claims: { o: { id: "org_2abc\n" } }, detail: DETAIL.malformed },
    { name: "o.rol not a string", claims: { o: { id: "org_2abc", rol: 1 } }, detail: DETAIL.malformed },
    { name: "fea malformed", claims: { fea: "voice" }, detail: DETAIL.malformed },
    { name: "fea not a string", claims: { fea: ["o:voice"] }, detail: DETAIL.malformed },
    { name: "no organisation (v2)", claims: { o: undefined }, detail: DETAIL.noOrg, code: "no_active_organization" },
    { name: "organisation without id (v2)", claims: { o: { rol: "admin" } }, detail: DETAIL.noOrg, code: "no_active_organization" },
  ];
  it.each(rows)("refuses: $name", ({ claims = {}, header: h = {}, detail, code = "invalid_token" }) => {
    const payload = Object.fromEntries(Object.entries({ ...v2, ...claims }).filter(([, v]) => v !== undefined));
    expect(checkSessionClaims({ ...header, ...h }, payload, policy, now)).toEqual({ ok: false, code, detail });
  });

  it.each([
    { name: "no organisation (v1)", claims: { org_id: undefined }, code: "no_active_organization", detail: DETAIL.noOrg },
    { name: "org_permissions not a list", claims: { org_permissions: "org:chat:write" }, code: "invalid_token", detail: DETAIL.malformed },
    { name: "org_role not a string", claims: { org_role: ["org:admin"] }, code: "invalid_token", detail: DETAIL.malformed },
    { name: "pending session", claims: { sts: "pending" }, code: "invalid_token", detail: DETAIL.pending },
  ])("refuses v1: $name", ({ claims, code, detail }) => {
    const payload = Object.fromEntries(Object.entries({ ...v1, ...claims }).filter(([, v]) => v !== undefined));
    expect(checkSessionClaims(header, payload, policy, now)).toEqual({ ok: false, code, detail });
  });

  it.each([
    { name: "iat within the skew", claims: { iat: now + 5 } },
    { name: "active status", claims: { sts: "active" } },
    { name: "ignore category", header: { cat: JWT_CATEGORY_IGNORE } },
    { name: "session category", header: { cat: JWT_CATEGORY_SESSION_TOKEN } },
    { name: "no typ", header: { typ: undefined } },
  ])("accepts: $name", ({ claims = {}, header: h = {} }) => {
    const fullHeader = Object.fromEntries(Object.entries({ ...header, ...h }).filter(([, v]) => v !== undefined));
    expect(checkSessionClaims(fullHeader, { ...v2, ...claims }, policy, now).ok).toBe(true);
  });

  it("accepts a token without azp only under the documented opt-in", () => {
    const { azp: _azp, ...claims } = v2;
    expect(checkSessionClaims(header, claims, policy, now).ok).toBe(false);
    expect(checkSessionClaims(header, claims, { ...policy, allowMissingAzp: true }, now).ok).toBe(true);
    // The opt-in never admits an unlisted party, an empty one included.
    expect(checkSessionClaims(header, { ...v2, azp: "" }, { ...policy, allowMissingAzp: true }, now).ok).toBe(false);
    expect(checkSessionClaims(header, { ...v2, azp: "https://evil.example.com" }, { ...policy, allowMissingAzp: true }, now)).toEqual({
      ok: false,
      code: "invalid_token",
      detail: DETAIL.azp,
    });
  });

  it("prefixes the v2 role like Clerk does, and keeps v1 roles as they are", () => {
    const r2 = checkSessionClaims(header, { ...v2, o: { id: "org_2abc", rol: "admin" } }, policy, now);
    expect(r2.ok && r2.session.orgRole).toBe("org:admin");
    const r2none = checkSessionClaims(header, { ...v2, o: { id: "org_2abc" } }, policy, now);
    expect(r2none.ok && r2none.session.orgRole).toBe(undefined);
    expect(r2none.ok && r2none.session.orgPermissions).toEqual([]);
  });
});

describe("tokenKind: told apart by audience", () => {
  it.each([
    { name: "no aud", header: {}, payload: { sid: "sess_1" }, kind: "session" },
    { name: "aud, no session marks", header: { cat: JWT_CATEGORY_JWT_TEMPLATE }, payload: { aud: "agntix" }, kind: "template" },
    { name: "aud and sid", header: {}, payload: { aud: "agntix", sid: "sess_1" }, kind: "session_with_aud" },
    { name: "aud and v", header: {}, payload: { aud: "agntix", v: 2 }, kind: "session_with_aud" },
    { name: "aud and the session category", header: { cat: JWT_CATEGORY_SESSION_TOKEN }, payload: { aud: "agntix" }, kind: "session_with_aud" },
  ])("$name → $kind", ({ header, payload, kind }) => {
    expect(tokenKind(header, payload)).toBe(kind);
  });
});

describe("checkTemplateClaims", () => {
  const now = 1_800_000_000;
  const policy: TemplatePolicy = {
    authorizedParties: new Set(["https://app.example.com"]),
    allowMissingAzp: false,
    clockSkewSeconds: 5,
    maxLifetimeSeconds: 600,
  };
  const header = { alg: "RS256", kid: "ins_1", typ: "JWT", cat: JWT_CATEGORY_JWT_TEMPLATE };
  // What Clerk mints from the `agntix` template: default claims plus the template's.
  const template = {
    aud: "agntix",
    azp: "https://app.example.com",
    exp: now + 60,
    iat: now,
    iss: "https://clerk.example.com",
    jti: "a1b2c3",
    nbf: now - 5,
    sub: "user_2abc",
    org_id: "org_2abc",
    org_slug: "acme",
    org_role: "org:member",
    org_permissions: ["org:voice:write"],
  };
  const check = (claims: Record<string, unknown> = {}, h: Record<string, unknown> = {}) => {
    const payload = Object.fromEntries(Object.entries({ ...template, ...claims }).filter(([, v]) => v !== undefined));
    const fullHeader = Object.fromEntries(Object.entries({ ...header, ...h }).filter(([, v]) => v !== undefined));
    return checkTemplateClaims(fullHeader, payload, policy, now);
  };

  it("maps the template's organisation claims like a v1 session's", () => {
    expect(check()).toEqual({
      ok: true,
      session: { userId: "user_2abc", orgId: "org_2abc", orgRole: "org:member", orgPermissions: ["org:voice:write"], expiresAt: now + 60 },
    });
  });

  it.each([
    { name: "no cat", header: { cat: undefined } },
    { name: "ignore category", header: { cat: JWT_CATEGORY_IGNORE } },
    { name: "lifetime exactly the maximum", claims: { exp: now + 600 } },
    { name: "role without the org: prefix", claims: { org_role: "admin" } },
    { name: "null permissions", claims: { org_permissions: null } },
  ])("accepts: $name", ({ claims, header: h }) => {
    expect(check(claims, h).ok).toBe(true);
  });

  it.each([
    { name: "over-long lifetime", claims: { exp: now + 601 }, detail: lifetimeDetail(600) },
    { name: "session category", header: { cat: JWT_CATEGORY_SESSION_TOKEN }, detail: DETAIL.sessionWithAud },
    { name: "a session's sid", claims: { sid: "sess_2abc" }, detail: DETAIL.sessionWithAud },
    { name: "M2M category", header: { cat: "cl_B7d4PD333AAA" }, detail: DETAIL.notTemplate },
    { name: "OAuth access token", header: { typ: "at+jwt" }, detail: DETAIL.notTemplate },
    { name: "machine subject", claims: { sub: "mch_2abc" }, detail: DETAIL.notTemplate },
    { name: "sub not a user", claims: { sub: "org_2abc" }, detail: DETAIL.subject },
    { name: "no azp", claims: { azp: undefined }, detail: DETAIL.noAzp },
    { name: "azp not listed", claims: { azp: "https://evil.example.com" }, detail: DETAIL.azp },
    { name: "iat in the future", claims: { iat: now + 6 }, detail: DETAIL.notYetValid },
    { name: "no iat", claims: { iat: undefined }, detail: DETAIL.times },
    { name: "an unexpanded shortcode", claims: { org_permissions: "{{org.permissions}}" }, detail: DETAIL.malformed },
    { name: "org_id malformed", claims: { org_id: "org_x\r\nx: y" }, detail: DETAIL.malformed },
    { name: "org_role not a string", claims: { org_role: 1 }, detail: DETAIL.malformed },
  ])("refuses: $name", ({ claims, header: h, detail }) => {
    expect(check(claims, h)).toEqual({ ok: false, code: "invalid_token", detail });
  });

  it("no active organisation: Clerk fills the shortcodes with null → no_active_organization", () => {
    for (const org_id of [null, undefined, ""]) {
      expect(check({ org_id, org_slug: null, org_role: null, org_permissions: null })).toEqual({
        ok: false,
        code: "no_active_organization",
        detail: DETAIL.noOrg,
      });
    }
  });

  it("organisationTemplate keeps a prefixed role and prefixes a bare one", () => {
    expect(organisationTemplate({ org_id: "org_1", org_role: "org:admin" })).toEqual({ orgId: "org_1", orgRole: "org:admin", orgPermissions: [] });
    expect(organisationTemplate({ org_id: "org_1", org_role: "admin" })).toEqual({ orgId: "org_1", orgRole: "org:admin", orgPermissions: [] });
    expect(organisationTemplate({ org_id: "org_1", org_role: null })).toEqual({ orgId: "org_1", orgRole: undefined, orgPermissions: [] });
  });
});
