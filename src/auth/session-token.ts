/**
 * Clerk bearer tokens (`Authorization: Bearer <jwt>`), verified at the edge: session tokens
 * (`getToken()`) and JWT-template tokens (`getToken({ template: "agntix" })`), told apart by `aud`.
 * In order: the header and the key it routes to (a PEM in networkless mode, else the cached JWKS;
 * or a template's custom HMAC key, only when configured), then jose's `jwtVerify` (signature,
 * `iss`, `aud`, `exp`, `nbf`, required times, template age), then the Clerk-specific claims in
 * `jwt-claims.ts`. jose's errors are mapped here, and nothing here ever logs a token.
 */
import { bindStreams } from "../proxy/streams";
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify, type JWTVerifyOptions } from "jose";
import type { Config } from "../env";
import { GatewayError } from "../errors";
import { sessionScopes } from "../scopes";
import type { VerifierDeps } from "./deps";
import { checkSessionClaims, checkTemplateClaims, checkTokenHeader, DETAIL, type IdentityClaims, lifetimeDetail, tokenKind } from "./jwt-claims";
import { jwksKey } from "./jwks-cache";
import type { Principal } from "./principal";
import { TtlLru } from "../ttl-lru";
import { tokenDigest } from "./verified-tokens";

/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 5;
/** Verified tokens held per config; each until its `exp`, at most five minutes. */
const VERIFIED_TOKENS_MAX = 5_000;
const VERIFIED_TOKENS_MAX_TTL_MS = 5 * 60_000;

// Per config (configs are parsed once per bindings object), so a cached verdict never crosses
// configs with another issuer, party list or key.
let verifiedTokens = new WeakMap<Config, TtlLru<string, Principal>>();
const pemKeys = new WeakMap<Config, Map<string, Promise<CryptoKey>>>();

const invalid = (detail: string) => new GatewayError("invalid_token", { detail });

/**
 * Verify a Clerk session token or `agntix` JWT-template token and return its principal (the same
 * for both kinds); throws `invalid_token`, `no_active_organization` or `jwks_unavailable`.
 */
export async function verifySessionToken(token: string, deps: VerifierDeps): Promise<Principal> {
  const { config } = deps;
  let cache = verifiedTokens.get(config);
  if (!cache) {
    cache = new TtlLru<string, Principal>(VERIFIED_TOKENS_MAX, VERIFIED_TOKENS_MAX_TTL_MS);
    verifiedTokens.set(config, cache);
  }
  const digest = await tokenDigest(token);
  const cached = cache.get(digest, Date.now());
  if (cached) return cached;

  // Before any key is fetched: the shape of a compact JWS, the key route, the kind of token.
  let rawHeader: Record<string, unknown>;
  let unverified: Record<string, unknown>;
  try {
    if (token.split(".").length !== 3) throw new Error("not a compact JWS");
    rawHeader = decodeProtectedHeader(token) as Record<string, unknown>;
    unverified = decodeJwt(token) as Record<string, unknown>;
  } catch {
    throw invalid(DETAIL.malformedToken);
  }
  const templates = config.clerk.templates;
  const header = checkTokenHeader(rawHeader, config.clerk.algorithms, templates.signingKey?.alg);
  if (!header.ok) throw invalid(header.detail);
  const { route } = header;
  const kind = tokenKind(rawHeader, unverified);
  if (kind === "template" && !templates.enabled) throw invalid(DETAIL.templatesDisabled);
  // The shared secret signs template tokens only: never a session token.
  if (route.kind === "hmac" && kind !== "template") throw invalid(DETAIL.hmacSession);

  const key =
    route.kind === "hmac"
      ? templates.signingKey!.secret
      : config.clerk.jwtKey
        ? await pemKey(config, config.clerk.jwtKey, route.alg)
        : await jwksKey(config.clerk.jwksUrl, route.kid, route.alg, {
            maxStalenessMs: config.clerk.jwksMaxStalenessSeconds * 1000,
            ctx: deps.ctx,
          });

  // The signature first, then the standard claims, all by jose; the algorithm pinned to the route.
  const options: JWTVerifyOptions = {
    algorithms: [route.alg],
    issuer: config.clerk.issuer,
    clockTolerance: CLOCK_SKEW_SECONDS,
    requiredClaims: ["exp", "nbf", "iat"],
    ...(kind === "template" ? { audience: [...templates.audiences], maxTokenAge: templates.maxLifetimeSeconds } : {}),
  };
  let payload: Record<string, unknown>;
  try {
    payload = (await jwtVerify(token, key, options)).payload as Record<string, unknown>;
  } catch (error) {
    throw fromJoseError(error, templates.maxLifetimeSeconds);
  }
  if (kind === "session_with_aud") throw invalid(DETAIL.sessionWithAud);

  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  const policy = {
    authorizedParties: config.clerk.authorizedParties,
    allowMissingAzp: config.clerk.allowMissingAzp,
    clockSkewSeconds: CLOCK_SKEW_SECONDS,
  };
  const result =
    kind === "template"
      ? checkTemplateClaims(rawHeader, payload, { ...policy, maxLifetimeSeconds: templates.maxLifetimeSeconds }, now)
      : checkSessionClaims(rawHeader, payload, policy, now);
  if (!result.ok) throw new GatewayError(result.code, { detail: result.detail });
  const identity: IdentityClaims = result.session;
  const principal: Principal = {
    orgId: identity.orgId,
    subject: identity.userId,
    method: "jwt",
    scopes: sessionScopes(identity.orgRole, identity.orgPermissions),
  };
  cache.set(digest, principal, nowMs, identity.expiresAt * 1000);
  // A stream carried for this token ends at its `exp` (src/proxy/streams.ts).
  bindStreams(principal, { expiresAt: identity.expiresAt * 1000 });
  return principal;
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

/** jose's errors, mapped in one place; anything unexpected is still a 401, never a 500. */
function fromJoseError(error: unknown, maxLifetimeSeconds: number): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid(DETAIL.signature);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalid(DETAIL.algorithm);
  // Only `maxTokenAge` (template tokens) makes jose call `iat` expired: older than any accepted lifetime.
  if (error instanceof joseErrors.JWTExpired) return invalid(error.claim === "iat" ? lifetimeDetail(maxLifetimeSeconds) : DETAIL.expired);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "iss":
        return invalid(DETAIL.issuer);
      case "aud":
        return invalid(DETAIL.audience);
      default:
        // `exp`, `nbf` or `iat`: missing or not a number, or (`nbf`, `iat`) in the future.
        return invalid(error.reason === "check_failed" ? DETAIL.notYetValid : DETAIL.times);
    }
  }
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JOSENotSupported) {
    return invalid(DETAIL.malformedToken);
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
