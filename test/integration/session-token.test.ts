/**
 * Session tokens through the whole gateway (`exports.default`), against the default issuer's JWKS
 * served over HTTP by the stand-in IdP: v1 and v2 claims, scopes, each claim failure, forgeries,
 * template / machine / pending tokens and malformed headers.
 */
import { exports } from "cloudflare:workers";
import { CompactSign, exportSPKI, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { ALL_SCOPES } from "../../src/scopes";
import {
  APP_ORIGIN,
  b64url,
  bearer,
  defaultSigningKey,
  gatewayWith,
  hmacToken,
  invalidTokenChallenge,
  newSigningKey,
  problem,
  sessionToken,
  sign,
  unsignedToken,
  v1Claims,
  v2Claims,
  withPayload,
} from "../helpers/jwt";

const call = (path: string, init: RequestInit = {}) => exports.default.fetch(`https://gw.test${path}`, init);

interface Echo {
  service: string;
  headers: Record<string, string>;
}

async function expectInvalidToken(res: Response, detail: string): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe(invalidTokenChallenge(detail));
  expect(res.headers.get("x-request-id")).toBeTruthy();
  const body = await problem(res);
  expect(body.code).toBe("invalid_token");
  expect(body.detail).toBe(detail);
}

describe("a valid session token", () => {
  it("v2 admin: forwarded with the session's identity, every scope, and no Authorization", async () => {
    const token = await sessionToken();
    const res = await call("/v1/chat/agents", bearer(token, { cookie: "__session=x" }));
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.service).toBe("chat");
    expect(echo.headers["x-agntix-org-id"]).toBe("org_test");
    expect(echo.headers["x-agntix-auth-method"]).toBe("jwt");
    expect(echo.headers["x-agntix-principal-id"]).toBe("user_2testUser");
    expect(echo.headers["x-agntix-scopes"]).toBe(ALL_SCOPES.join(" "));
    expect(echo.headers["authorization"]).toBeUndefined();
    expect(echo.headers["cookie"]).toBeUndefined();
  });

  it("accepts the scheme in any case", async () => {
    const token = await sessionToken();
    const res = await call("/v1/voice", { headers: { authorization: `bEaReR ${token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).headers["x-agntix-auth-method"]).toBe("jwt");
  });

  it("v1 member: read-only plus chat:write, enforced by the same check as API keys", async () => {
    const key = await defaultSigningKey();
    const token = await sign(v1Claims({ org_id: "org_v1member" }), key);
    const chat = await call("/v1/chat", { method: "POST", body: "{}", ...bearer(token) });
    expect(chat.status).toBe(200);
    const echo = (await chat.json()) as Echo;
    expect(echo.headers["x-agntix-org-id"]).toBe("org_v1member");
    expect(echo.headers["x-agntix-principal-id"]).toBe("user_1testUser");
    expect(echo.headers["x-agntix-scopes"]).toBe("chat:read chat:write agents:read voice:read");

    const voice = await call("/v1/voice", { method: "POST", body: "{}", ...bearer(token) });
    expect(voice.status).toBe(403);
    expect(voice.headers.get("www-authenticate")).toBe(
      'Bearer realm="agntix", error="insufficient_scope", error_description="This session lacks the scope voice:write.", scope="voice:write"',
    );
    const body = await problem(voice);
    expect(body.code).toBe("insufficient_scope");
    expect(body["required_scopes"]).toEqual(["voice:write"]);
  });

  it("v2 permissions decoded from fea / o.per / o.fpm grant org:<resource>:<action> scopes", async () => {
    // A role with no grants of its own; voice:write (implying voice:read) and agents:read from permissions.
    const token = await sessionToken({
      fea: "u:billing,o:voice,o:agents",
      o: { id: "org_v2perms", rol: "viewer", per: "write,read", fpm: "1,2" },
    });
    const voice = await call("/v1/voice/calls", { method: "POST", body: "{}", ...bearer(token) });
    expect(voice.status).toBe(200);
    expect(((await voice.json()) as Echo).headers["x-agntix-scopes"]).toBe("agents:read voice:read voice:write");
    expect((await call("/v1/chat/agents", bearer(token))).status).toBe(200);
    const chat = await call("/v1/chat", bearer(token));
    expect(chat.status).toBe(403);
    expect((await problem(chat)).code).toBe("insufficient_scope");
  });

  it("v1 org_permissions grant scopes too; unknown permissions grant nothing", async () => {
    const key = await defaultSigningKey();
    const token = await sign(
      v1Claims({ org_role: "org:viewer", org_permissions: ["org:voice:write", "org:billing:manage", "org:chat:delete"] }),
      key,
    );
    const res = await call("/v1/voice", { method: "POST", body: "{}", ...bearer(token) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).headers["x-agntix-scopes"]).toBe("voice:read voice:write");
  });

  it("no active organisation → 403 no_active_organization", async () => {
    for (const token of [await sessionToken({ o: undefined }), await sign(v1Claims({ org_id: undefined }), await defaultSigningKey())]) {
      const res = await call("/v1/chat", bearer(token));
      expect(res.status).toBe(403);
      expect(res.headers.get("www-authenticate")).toBe(
        'Bearer realm="agntix", error="insufficient_scope", error_description="The session has no active organization."',
      );
      expect((await problem(res)).code).toBe("no_active_organization");
    }
  });

  it("a pending session is refused, even with an organisation", async () => {
    await expectInvalidToken(await call("/v1/chat", bearer(await sessionToken({ sts: "pending" }))), "The session is pending; finish signing in first.");
  });
});

describe("claim failures (after a valid signature) → 401 invalid_token", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: { name: string; claims?: () => Record<string, unknown>; header?: Record<string, unknown>; detail: string }[] = [
    { name: "another issuer", claims: () => ({ iss: "https://clerk.evil.test" }), detail: "The token was issued by another issuer." },
    { name: "expired", claims: () => ({ exp: now() - 6, iat: now() - 70, nbf: now() - 70 }), detail: "The token has expired." },
    { name: "not yet valid (nbf)", claims: () => ({ nbf: now() + 30 }), detail: "The token is not valid yet." },
    { name: "issued in the future (iat)", claims: () => ({ iat: now() + 30 }), detail: "The token is not valid yet." },
    { name: "no exp", claims: () => ({ exp: undefined }), detail: "The token lacks exp, nbf or iat." },
    { name: "no azp", claims: () => ({ azp: undefined }), detail: "The token has no authorized party (azp)." },
    { name: "azp not listed", claims: () => ({ azp: "https://evil.test" }), detail: "The token's authorized party (azp) is not accepted." },
    { name: "no sub", claims: () => ({ sub: undefined }), detail: "The token's subject is not a Clerk user." },
    { name: "JWT-template token without aud (no sid)", claims: () => ({ sid: undefined }), detail: "The token has no audience (aud) and no session id (sid): it is neither a JWT-template token nor a session token." },
    { name: "a session token carrying aud", claims: () => ({ aud: "agntix" }), detail: "The token is a session token that carries an audience (aud); session tokens must not." },
    { name: "a session token carrying another aud", claims: () => ({ aud: "https://elsewhere.test" }), detail: "The token is a session token that carries an audience (aud); session tokens must not." },
    { name: "issuer with a trailing slash", claims: () => ({ iss: "https://clerk.agntix.test/" }), detail: "The token was issued by another issuer." },
    { name: "no issuer", claims: () => ({ iss: undefined }), detail: "The token was issued by another issuer." },
    { name: "no nbf", claims: () => ({ nbf: undefined }), detail: "The token lacks exp, nbf or iat." },
    { name: "no iat", claims: () => ({ iat: undefined }), detail: "The token lacks exp, nbf or iat." },
    { name: "exp as a string", claims: () => ({ exp: String(now() + 60) }), detail: "The token lacks exp, nbf or iat." },
    { name: "JWT-template category without aud", header: { cat: "cl_B7d4PD222AAA" }, detail: "The token has no audience (aud) and no session id (sid): it is neither a JWT-template token nor a session token." },
    { name: "M2M category", header: { cat: "cl_B7d4PD333AAA" }, detail: "The token is not a Clerk session token." },
    { name: "machine token (mch_ subject)", claims: () => ({ sub: "mch_2machine" }), detail: "The token is not a Clerk session token." },
    { name: "OAuth access token (typ at+jwt)", header: { typ: "at+jwt" }, detail: "The token is not a Clerk session token." },
    { name: "unsupported claims version", claims: () => ({ v: 3 }), detail: "The token's claims version is not supported." },
    { name: "pending session", claims: () => ({ sts: "pending" }), detail: "The session is pending; finish signing in first." },
    { name: "malformed fea", claims: () => ({ fea: "voice" }), detail: "The token's claims are malformed." },
    { name: "malformed organisation", claims: () => ({ o: { id: "org_x\r\nx-agntix-org-id: org_victim" } }), detail: "The token's claims are malformed." },
  ];
  it.each(cases)("$name", async ({ claims, header = {}, detail }) => {
    const token = await sessionToken(claims?.() ?? {}, header);
    await expectInvalidToken(await call("/v1/chat", bearer(token)), detail);
  });

  it("tolerates 5 s of clock skew", async () => {
    const token = await sessionToken({ exp: now() - 3, nbf: now() + 4, iat: now() + 4 });
    expect((await call("/v1/chat", bearer(token))).status).toBe(200);
  });

  it("a token without azp passes only under the documented opt-in (CLERK_ALLOW_MISSING_AZP)", async () => {
    const token = await sessionToken({ azp: undefined });
    const optIn = gatewayWith({ CLERK_ALLOW_MISSING_AZP: "true" });
    expect((await optIn.fetch("/v1/chat", bearer(token))).status).toBe(200);
    // The opt-in never admits a party that is not listed.
    const res = await optIn.fetch("/v1/chat", bearer(await sessionToken({ azp: "https://evil.test" })));
    await expectInvalidToken(res, "The token's authorized party (azp) is not accepted.");
  });

  it("accepts the session category and Clerk's 'ignore' category", async () => {
    for (const cat of ["cl_B7d4PD111AAA", "cl_I7d4PD111III"]) {
      expect((await call("/v1/chat", bearer(await sessionToken({}, { cat })))).status).toBe(200);
    }
  });
});

describe("forgeries → 401 invalid_token", () => {
  it("alg none", async () => {
    const { kid } = await defaultSigningKey();
    await expectInvalidToken(await call("/v1/chat", bearer(unsignedToken(v2Claims(), kid))), "The token's algorithm is not accepted.");
  });

  it("HS256 'signed' with the issuer's public key (algorithm confusion)", async () => {
    const key = await defaultSigningKey();
    const pem = await exportSPKI((await importJWK(key.publicJwk, "RS256")) as CryptoKey);
    for (const secret of [new TextEncoder().encode(pem), new TextEncoder().encode(JSON.stringify(key.publicJwk))]) {
      const token = await hmacToken(v2Claims(), secret, key.kid);
      await expectInvalidToken(await call("/v1/chat", bearer(token)), "The token is signed with a shared-secret (HMAC) algorithm; this gateway accepts that only from a JWT template whose custom signing key it has been given, and it has none.");
    }
  });

  it("a foreign key under the published kid", async () => {
    const { kid } = await defaultSigningKey();
    const foreign = await newSigningKey(kid);
    await expectInvalidToken(await call("/v1/chat", bearer(await sign(v2Claims(), foreign))), "The token's signature is invalid.");
  });

  it("a tampered payload (member → admin of another org)", async () => {
    const token = await sessionToken({ o: { id: "org_small", rol: "member" } });
    const forged = withPayload(token, v2Claims({ o: { id: "org_victim", rol: "admin" } }));
    await expectInvalidToken(await call("/v1/chat", bearer(forged)), "The token's signature is invalid.");
  });

  it("the signature is checked before any claim-specific message", async () => {
    const { kid } = await defaultSigningKey();
    const foreign = await newSigningKey(kid);
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [
      v2Claims({ exp: now - 3600 }),
      v2Claims({ iss: "https://clerk.evil.test" }),
      v2Claims({ sid: undefined }),
      v2Claims({ o: undefined }),
    ]) {
      await expectInvalidToken(await call("/v1/chat", bearer(await sign(claims, foreign))), "The token's signature is invalid.");
    }
  });

  it("a key the issuer never published", async () => {
    const stranger = await newSigningKey();
    await expectInvalidToken(await call("/v1/chat", bearer(await sign(v2Claims(), stranger))), "The token is signed by an unknown key.");
  });

  it("no kid", async () => {
    const token = await sessionToken({}, { kid: undefined });
    await expectInvalidToken(await call("/v1/chat", bearer(token)), "The token has no key id (kid).");
  });

  it("a correctly signed payload that is not JSON", async () => {
    const key = await defaultSigningKey();
    const token = await new CompactSign(new TextEncoder().encode("not json"))
      .setProtectedHeader({ alg: "RS256", kid: key.kid })
      .sign(key.privateKey);
    await expectInvalidToken(await call("/v1/chat", bearer(token)), "The token is malformed.");
  });
});

describe("malformed Authorization headers", () => {
  it.each([
    { name: "Basic scheme", value: "Basic dXNlcjpwYXNz", detail: "The Authorization header must use the Bearer scheme." },
    { name: "Bearer without a token", value: "Bearer", detail: "The Authorization header must use the Bearer scheme." },
    { name: "Bearer with two tokens", value: "Bearer a.b.c d.e.f", detail: "The Authorization header must use the Bearer scheme." },
    { name: "characters outside b64token", value: "Bearer a.b.c<script>", detail: "The token is malformed." },
    { name: "not a JWT", value: "Bearer abc", detail: "The token is malformed." },
    { name: "a JWE (five parts)", value: "Bearer a.b.c.d.e", detail: "The token is malformed." },
    { name: "a header that is not JSON", value: `Bearer ${b64url("nope")}.${b64url("{}")}.sig`, detail: "The token is malformed." },
    { name: "larger than 8 KiB", value: `Bearer ${"a".repeat(8 * 1024 + 1)}`, detail: "The token is too large." },
  ])("$name", async ({ value, detail }) => {
    await expectInvalidToken(await call("/v1/chat", { headers: { authorization: value } }), detail);
  });

  it("an API key and a session token together → 400 conflicting_credentials", async () => {
    const res = await call("/v1/chat", bearer(await sessionToken(), { "x-api-key": "pk_test_whatever" }));
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe("conflicting_credentials");
  });

  it("a token never appears in a response", async () => {
    const token = await sessionToken({ iss: "https://clerk.evil.test", azp: APP_ORIGIN });
    const res = await call("/v1/chat", bearer(token));
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(text).not.toContain(token.split(".")[1]);
    expect(res.headers.get("www-authenticate")).not.toContain(token.split(".")[1]);
  });
});
