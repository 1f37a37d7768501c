// Session tokens for the benchmark: an RS256 key pair made per run, its JWKS (served by the
// bench's IdP worker) and Clerk-shaped v2 session tokens signed with it.
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";

/** A signing key and the JWKS that publishes its public half. */
export interface BenchIdp {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** JSON text of `{ keys: [publicJwk] }`. */
  readonly jwks: string;
  /** SPKI PEM of the public key (for the networkless `CLERK_JWT_KEY` variant). */
  readonly publicPem: string;
}

/** Make a fresh RS256 key pair and its JWKS. */
export async function createIdp(kid = `bench-${Date.now().toString(36)}`): Promise<BenchIdp> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", publicKey)).toString("base64");
  const publicPem = `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----`;
  return { kid, privateKey, jwks: JSON.stringify({ keys: [jwk] }), publicPem };
}

export interface SessionClaims {
  readonly issuer: string;
  readonly authorizedParty: string;
  readonly userId: string;
  readonly orgId: string;
  /** Clerk role without the `org:` prefix, as v2 tokens carry it (`admin`, `member`). */
  readonly role: string;
  readonly lifetimeSeconds: number;
}

/** Sign a Clerk v2 session token (`v: 2`, organisation in `o`). */
export async function signSessionToken(idp: BenchIdp, claims: SessionClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    azp: claims.authorizedParty,
    sid: `sess_bench${now.toString(36)}`,
    v: 2,
    sts: "active",
    fva: [0, -1],
    o: { id: claims.orgId, rol: claims.role, slg: "bench" },
  })
    .setProtectedHeader({ alg: "RS256", kid: idp.kid, typ: "JWT" })
    .setIssuer(claims.issuer)
    .setSubject(claims.userId)
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + claims.lifetimeSeconds)
    .sign(idp.privateKey);
}
