/// <reference path="../worker-configuration.d.ts" />
import type { Principal } from "./auth/principal";
import { GatewayError } from "./errors";
import { issuePrefixFor } from "./keys/format";
import { parseRateLimitConfig, type RateLimitConfig } from "./ratelimit/policy";
import type { Route } from "./routes";

/**
 * The worker's bindings, generated from wrangler.toml by `npm run types` into
 * worker-configuration.d.ts (vars are strings; an empty string means unset). Every binding, var
 * and required secret is declared there; the README's Configuration table says what each means.
 */
export type Bindings = Env & OptionalSecrets & RateLimitBindings;

/**
 * The Rate Limiting bindings, by the names the rate-limit vars give them (`RL_…`): the generated
 * type lists those of wrangler.toml, this lets the limiter reach the one a setting names.
 */
export interface RateLimitBindings {
  [binding: `RL_${string}`]: RateLimit | undefined;
}

/**
 * Secrets set only where they are used. wrangler.toml cannot declare them (its `secrets.required`
 * would make every deploy demand them), so they are the one hand-written part of `Bindings`.
 */
export interface OptionalSecrets {
  /** A JWT template's custom HMAC signing key; unset means HMAC tokens are refused. */
  CLERK_TEMPLATE_SIGNING_KEY?: string;
}

/** Per-request values carried on Hono's context. */
export interface Variables {
  requestId: string;
  config: Config;
  /** The route the request's path matched. */
  route: Route;
  principal: Principal;
}

/** The one Hono environment type of the app. */
export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}

export type Environment = "development" | "staging" | "production";

/** Configuration parsed and checked once per set of bindings. */
export interface Config {
  readonly environment: Environment;
  readonly cors: { readonly allowedOrigins: ReadonlySet<string> };
  readonly limits: {
    readonly originTimeoutMs: number;
    readonly maxBodyBytes: number;
    /** Longest request target (path and query), in bytes. */
    readonly maxUrlBytes: number;
    /** Largest sum of header names and values, in bytes. */
    readonly maxHeaderBytes: number;
  };
  readonly clerk: {
    readonly issuer: string;
    readonly jwksUrl: string;
    readonly authorizedParties: ReadonlySet<string>;
    readonly allowMissingAzp: boolean;
    readonly algorithms: readonly string[];
    /** PEM public key for networkless verification, if set. */
    readonly jwtKey: string | undefined;
    /** Cached JWKS keys older than this are never used (docs/session-tokens.md). */
    readonly jwksMaxStalenessSeconds: number;
    /** JWT-template tokens: told apart from session tokens by their `aud` (docs/session-tokens.md). */
    readonly templates: {
      readonly enabled: boolean;
      /** Accepted `aud` values. */
      readonly audiences: readonly string[];
      /** Longest accepted `exp − iat`, in seconds. */
      readonly maxLifetimeSeconds: number;
      /** A template's custom HMAC key, with the one algorithm pinned to it; never a JWKS key. */
      readonly signingKey: { readonly alg: "HS256" | "HS384" | "HS512"; readonly secret: Uint8Array } | undefined;
    };
  };
  readonly apiKeys: {
    /** Prefix of keys issued here: `pk_live_` in production, `pk_test_` elsewhere. */
    readonly issuePrefix: "pk_live_" | "pk_test_";
    readonly pepper: string;
    /** See `API_KEY_LIMIT_PER_ORG`: most live keys an organisation may hold (creation only). */
    readonly maxKeysPerOrg: number;
  };
  readonly revocation: {
    /** See `REVOCATION_FEED`. */
    readonly feed: boolean;
    /** See `API_KEY_REVOCATION_CHECK_MS`. */
    readonly checkMs: number;
    /** See `REVOCATION_POLL_MS`. */
    readonly pollMs: number;
    /** See `REVOCATION_RETENTION_SECONDS`, in ms. */
    readonly retentionMs: number;
    /** See `REVOCATION_LOG_TIMEOUT_MS`. */
    readonly timeoutMs: number;
  };
  readonly usage: {
    /** See `USAGE_COUNTING`. */
    readonly counting: boolean;
  };
  readonly observability: {
    /** One structured line per request (`ACCESS_LOG`, default on; src/observability/access-log.ts). */
    readonly accessLog: boolean;
  };
  readonly dashboard: {
    /** Development sign-in's signing key (src/dashboard/dev-session.ts); never set outside development. */
    readonly devSignInKey: string | undefined;
  };
  readonly rateLimits: RateLimitConfig;
}

/**
 * SPKI (base64 body) of the committed development key pair in `examples/dev-keys/`: its private
 * key is public, so staging and production refuse it as `CLERK_JWT_KEY`.
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

/** Shortest custom template signing key, in bytes: RFC 7518 §3.2 wants at least the hash size. */
const MIN_HMAC_KEY_BYTES: Readonly<Record<"HS256" | "HS384" | "HS512", number>> = { HS256: 32, HS384: 48, HS512: 64 };
/** Shortest retention: an isolate's cached record (60 s) + KV's read cache (60 s) + KV propagation (60 s). */
export const MIN_REVOCATION_RETENTION_SECONDS = 180;

/** Thrown when the bindings do not make a valid configuration; the message names the setting. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer`);
  return n;
}

function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${name} must be a whole number ≥ 0`);
  return n;
}

function httpsUrl(name: string, value: string, allowHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL`);
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    throw new ConfigError(`${name} must be an https URL`);
  }
  return value;
}

/** Parse and check the bindings; throws `ConfigError` naming the first bad setting. */
export function parseConfig(env: Bindings): Config {
  const environment = env.ENVIRONMENT as Environment;
  if (!["development", "staging", "production"].includes(environment)) {
    throw new ConfigError("ENVIRONMENT must be development, staging or production");
  }
  const dev = environment === "development";
  if (!env.API_KEYS) throw new ConfigError("API_KEYS KV binding is missing");
  if (!env.AUDIT_DB) throw new ConfigError("AUDIT_DB D1 binding is missing");
  if (!env.USAGE) throw new ConfigError("USAGE Durable Object binding is missing");
  const usageCounting = (env.USAGE_COUNTING ?? "").trim() || "on";
  if (usageCounting !== "on" && usageCounting !== "off") throw new ConfigError("USAGE_COUNTING must be on or off");
  const accessLog = (env.ACCESS_LOG ?? "").trim() || "on";
  if (accessLog !== "on" && accessLog !== "off") throw new ConfigError("ACCESS_LOG must be on or off");
  if (!env.CHAT || !env.VOICE) throw new ConfigError("CHAT and VOICE service bindings are required");

  const issuer = (env.CLERK_ISSUER ?? "").trim();
  if (!issuer) throw new ConfigError("CLERK_ISSUER is required");
  httpsUrl("CLERK_ISSUER", issuer, dev);
  const jwksUrl = env.CLERK_JWKS_URL?.trim() || `${issuer.replace(/\/+$/, "")}/.well-known/jwks.json`;
  httpsUrl("CLERK_JWKS_URL", jwksUrl, dev);
  const algorithms = list(env.CLERK_JWT_ALGORITHMS);
  for (const alg of algorithms) {
    if (!/^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(alg)) {
      throw new ConfigError("CLERK_JWT_ALGORITHMS may list only asymmetric JWS algorithms");
    }
  }
  const jwtKey = env.CLERK_JWT_KEY?.trim() || undefined;
  if (jwtKey && !jwtKey.includes("-----BEGIN PUBLIC KEY-----")) {
    throw new ConfigError("CLERK_JWT_KEY must be a PEM public key");
  }
  // Its private key is committed: anyone could mint tokens for a deployment that trusts it.
  if (jwtKey && !dev && isDevelopmentPublicKey(jwtKey)) {
    throw new ConfigError("CLERK_JWT_KEY is the development key; staging and production need the instance's own key");
  }

  const templates = parseTemplates(env);

  // The dashboard's development sign-in signs with a committed private key: development only.
  const devSignInKey = env.DASHBOARD_DEV_SIGN_IN_KEY?.trim() || undefined;
  if (devSignInKey && !dev) {
    throw new ConfigError("DASHBOARD_DEV_SIGN_IN_KEY is development-only; staging and production sign in with Clerk");
  }
  if (devSignInKey && !devSignInKey.includes("-----BEGIN PRIVATE KEY-----")) {
    throw new ConfigError("DASHBOARD_DEV_SIGN_IN_KEY must be a PEM (PKCS#8) private key");
  }

  const pepper = env.API_KEY_PEPPER ?? "";
  if (pepper.length < 32) throw new ConfigError("API_KEY_PEPPER must be set to at least 32 characters");

  if (!env.REVOCATION_LOG) throw new ConfigError("REVOCATION_LOG Durable Object binding is missing");
  const feedSwitch = (env.REVOCATION_FEED ?? "").trim() || "on";
  if (feedSwitch !== "on" && feedSwitch !== "off") throw new ConfigError("REVOCATION_FEED must be on or off");
  const retentionSeconds = positiveInt("REVOCATION_RETENTION_SECONDS", env.REVOCATION_RETENTION_SECONDS, 600);
  if (retentionSeconds < MIN_REVOCATION_RETENTION_SECONDS) {
    throw new ConfigError(`REVOCATION_RETENTION_SECONDS must be at least ${MIN_REVOCATION_RETENTION_SECONDS}`);
  }

  const rateLimits = parseRateLimitConfig(env);
  if (!rateLimits.ok) throw new ConfigError(rateLimits.message);
  if (rateLimits.config.enabled) {
    for (const spec of [...rateLimits.config.tiers, ...Object.values(rateLimits.config.fixed)]) {
      if (typeof env[spec.binding]?.limit !== "function") throw new ConfigError(`${spec.binding} (rate limit ${spec.name}) is not a Rate Limiting binding`);
    }
  }

  return {
    environment,
    cors: { allowedOrigins: new Set(list(env.CORS_ALLOWED_ORIGINS)) },
    limits: {
      originTimeoutMs: positiveInt("ORIGIN_TIMEOUT_MS", env.ORIGIN_TIMEOUT_MS, 30_000),
      maxBodyBytes: positiveInt("MAX_BODY_BYTES", env.MAX_BODY_BYTES, 10 * 1024 * 1024),
      maxUrlBytes: 8 * 1024,
      maxHeaderBytes: 32 * 1024,
    },
    clerk: {
      issuer,
      jwksUrl,
      authorizedParties: new Set(list(env.CLERK_AUTHORIZED_PARTIES)),
      allowMissingAzp: env.CLERK_ALLOW_MISSING_AZP === "true",
      algorithms: algorithms.length ? algorithms : ["RS256"],
      jwtKey,
      jwksMaxStalenessSeconds: positiveInt("CLERK_JWKS_MAX_STALENESS_SECONDS", env.CLERK_JWKS_MAX_STALENESS_SECONDS, 3600),
      templates,
    },
    apiKeys: {
      issuePrefix: issuePrefixFor(environment),
      pepper,
      maxKeysPerOrg: positiveInt("API_KEY_LIMIT_PER_ORG", env.API_KEY_LIMIT_PER_ORG, 1000),
    },
    revocation: {
      feed: feedSwitch === "on",
      checkMs: nonNegativeInt("API_KEY_REVOCATION_CHECK_MS", env.API_KEY_REVOCATION_CHECK_MS, 1000),
      pollMs: positiveInt("REVOCATION_POLL_MS", env.REVOCATION_POLL_MS, 2000),
      retentionMs: retentionSeconds * 1000,
      timeoutMs: positiveInt("REVOCATION_LOG_TIMEOUT_MS", env.REVOCATION_LOG_TIMEOUT_MS, 2000),
    },
    usage: { counting: usageCounting === "on" },
    observability: { accessLog: accessLog === "on" },
    dashboard: { devSignInKey },
    rateLimits: rateLimits.config,
  };
}

function parseTemplates(env: Bindings): Config["clerk"]["templates"] {
  const enabled = (env.CLERK_TEMPLATE_TOKENS ?? "").trim();
  if (!["", "true", "false"].includes(enabled)) throw new ConfigError("CLERK_TEMPLATE_TOKENS must be true or false");
  const audiences = list(env.CLERK_TEMPLATE_AUDIENCES);
  const maxLifetimeSeconds = positiveInt("CLERK_TEMPLATE_MAX_LIFETIME_SECONDS", env.CLERK_TEMPLATE_MAX_LIFETIME_SECONDS, 600);
  const alg = env.CLERK_TEMPLATE_SIGNING_ALGORITHM?.trim() || "HS256";
  if (alg !== "HS256" && alg !== "HS384" && alg !== "HS512") {
    throw new ConfigError("CLERK_TEMPLATE_SIGNING_ALGORITHM must be HS256, HS384 or HS512");
  }
  const rawKey = env.CLERK_TEMPLATE_SIGNING_KEY ?? "";
  let signingKey: Config["clerk"]["templates"]["signingKey"];
  if (rawKey !== "") {
    // A public key pasted here would let anyone who can read it sign tokens: the classic confusion.
    if (rawKey.includes("-----BEGIN") || rawKey.trim().startsWith("{")) {
      throw new ConfigError("CLERK_TEMPLATE_SIGNING_KEY must be the template's HMAC secret, not a PEM or JWK");
    }
    const secret = new TextEncoder().encode(rawKey);
    if (secret.length < MIN_HMAC_KEY_BYTES[alg]) {
      throw new ConfigError(`CLERK_TEMPLATE_SIGNING_KEY must be at least ${MIN_HMAC_KEY_BYTES[alg]} bytes for ${alg}`);
    }
    signingKey = { alg, secret };
  }
  return { enabled: enabled !== "false", audiences: audiences.length ? audiences : ["agntix"], maxLifetimeSeconds, signingKey };
}

// Bindings objects are stable per isolate, so the config is parsed once per isolate.
const configs = new WeakMap<object, Config>();

/**
 * The parsed config for these bindings, parsed on first use. A bad setting is logged (by name,
 * never by value) and answered with 503 `gateway_misconfigured`: the gateway fails closed.
 */
export function getConfig(env: Bindings): Config {
  let config = configs.get(env);
  if (!config) {
    try {
      config = parseConfig(env);
    } catch (cause) {
      const message = cause instanceof ConfigError ? cause.message : "unreadable configuration";
      console.error(JSON.stringify({ level: "error", event: "config_invalid", message }));
      throw new GatewayError("gateway_misconfigured", { detail: "The gateway is not configured correctly.", cause });
    }
    configs.set(env, config);
  }
  return config;
}
