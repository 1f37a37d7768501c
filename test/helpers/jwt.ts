/**
 * Session tokens for the tests: real RSA keys (jose), Clerk-shaped v1/v2 claims, forgeries, and a
 * handle on the stand-in IdP (test/fixtures/jwks-server.js), which every outbound fetch reaches.
 *
 * The default config's issuer serves the "default" tenant, whose key the IdP worker generated:
 * `sessionToken()` signs with it, so any test file can call the gateway with a valid session.
 * Tests that change the IdP (rotation, outages, counting) use their own `newTenant()`.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT, UnsecuredJWT } from "jose";
import app from "../../src/index";
import { resetJwksCacheForTests } from "../../src/auth/jwks-cache";
import { resetVerifiedTokensForTests } from "../../src/auth/session-token";

/** The test config's `CLERK_ISSUER` (vitest.config.ts). */
export const ISSUER = "https://clerk.agntix.test";
/** An origin listed in the test config's `CLERK_AUTHORIZED_PARTIES`. */
export const APP_ORIGIN = "https://app.agntix.test";

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public half as a JWK with `kid`, `alg` and `use`, as a JWKS lists it. */
  readonly publicJwk: JWK;
}

let counter = 0;
/** A name unique in this run (tenants, kids, orgs), since module caches outlive a test. */
export const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(++counter).toString(36)}${crypto.randomUUID().slice(0, 8)}`;

/** A fresh RS256 key pair (or another algorithm's). */
export async function newSigningKey(kid = unique("ins_"), alg = "RS256"): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
  return { kid, privateKey: pair.privateKey, publicJwk };
}

let defaultKey: Promise<SigningKey> | undefined;

/** The key the IdP worker publishes for the default issuer's JWKS. */
export function defaultSigningKey(): Promise<SigningKey> {
  defaultKey ??= (async () => {
    const res = await fetch(`${ISSUER}/__control/default-key`);
    const { kid, privateJwk } = (await res.json()) as { kid: string; privateJwk: JWK };
    const privateKey = (await importJWK(privateJwk, "RS256")) as CryptoKey;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
    return { kid, privateKey, publicJwk: { ...publicJwk, use: "sig" } };
  })();
  return defaultKey;
}

/** A tenant of the stand-in IdP: its own JWKS URL, keys, mode and fetch counter. */
export interface Tenant {
  readonly jwksUrl: string;
  publish(...keys: SigningKey[]): Promise<void>;
  publishRaw(keys: unknown[]): Promise<void>;
  mode(mode: "up" | "down" | "error" | "garbage" | "empty" | "hang", delayMs?: number): Promise<void>;
  /** JWKS requests the IdP has answered (or refused) for this tenant. */
  fetches(): Promise<number>;
}

/** A new tenant publishing `keys`. */
export async function newTenant(...keys: SigningKey[]): Promise<Tenant> {
  const name = unique("t");
  const control = `${ISSUER}/__control/t/${name}`;
  const put = async (what: string, body: unknown) => {
    const res = await fetch(`${control}/${what}`, { method: "PUT", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`IdP control ${what} failed`);
  };
  const tenant: Tenant = {
    jwksUrl: `${ISSUER}/t/${name}/.well-known/jwks.json`,
    publish: (...ks) => put("keys", { keys: ks.map((k) => k.publicJwk) }),
    publishRaw: (ks) => put("keys", { keys: ks }),
    mode: (mode, delayMs) => put("mode", { mode, delay_ms: delayMs }),
    fetches: async () => ((await (await fetch(`${control}/stats`)).json()) as { fetches: number }).fetches,
  };
  await tenant.publish(...keys);
  return tenant;
}

type Claims = Record<string, unknown>;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Drop the keys whose value is `undefined`: an override of `undefined` removes a claim. */
function defined(record: Claims): Claims {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

/** Clerk v2 session claims (admin of `org_test`), with overrides. */
export function v2Claims(overrides: Claims = {}): Claims {
  const now = nowSeconds();
  return defined({
    v: 2,
    iss: ISSUER,
    sub: "user_2testUser",
    sid: "sess_2testSession",
    azp: APP_ORIGIN,
    iat: now,
    nbf: now - 10,
    exp: now + 60,
    fva: [0, -1],
    o: { id: "org_test", rol: "admin", slg: "test" },
    ...overrides,
  });
}

/** Clerk v1 session claims (member of `org_test`), with overrides. */
export function v1Claims(overrides: Claims = {}): Claims {
  const now = nowSeconds();
  return defined({
    iss: ISSUER,
    sub: "user_1testUser",
    sid: "sess_1testSession",
    azp: APP_ORIGIN,
    iat: now,
    nbf: now - 10,
    exp: now + 60,
    org_id: "org_test",
    org_role: "org:member",
    org_slug: "test",
    org_permissions: [],
    ...overrides,
  });
}

/**
 * Claims of a token minted from the `agntix` JWT template (docs/authentication.md): Clerk's
 * default claims (no `sid`, no `v`) plus `aud` and the organisation shortcodes' values.
 */
export function templateClaims(overrides: Claims = {}): Claims {
  const now = nowSeconds();
  return defined({
    aud: "agntix",
    azp: APP_ORIGIN,
    exp: now + 60,
    iat: now,
    iss: ISSUER,
    jti: crypto.randomUUID().replaceAll("-", "").slice(0, 20),
    nbf: now - 5,
    sub: "user_2testUser",
    org_id: "org_test",
    org_slug: "test",
    org_role: "org:admin",
    org_permissions: [],
    ...overrides,
  });
}

/** The header Clerk puts on a JWT-template token signed with the instance key. */
export const TEMPLATE_HEADER = { cat: "cl_B7d4PD222AAA" } as const;

/** A template token signed by the default issuer key. */
export async function templateToken(overrides: Claims = {}, header: Claims = {}): Promise<string> {
  return sign(templateClaims(overrides), await defaultSigningKey(), { ...TEMPLATE_HEADER, ...header });
}

/** A template token signed with a custom HMAC key (`CLERK_TEMPLATE_SIGNING_KEY`), header overrides applied. */
export async function hmacTemplateToken(claims: Claims, secret: string | Uint8Array, header: Claims = {}): Promise<string> {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  const protectedHeader = defined({ alg: "HS256", typ: "JWT", ...header }) as { alg: string };
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key);
}

/** Sign claims with `key` (RS256, `typ: JWT`, its kid), header overrides applied (`undefined` removes). */
export async function sign(claims: Claims, key: SigningKey, header: Claims = {}): Promise<string> {
  const protectedHeader = defined({ alg: "RS256", kid: key.kid, typ: "JWT", ...header }) as { alg: string };
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key.privateKey);
}

/** A v2 session token signed by the default issuer key. */
export async function sessionToken(overrides: Claims = {}, header: Claims = {}): Promise<string> {
  return sign(v2Claims(overrides), await defaultSigningKey(), header);
}

/** `alg: none`: no signature at all. */
export function unsignedToken(claims: Claims, kid: string): string {
  const token = new UnsecuredJWT(claims).encode();
  // jose writes {"alg":"none"}; add the kid a verifier would look up.
  const [, payload] = token.split(".");
  return `${b64url(JSON.stringify({ alg: "none", kid, typ: "JWT" }))}.${payload}.`;
}

/** HS256 "signed" with bytes an attacker can read, e.g. the public key: the classic alg confusion. */
export async function hmacToken(claims: Claims, secret: Uint8Array, kid: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid, typ: "JWT" }).sign(secret);
}

/** The token with its payload replaced, signature kept. */
export function withPayload(token: string, claims: Claims): string {
  const [header, , signature] = token.split(".");
  return `${header}.${b64url(JSON.stringify(claims))}.${signature}`;
}

export function b64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * The gateway with bindings overridden (e.g. a tenant's `CLERK_JWKS_URL`), called through
 * `app.fetch` with an execution context whose `waitUntil` work is awaited after each call. The
 * env object is kept, so the config (and its verified-token cache) lives as long as the handle.
 */
export function gatewayWith(overrides: Partial<Cloudflare.Env> = {}) {
  const bindings = { ...env, ...overrides };
  return {
    bindings,
    async fetch(path: string, init: RequestInit = {}, options: { settle?: boolean } = {}): Promise<Response> {
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://gw.test${path}`, init), bindings, ctx);
      if (options.settle !== false) await waitOnExecutionContext(ctx);
      return response;
    },
  };
}

/** `Authorization: Bearer <token>` headers, plus any others. */
export const bearer = (token: string, headers: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${token}`, ...headers },
});

/** Forget every module-scope cache of the session-token verifier, as a cold start would. */
export function coldStart(): void {
  resetJwksCacheForTests();
  resetVerifiedTokensForTests();
}

/** Read a problem+json body. */
export async function problem(res: Response): Promise<{ code: string; detail: string; status: number; [k: string]: unknown }> {
  expectProblemType(res);
  return (await res.json()) as { code: string; detail: string; status: number };
}

function expectProblemType(res: Response): void {
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) throw new Error(`expected problem+json, got ${res.status} ${type}`);
}

/** The exact RFC 6750 challenge of a 401 `invalid_token`. */
export const invalidTokenChallenge = (detail: string) =>
  `Bearer realm="agntix", error="invalid_token", error_description="${detail}"`;
