/**
 * JWT-template tokens (`getToken({ template: "agntix" })`) through the whole gateway: accepted
 * with the same identity as a session token, told apart by `aud`, bounded in lifetime, and the
 * optional custom HMAC key (`CLERK_TEMPLATE_SIGNING_KEY`) with its algorithm-confusion guards.
 */
import { exports } from "cloudflare:workers";
import { exportSPKI, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import {
  bearer,
  defaultSigningKey,
  gatewayWith,
  hmacTemplateToken,
  invalidTokenChallenge,
  newSigningKey,
  problem,
  sign,
  templateClaims,
  templateToken,
  TEMPLATE_HEADER,
  unsignedToken,
  v1Claims,
  withPayload,
} from "../helpers/jwt";

const call = (path: string, init: RequestInit = {}) => exports.default.fetch(`https://gw.test${path}`, init);
const now = () => Math.floor(Date.now() / 1000);

interface Echo {
  service: string;
  headers: Record<string, string>;
}

const IDENTITY_HEADERS = ["x-agntix-org-id", "x-agntix-auth-method", "x-agntix-principal-id", "x-agntix-scopes"] as const;

async function identityOf(res: Response): Promise<Record<string, string | undefined>> {
  expect(res.status).toBe(200);
  const echo = (await res.json()) as Echo;
  expect(echo.headers["authorization"]).toBeUndefined();
  return Object.fromEntries(IDENTITY_HEADERS.map((h) => [h, echo.headers[h]]));
}

async function expectInvalidToken(res: Response, detail: string): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe(invalidTokenChallenge(detail));
  const body = await problem(res);
  expect(body.code).toBe("invalid_token");
  expect(body.detail).toBe(detail);
}

const D = {
  audience: "The token's audience (aud) is not accepted.",
  noAudience: "The token has no audience (aud) and no session id (sid): it is neither a JWT-template token nor a session token.",
  sessionWithAud: "The token is a session token that carries an audience (aud); session tokens must not.",
  lifetime: (max: number) => `The token's lifetime (exp - iat) exceeds ${max} seconds.`,
  issuer: "The token was issued by another issuer.",
  signature: "The token's signature is invalid.",
  unknownKey: "The token is signed by an unknown key.",
  hmacNotConfigured:
    "The token is signed with a shared-secret (HMAC) algorithm; this gateway accepts that only from a JWT template whose custom signing key it has been given, and it has none.",
  hmacWithKid: "An HMAC-signed template token must not name a key id (kid): key ids belong to the instance's JWKS.",
  hmacSession: "HMAC-signed tokens are accepted only as JWT-template tokens (with an audience, aud).",
  algorithm: "The token's algorithm is not accepted.",
  noKid: "The token has no key id (kid).",
  disabled: "JWT-template tokens (tokens with an audience, aud) are not accepted by this gateway.",
  notTemplate: "The token is not a Clerk JWT-template token.",
};

describe("a template token with the right audience", () => {
  it("reaches the origin with the same identity headers as a session token of the same user and role", async () => {
    const user = "user_2sameUser";
    for (const [role, permissions] of [
      ["org:member", []],
      ["org:admin", []],
      ["org:viewer", ["org:voice:write", "org:agents:read"]],
    ] as const) {
      const session = await sign(
        v1Claims({ sub: user, org_id: "org_same", org_role: role, org_permissions: [...permissions] }),
        await defaultSigningKey(),
      );
      const template = await templateToken({ sub: user, org_id: "org_same", org_role: role, org_permissions: [...permissions] });
      const viaSession = await identityOf(await call("/v1/voice", bearer(session)));
      const viaTemplate = await identityOf(await call("/v1/voice", bearer(template)));
      expect(viaTemplate).toEqual(viaSession);
      expect(viaTemplate["x-agntix-org-id"]).toBe("org_same");
      expect(viaTemplate["x-agntix-principal-id"]).toBe(user);
      expect(viaTemplate["x-agntix-auth-method"]).toBe("jwt");
    }
  });

  it("the same RBAC: a member cannot write voice, an admin can", async () => {
    const member = await call("/v1/voice", { method: "POST", body: "{}", ...bearer(await templateToken({ org_role: "org:member" })) });
    expect(member.status).toBe(403);
    expect((await problem(member)).code).toBe("insufficient_scope");
    const admin = await call("/v1/voice", { method: "POST", body: "{}", ...bearer(await templateToken({ org_role: "org:admin" })) });
    expect(admin.status).toBe(200);
  });

  it("a role without the org: prefix maps like v2 session roles", async () => {
    const bare = await identityOf(await call("/v1/chat", bearer(await templateToken({ org_role: "admin" }))));
    const prefixed = await identityOf(await call("/v1/chat", bearer(await templateToken({ org_role: "org:admin" }))));
    expect(bare).toEqual(prefixed);
  });

  it("accepts an aud list that contains an accepted audience, and the configured audiences only", async () => {
    expect((await call("/v1/chat", bearer(await templateToken({ aud: ["other", "agntix"] })))).status).toBe(200);
    const custom = gatewayWith({ CLERK_TEMPLATE_AUDIENCES: "agntix-staging, agntix-eu" });
    expect((await custom.fetch("/v1/chat", bearer(await templateToken({ aud: "agntix-eu" })))).status).toBe(200);
    await expectInvalidToken(await custom.fetch("/v1/chat", bearer(await templateToken({ aud: "agntix" }))), D.audience);
  });

  it("no active organisation (the shortcodes filled with null) → 403 no_active_organization", async () => {
    const token = await templateToken({ org_id: null, org_slug: null, org_role: null, org_permissions: null });
    const res = await call("/v1/chat", bearer(token));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="agntix", error="insufficient_scope", error_description="The session has no active organization."',
    );
    expect((await problem(res)).code).toBe("no_active_organization");
  });

  it("tolerates the same 5 s of clock skew as session tokens", async () => {
    const token = await templateToken({ exp: now() - 3, nbf: now() + 4, iat: now() - 60 });
    expect((await call("/v1/chat", bearer(token))).status).toBe(200);
  });
});

describe("template tokens refused → 401 invalid_token naming the reason", () => {
  const cases: { name: string; token: () => Promise<string>; detail: string }[] = [
    { name: "wrong audience", token: () => templateToken({ aud: "convex" }), detail: D.audience },
    { name: "empty audience list", token: () => templateToken({ aud: [] }), detail: D.audience },
    { name: "missing audience (no aud, no sid)", token: () => templateToken({ aud: undefined }), detail: D.noAudience },
    { name: "over-long lifetime (a template set to 1 h)", token: () => templateToken({ iat: now(), exp: now() + 3600 }), detail: D.lifetime(600) },
    { name: "older than any accepted lifetime", token: () => templateToken({ iat: now() - 700, nbf: now() - 700, exp: now() + 30 }), detail: D.lifetime(600) },
    { name: "another instance's issuer", token: () => templateToken({ iss: "https://clerk.other-instance.test" }), detail: D.issuer },
    { name: "expired", token: () => templateToken({ iat: now() - 120, nbf: now() - 120, exp: now() - 60 }), detail: "The token has expired." },
    { name: "azp not listed", token: () => templateToken({ azp: "https://evil.test" }), detail: "The token's authorized party (azp) is not accepted." },
    { name: "a session token carrying aud agntix", token: async () => sign(v1Claims({ aud: "agntix" }), await defaultSigningKey()), detail: D.sessionWithAud },
    { name: "the session category with aud", token: () => templateToken({}, { cat: "cl_B7d4PD111AAA" }), detail: D.sessionWithAud },
    { name: "the M2M category with aud", token: () => templateToken({}, { cat: "cl_B7d4PD333AAA" }), detail: D.notTemplate },
    { name: "an unexpanded shortcode", token: () => templateToken({ org_permissions: "{{org.permissions}}" }), detail: "The token's claims are malformed." },
  ];
  it.each(cases)("$name", async ({ token, detail }) => {
    await expectInvalidToken(await call("/v1/chat", bearer(await token())), detail);
  });

  it("a template token from another instance (its own key, unknown here)", async () => {
    const otherInstance = await newSigningKey();
    await expectInvalidToken(await call("/v1/chat", bearer(await sign(templateClaims(), otherInstance, TEMPLATE_HEADER))), D.unknownKey);
    // Under this instance's kid, another key's signature is just invalid.
    const { kid } = await defaultSigningKey();
    const forged = await sign(templateClaims(), await newSigningKey(kid), TEMPLATE_HEADER);
    await expectInvalidToken(await call("/v1/chat", bearer(forged)), D.signature);
  });

  it("a tampered template (another org, admin) keeps the signature check", async () => {
    const token = await templateToken({ org_id: "org_small", org_role: "org:member" });
    const forged = withPayload(token, templateClaims({ org_id: "org_victim", org_role: "org:admin" }));
    await expectInvalidToken(await call("/v1/chat", bearer(forged)), D.signature);
  });

  it("a template token with a custom (HMAC) key when none is configured", async () => {
    const token = await hmacTemplateToken(templateClaims(), "a-custom-template-signing-key-of-32+bytes");
    await expectInvalidToken(await call("/v1/chat", bearer(token)), D.hmacNotConfigured);
  });

  it("CLERK_TEMPLATE_TOKENS=false refuses every template token, and session tokens still pass", async () => {
    const off = gatewayWith({ CLERK_TEMPLATE_TOKENS: "false" });
    await expectInvalidToken(await off.fetch("/v1/chat", bearer(await templateToken())), D.disabled);
    expect((await off.fetch("/v1/chat", bearer(await sign(v1Claims(), await defaultSigningKey())))).status).toBe(200);
  });
});

describe("the custom HMAC key (CLERK_TEMPLATE_SIGNING_KEY)", () => {
  const SECRET = "agntix-template-hmac-secret-0123456789abcdef";
  const hs = () => gatewayWith({ CLERK_TEMPLATE_SIGNING_KEY: SECRET });

  it("accepts an HS256 template token signed with the configured key, with the same identity", async () => {
    const gateway = hs();
    const viaHmac = await identityOf(await gateway.fetch("/v1/chat", bearer(await hmacTemplateToken(templateClaims(), SECRET))));
    const viaJwks = await identityOf(await gateway.fetch("/v1/chat", bearer(await templateToken())));
    expect(viaHmac).toEqual(viaJwks);
  });

  it("still applies audience, lifetime, issuer and organisation rules", async () => {
    const gateway = hs();
    await expectInvalidToken(await gateway.fetch("/v1/chat", bearer(await hmacTemplateToken(templateClaims({ aud: "convex" }), SECRET))), D.audience);
    await expectInvalidToken(
      await gateway.fetch("/v1/chat", bearer(await hmacTemplateToken(templateClaims({ exp: now() + 3600 }), SECRET))),
      D.lifetime(600),
    );
    await expectInvalidToken(
      await gateway.fetch("/v1/chat", bearer(await hmacTemplateToken(templateClaims({ iss: "https://clerk.other.test" }), SECRET))),
      D.issuer,
    );
    const noOrg = await gateway.fetch("/v1/chat", bearer(await hmacTemplateToken(templateClaims({ org_id: null }), SECRET)));
    expect(noOrg.status).toBe(403);
    expect((await problem(noOrg)).code).toBe("no_active_organization");
  });

  it("another secret's signature is invalid", async () => {
    const token = await hmacTemplateToken(templateClaims(), "another-secret-of-at-least-thirty-two-bytes");
    await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.signature);
  });

  describe("algorithm confusion", () => {
    it("HS256 'signed' with the instance's RSA public key (PEM or JWK bytes) under its JWKS kid is refused", async () => {
      const key = await defaultSigningKey();
      const pem = await exportSPKI((await importJWK(key.publicJwk, "RS256")) as CryptoKey);
      for (const secret of [new TextEncoder().encode(pem), new TextEncoder().encode(JSON.stringify(key.publicJwk))]) {
        const token = await hmacTemplateToken(templateClaims(), secret, { kid: key.kid });
        await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.hmacWithKid);
        await expectInvalidToken(await gatewayWith().fetch("/v1/chat", bearer(token)), D.hmacNotConfigured);
      }
    });

    it("an HS256 token naming a JWKS kid is never tried against the shared secret, even when signed with it", async () => {
      const { kid } = await defaultSigningKey();
      const token = await hmacTemplateToken(templateClaims(), SECRET, { kid });
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.hmacWithKid);
    });

    it("HS256 signed with the RSA public key bytes and no kid fails the signature against the configured secret", async () => {
      const key = await defaultSigningKey();
      const pem = await exportSPKI((await importJWK(key.publicJwk, "RS256")) as CryptoKey);
      const token = await hmacTemplateToken(templateClaims(), new TextEncoder().encode(pem));
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.signature);
    });

    it("an RS256 token is never sent to the HMAC key: without a kid it is refused", async () => {
      const token = await sign(templateClaims(), await defaultSigningKey(), { ...TEMPLATE_HEADER, kid: undefined });
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.noKid);
    });

    it("an RS256 header over an HMAC signature made with the secret is refused", async () => {
      const { kid } = await defaultSigningKey();
      const hmac = await hmacTemplateToken(templateClaims(), SECRET);
      const [, payload, signature] = hmac.split(".");
      const header = btoa(JSON.stringify({ alg: "RS256", kid, typ: "JWT" })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(`${header}.${payload}.${signature}`)), D.signature);
    });

    it("only the pinned algorithm: HS512 with the same secret is refused", async () => {
      const token = await hmacTemplateToken(templateClaims(), SECRET, { alg: "HS512" });
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.algorithm);
    });

    it("the shared secret never signs a session token (no aud)", async () => {
      const token = await hmacTemplateToken(v1Claims(), SECRET);
      await expectInvalidToken(await hs().fetch("/v1/chat", bearer(token)), D.hmacSession);
    });

    it("alg none is refused with or without the key configured", async () => {
      const { kid } = await defaultSigningKey();
      for (const gateway of [hs(), gatewayWith()]) {
        await expectInvalidToken(await gateway.fetch("/v1/chat", bearer(unsignedToken(templateClaims(), kid))), D.algorithm);
      }
    });

    it("a JWKS-signed template token still works with the HMAC key configured", async () => {
      expect((await hs().fetch("/v1/chat", bearer(await templateToken()))).status).toBe(200);
    });
  });

  it("a misconfigured key fails closed at configuration time (503), never as a weaker check", async () => {
    const pem = await exportSPKI((await importJWK((await defaultSigningKey()).publicJwk, "RS256")) as CryptoKey);
    for (const bad of [{ CLERK_TEMPLATE_SIGNING_KEY: "short" }, { CLERK_TEMPLATE_SIGNING_KEY: pem }, { CLERK_TEMPLATE_SIGNING_ALGORITHM: "RS256" }]) {
      const res = await gatewayWith(bad).fetch("/v1/chat", bearer(await templateToken()));
      expect(res.status).toBe(503);
      expect((await problem(res)).code).toBe("gateway_misconfigured");
    }
  });
});
