/**
 * Clerk session tokens (`Authorization: Bearer <jwt>`), verified at the edge: header checks, the
 * key (a PEM in networkless mode, else the cached JWKS), the signature, then the claims. Claim
 * rules live in `jwt-claims.ts`, the key cache in `jwks-cache.ts`. jose's errors are mapped here,
 * and nothing here ever logs a token.
 */
import { compactVerify, decodeProtectedHeader, errors as joseErrors, importSPKI } from "jose";
import type { Config } from "../env";
import { GatewayError } from "../errors";
import { sessionScopes } from "../scopes";
import type { VerifierDeps } from "./deps";
import { checkSessionClaims, checkTokenHeader, type ClaimsPolicy } from "./jwt-claims";
import { jwksKey } from "./jwks-cache";
import type { Principal } from "./principal";
import { tokenDigest, VerifiedTokenCache } from "./verified-tokens";

/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 5;
/** Verified tokens held per config; each until its `exp`, at most five minutes. */
const VERIFIED_TOKENS_MAX = 5_000;
const VERIFIED_TOKENS_MAX_TTL_MS = 5 * 60_000;

/**
 * SPKI (base64 body) of the committed development key pair in `examples/dev-keys/`: its private
 * key is public, so staging and production refuse it as `CLERK_JWT_KEY` (checked in `env.ts`).
 */
export const DEVELOPMENT_PUBLIC_KEY_SPKI =
  "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoT4ftiaWF4JyCVPSAx25" +
  "wVqz8ULnzu1di7Rizpn9gsNEQDWmNRUqCEl/da1sq5cjavemJeGXqyhzC868XRxH" +
  "lm6dTg6PWfP+sppONUEtaTaBzs5KPjupYi7xvK/bnauYBWaleshkw2klWstp3zp8" +
  "s3li4TyBoM3A2wT0vjxn83flP2/8SaWaFNnDoCZ7sKQuB91KtSn9LJNJ757SGq+O" +
  "a59qSQtVlH8e6vk4W/3fsJ2ny4l80zcfi8P1rRgS7Wgd5OJyBjGKd/39mbfWqT6m" +
  "ei+OSpiv8VzYGLOd0n5U2uZJGxeXtBQVDBnVx2KJ3B8ehbAE/LAFrHMfOwmsJMr7" +
  "6QIDAQAB";

/** True when a PEM public key is the committed development key. */
export function isDevelopmentPublicKey(pem: string): boolean {
  return pem.replace(/-----(BEGIN|END) PUBLIC KEY-----|\s/g, "") === DEVELOPMENT_PUBLIC_KEY_SPKI;
}

// Per config (configs are parsed once per bindings object), so a cached verdict never crosses
// configs with another issuer, party list or key.
let verifiedTokens = new WeakMap<Config, VerifiedTokenCache<Principal>>();
const pemKeys = new WeakMap<Config, Map<string, Promise<CryptoKey>>>();

const invalid = (detail: string) => new GatewayError("invalid_token", { detail });

/** Verify a Clerk session token and return its principal; throws `invalid_token`, `no_active_organization` or `jwks_unavailable`. */
export async function verifySessionToken(token: string, deps: VerifierDeps): Promise<Principal> {
  const { config } = deps;
  let cache = verifiedTokens.get(config);
  if (!cache) {
    cache = new VerifiedTokenCache<Principal>(VERIFIED_TOKENS_MAX, VERIFIED_TOKENS_MAX_TTL_MS);
    verifiedTokens.set(config, cache);
  }
  const digest = await tokenDigest(token);
  const cached = cache.get(digest, Date.now());
  if (cached) return cached;

  // Before any key is fetched: the shape of a compact JWS, an accepted `alg`, a `kid`.
  let rawHeader: Record<string, unknown>;
  try {
    if (token.split(".").length !== 3) throw new Error("not a compact JWS");
    rawHeader = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    throw invalid("The token is malformed.");
  }
  const header = checkTokenHeader(rawHeader, config.clerk.algorithms);
  if (!header.ok) throw invalid(header.detail);
  const { alg, kid } = header.header;

  const key = config.clerk.jwtKey
    ? await pemKey(config, config.clerk.jwtKey, alg)
    : await jwksKey(config.clerk.jwksUrl, kid, alg, {
        maxStalenessMs: config.clerk.jwksMaxStalenessSeconds * 1000,
        ctx: deps.ctx,
      });

  // The signature, before any claim-specific message.
  let payload: Record<string, unknown>;
  try {
    const verified = await compactVerify(token, key, { algorithms: [...config.clerk.algorithms] });
    payload = parsePayload(verified.payload);
  } catch (error) {
    throw fromJoseError(error);
  }

  const nowMs = Date.now();
  const result = checkSessionClaims(rawHeader, payload, claimsPolicy(config), Math.floor(nowMs / 1000));
  if (!result.ok) throw new GatewayError(result.code, { detail: result.detail });
  const { session } = result;
  const principal: Principal = {
    orgId: session.orgId,
    subject: session.userId,
    method: "jwt",
    scopes: sessionScopes(session.orgRole, session.orgPermissions),
  };
  cache.set(digest, principal, session.expiresAt * 1000, nowMs);
  return principal;
}

function claimsPolicy(config: Config): ClaimsPolicy {
  return {
    issuer: config.clerk.issuer,
    authorizedParties: config.clerk.authorizedParties,
    allowMissingAzp: config.clerk.allowMissingAzp,
    clockSkewSeconds: CLOCK_SKEW_SECONDS,
  };
}

/** Networkless mode: the PEM from `CLERK_JWT_KEY`, imported once per config and algorithm. */
function pemKey(config: Config, pem: string, alg: string): Promise<CryptoKey> {
  let byAlg = pemKeys.get(config);
  if (!byAlg) {
    byAlg = new Map();
    pemKeys.set(config, byAlg);
  }
  let key = byAlg.get(alg);
  if (!key) {
    key = importSPKI(pem, alg).catch((error: unknown) => {
      // Deterministic for this config and alg: logged once, then every such token gets the same 401.
      console.error(JSON.stringify({ level: "error", event: "jwt_key_unusable", alg, cause: error instanceof Error ? error.name : typeof error }));
      throw invalid("The token's algorithm does not match its key.");
    });
    byAlg.set(alg, key);
  }
  return key;
}

function parsePayload(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalid("The token is malformed.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("The token is malformed.");
  return value as Record<string, unknown>;
}

/** jose's errors, mapped in one place; anything unexpected is still a 401, never a 500. */
function fromJoseError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid("The token's signature is invalid.");
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalid("The token's algorithm is not accepted.");
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JOSENotSupported) {
    return invalid("The token is malformed.");
  }
  // jose throws TypeError when a key cannot be used with the header's algorithm.
  if (error instanceof TypeError) return invalid("The token's algorithm does not match its key.");
  console.warn(JSON.stringify({ level: "warn", event: "session_token_unverifiable", cause: error instanceof Error ? error.name : typeof error }));
  return invalid("The token could not be verified.");
}

/** Test-only: forget every verified token, as a new isolate would. */
export function resetVerifiedTokensForTests(): void {
  verifiedTokens = new WeakMap();
}
