/**
 * Our verdicts against Clerk's own verifier: a corpus of session and template tokens, signed with
 * a real RSA key, goes through `@clerk/backend`'s networkless `verifyToken` (`jwtKey`, no network)
 * and through the gateway configured with the same PEM (`CLERK_JWT_KEY`). They must agree on
 * accept / refuse, except where our policy deliberately differs: each such case is marked with the
 * reason and listed in docs/session-tokens.md ("Where we differ from Clerk's verifier"), and the
 * test asserts that the difference is still exactly that (gateway refuses, Clerk accepts).
 *
 * "Accept" for the gateway means the token authenticated: any answer but 401 (a token with no
 * active organisation authenticates, then gets 403 `no_active_organization`).
 * Runs inside workerd, like the gateway: `@clerk/backend` is built for edge runtimes.
 */
import { verifyToken } from "@clerk/backend";
import { exportSPKI, importJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { APP_ORIGIN, gatewayWith, hmacTemplateToken, ISSUER, newSigningKey, sign, type SigningKey, templateClaims, TEMPLATE_HEADER, unsignedToken, v1Claims, v2Claims, withPayload } from "../helpers/jwt";

type Verdict = "accept" | "refuse";
interface Case {
  readonly name: string;
  readonly token: (key: SigningKey) => Promise<string> | string;
  /** Set when our policy deliberately differs from Clerk's verifier: why (docs/session-tokens.md). */
  readonly deliberate?: string;
}

const now = () => Math.floor(Date.now() / 1000);
type Claims = Record<string, unknown>;
// Claims that depend on the clock are given as functions, evaluated when the token is minted.
const at = (claims: Claims | (() => Claims)) => (typeof claims === "function" ? claims() : claims);
const session = (claims: Claims | (() => Claims) = {}, header: Claims = {}) => (key: SigningKey) => sign(v2Claims(at(claims)), key, header);
const template = (claims: Claims | (() => Claims) = {}, header: Claims = {}) => (key: SigningKey) =>
  sign(templateClaims(at(claims)), key, { ...TEMPLATE_HEADER, ...header });

const CORPUS: Case[] = [
  // Both accept.
  { name: "v2 session token", token: session() },
  { name: "v1 session token", token: (key) => sign(v1Claims(), key) },
  { name: "session token, session category", token: session({}, { cat: "cl_B7d4PD111AAA" }) },
  { name: "session token without an organisation (authenticates; 403 later)", token: session({ o: undefined }) },
  { name: "session token within the clock skew", token: session(() => ({ exp: now() - 3, nbf: now() + 3, iat: now() + 3 })) },
  { name: "template token, aud agntix", token: template() },
  { name: "template token, aud list containing agntix", token: template({ aud: ["x", "agntix"] }) },
  { name: "template token without an organisation (authenticates; 403 later)", token: template({ org_id: null, org_role: null, org_permissions: null }) },
  { name: "template token with the ignore category", token: template({}, { cat: "cl_I7d4PD111III" }) },
  // Both refuse.
  { name: "expired session token", token: session(() => ({ exp: now() - 60, iat: now() - 120, nbf: now() - 120 })) },
  { name: "session token not yet valid", token: session(() => ({ nbf: now() + 60 })) },
  { name: "session token issued in the future", token: session(() => ({ iat: now() + 60 })) },
  { name: "session token from another issuer", token: session({ iss: "https://clerk.other.test" }) },
  { name: "session token with an unlisted azp", token: session({ azp: "https://evil.test" }) },
  { name: "session token with no azp", token: session({ azp: undefined }) },
  { name: "session token with no sub", token: session({ sub: undefined }) },
  { name: "tampered payload", token: async (key) => withPayload(await sign(v2Claims(), key), v2Claims({ o: { id: "org_victim", rol: "admin" } })) },
  { name: "signed by another key", token: async (key) => sign(v2Claims(), await newSigningKey(key.kid)) },
  { name: "alg none", token: (key) => unsignedToken(v2Claims(), key.kid) },
  { name: "HS256 signed with the public key", token: async (key) => hmacTemplateToken(templateClaims(), new TextEncoder().encode(await pemOf(key)), { kid: key.kid }) },
  { name: "OAuth access token (typ at+jwt)", token: session({}, { typ: "at+jwt" }) },
  { name: "M2M category", token: session({}, { cat: "cl_B7d4PD333AAA" }) },
  { name: "template token with another aud", token: template({ aud: "convex" }) },
  { name: "expired template token", token: template(() => ({ exp: now() - 60, iat: now() - 90, nbf: now() - 90 })) },
  { name: "template token from another issuer", token: template({ iss: "https://clerk.other.test" }) },
  // Deliberate differences: the gateway refuses what Clerk's verifier accepts.
  { name: "session token carrying aud agntix", token: session({ aud: "agntix" }), deliberate: "kinds are told apart by aud: a session token must not carry one" },
  { name: "template token without aud", token: template({ aud: undefined }), deliberate: "a token with neither aud nor sid is neither kind" },
  { name: "session token without sid", token: session({ sid: undefined }), deliberate: "a token with neither aud nor sid is neither kind" },
  { name: "template token with a 1 h lifetime", token: template(() => ({ iat: now(), exp: now() + 3600 })), deliberate: "template lifetime is bounded (10 min by default)" },
  { name: "session token with no nbf", token: session({ nbf: undefined }), deliberate: "exp, nbf and iat are all required" },
  { name: "template token with no iat", token: template({ iat: undefined }), deliberate: "exp, nbf and iat are all required" },
  { name: "machine subject", token: session({ sub: "mch_2machine" }), deliberate: "the subject must be a Clerk user (user_…)" },
  { name: "subject that is not a user id", token: session({ sub: "org_2abc" }), deliberate: "the subject must be a Clerk user (user_…)" },
  { name: "template category without aud", token: session({}, { cat: "cl_B7d4PD222AAA" }), deliberate: "a template token must carry an accepted aud" },
  { name: "pending session", token: session({ sts: "pending" }), deliberate: "pending sessions are refused" },
  { name: "claims version 3", token: session({ v: 3 }), deliberate: "only claims v1 and v2 are understood" },
  { name: "session token with a malformed organisation", token: session({ o: { id: "org_x\r\nx: y" } }), deliberate: "organisation claims must be well-formed" },
];

async function pemOf(key: SigningKey): Promise<string> {
  return exportSPKI((await importJWK(key.publicJwk, "RS256")) as CryptoKey);
}

async function clerkVerdict(token: string, pem: string): Promise<Verdict> {
  try {
    await verifyToken(token, { jwtKey: pem, authorizedParties: [APP_ORIGIN], audience: ["agntix"], issuer: ISSUER });
    return "accept";
  } catch {
    return "refuse";
  }
}

describe("agreement with @clerk/backend's verifyToken (networkless)", () => {
  let key: SigningKey;
  let pem: string;
  let gateway: ReturnType<typeof gatewayWith>;
  beforeAll(async () => {
    key = await newSigningKey();
    pem = await pemOf(key);
    gateway = gatewayWith({ CLERK_JWT_KEY: pem });
  });

  async function gatewayVerdict(token: string): Promise<Verdict> {
    const res = await gateway.fetch("/v1/chat/agents", { headers: { authorization: `Bearer ${token}` } });
    return res.status === 401 ? "refuse" : "accept";
  }

  it.each(CORPUS)("$name", async ({ token: make, deliberate }) => {
    const token = await make(key);
    const [ours, clerks] = [await gatewayVerdict(token), await clerkVerdict(token, pem)];
    if (deliberate) expect({ ours, clerks }).toEqual({ ours: "refuse", clerks: "accept" });
    else expect(ours).toBe(clerks);
  });

  it("the corpus has both verdicts on both sides", async () => {
    const verdicts = await Promise.all(CORPUS.filter((c) => !c.deliberate).map(async (c) => clerkVerdict(await c.token(key), pem)));
    expect(verdicts).toContain("accept");
    expect(verdicts).toContain("refuse");
  });
});
