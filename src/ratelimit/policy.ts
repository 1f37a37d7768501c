/**
 * Rate-limit policies as configured, and the decisions about them: parsing the settings, ordering
 * tiers, and the IETF `RateLimit-Policy` / `RateLimit` field values
 * (draft-ietf-httpapi-ratelimit-headers-11). Pure functions only; the binding calls live in
 * `limiter.ts`.
 *
 * Settings (wrangler.toml vars):
 *
 *     RATE_LIMITS_ENABLED     = "true" | "false"                       (default true)
 *     RATE_LIMIT_TIERS        = "basic=RL_BASIC:60/60,standard=RL_STANDARD:600/60,…"   lowest first
 *     RATE_LIMIT_POLICIES     = "organization=RL_ORGANIZATION:6000/60,…"                the fixed ones
 *     RATE_LIMIT_SESSION_TIER = "standard"
 *
 * Each entry is `name=BINDING:limit/period`; BINDING is a `[[ratelimits]]` binding with the same
 * `simple = { limit, period }` (the binding cannot tell its own numbers, and a test keeps the two
 * in step for every environment).
 */
import type { Principal } from "../auth/principal";

/** One limit: a name, the Rate Limiting binding that counts it, and its numbers (for the headers). */
export interface LimitSpec {
  readonly name: string;
  /** Name of the `[[ratelimits]]` binding (always `RL_…`). */
  readonly binding: `RL_${string}`;
  /** Requests allowed per window (per counter key). */
  readonly quota: number;
  /** Window in seconds: 10 or 60 (the binding's only periods). */
  readonly windowSeconds: 10 | 60;
}

/** The fixed-purpose limits every deployment defines in `RATE_LIMIT_POLICIES`. */
export const FIXED_POLICIES = ["organization", "organization_sessions", "key_api", "key_creation", "leaked_key_reports"] as const;
export type FixedPolicy = (typeof FIXED_POLICIES)[number];

/** The tier a key gets when none is chosen, and the tier of keys created before tiers existed. */
export const DEFAULT_TIER = "standard";

/** Rate-limit settings, parsed once with the rest of the config. */
export interface RateLimitConfig {
  /** False turns every limit off (`RATE_LIMITS_ENABLED=false`; for A/B benchmarks and emergencies). */
  readonly enabled: boolean;
  /** Tiers a key can carry, lowest first. */
  readonly tiers: readonly LimitSpec[];
  /** The tier of a session's user (its per-user limit) and the highest tier a session may give a key. */
  readonly sessionTier: string;
  readonly fixed: Readonly<Record<FixedPolicy, LimitSpec>>;
}

const NAME = /^[a-z][a-z0-9_]{0,31}$/;
const ENTRY = /^([a-z][a-z0-9_]{0,31})=(RL_[A-Z0-9_]{1,60}):(\d{1,9})\/(\d{1,2})$/;

/** Parse `name=BINDING:limit/period, …`; the message names the first bad entry. */
export function parseLimitSpecs(setting: string, text: string | undefined): { ok: true; specs: LimitSpec[] } | { ok: false; message: string } {
  const entries = (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) return { ok: false, message: `${setting} must list at least one name=RL_BINDING:limit/period` };
  const specs: LimitSpec[] = [];
  for (const entry of entries) {
    const m = ENTRY.exec(entry);
    if (!m) return { ok: false, message: `${setting}: "${entry.slice(0, 80)}" is not name=RL_BINDING:limit/period` };
    const [, name, binding, limit, period] = m as unknown as [string, string, `RL_${string}`, string, string];
    const quota = Number(limit);
    const windowSeconds = Number(period);
    if (quota < 1) return { ok: false, message: `${setting}: ${name} needs a limit of at least 1` };
    if (windowSeconds !== 10 && windowSeconds !== 60) return { ok: false, message: `${setting}: ${name}'s period must be 10 or 60` };
    if (specs.some((s) => s.name === name)) return { ok: false, message: `${setting}: ${name} is listed twice` };
    specs.push({ name, binding, quota, windowSeconds });
  }
  return { ok: true, specs };
}

/** The rate-limit settings from the vars; throws nothing, returns the first problem instead. */
export function parseRateLimitConfig(vars: {
  RATE_LIMITS_ENABLED?: string | undefined;
  RATE_LIMIT_TIERS?: string | undefined;
  RATE_LIMIT_POLICIES?: string | undefined;
  RATE_LIMIT_SESSION_TIER?: string | undefined;
}): { ok: true; config: RateLimitConfig } | { ok: false; message: string } {
  const switchValue = (vars.RATE_LIMITS_ENABLED ?? "").trim();
  if (!["", "true", "false"].includes(switchValue)) return { ok: false, message: "RATE_LIMITS_ENABLED must be true or false" };
  const tiers = parseLimitSpecs("RATE_LIMIT_TIERS", vars.RATE_LIMIT_TIERS);
  if (!tiers.ok) return tiers;
  if (!tiers.specs.some((t) => t.name === DEFAULT_TIER)) return { ok: false, message: `RATE_LIMIT_TIERS must define the default tier ${DEFAULT_TIER}` };
  const policies = parseLimitSpecs("RATE_LIMIT_POLICIES", vars.RATE_LIMIT_POLICIES);
  if (!policies.ok) return policies;
  const fixed: Partial<Record<FixedPolicy, LimitSpec>> = {};
  for (const spec of policies.specs) {
    if (!(FIXED_POLICIES as readonly string[]).includes(spec.name)) {
      return { ok: false, message: `RATE_LIMIT_POLICIES: ${spec.name} is not one of ${FIXED_POLICIES.join(", ")}` };
    }
    fixed[spec.name as FixedPolicy] = spec;
  }
  const missing = FIXED_POLICIES.filter((name) => !fixed[name]);
  if (missing.length) return { ok: false, message: `RATE_LIMIT_POLICIES must define ${missing.join(", ")}` };
  const sessionTier = (vars.RATE_LIMIT_SESSION_TIER ?? "").trim() || DEFAULT_TIER;
  if (!tiers.specs.some((t) => t.name === sessionTier)) return { ok: false, message: "RATE_LIMIT_SESSION_TIER must name a tier of RATE_LIMIT_TIERS" };
  return {
    ok: true,
    config: { enabled: switchValue !== "false", tiers: tiers.specs, sessionTier, fixed: fixed as Record<FixedPolicy, LimitSpec> },
  };
}

/** True when `name` could be a tier name (the shape only; whether it is configured is `tierSpec`'s). */
export const isTierName = (name: string): boolean => NAME.test(name);

/** The configured tier of this name, or undefined. */
export function tierSpec(config: RateLimitConfig, name: string): LimitSpec | undefined {
  return config.tiers.find((t) => t.name === name);
}

/** Position of a tier in the order (0 = lowest); an unknown tier ranks as the default one. */
export function tierRank(tiers: readonly string[], name: string): number {
  const rank = tiers.indexOf(name);
  return rank >= 0 ? rank : tiers.indexOf(DEFAULT_TIER);
}

/**
 * May a caller whose own tier is `ceiling` (undefined: an operator, who may give any tier) give a
 * key the tier `requested`? `unknown` when no such tier is configured.
 */
export function checkTierGrant(tiers: readonly string[], ceiling: string | undefined, requested: string): "ok" | "unknown" | "escalation" {
  if (!tiers.includes(requested)) return "unknown";
  if (ceiling === undefined) return "ok";
  return tierRank(tiers, requested) <= tierRank(tiers, ceiling) ? "ok" : "escalation";
}

/** The tier of a key record's `rate_limit` (absent on keys made before tiers: the default). */
export const keyTier = (rateLimit: string | undefined): string => rateLimit ?? DEFAULT_TIER;

/** A limit as applied to one request: which spec, under which name the caller sees it. */
export interface AppliedLimit {
  /** The policy name in the headers and the problem's `limit`: `key`, `user`, `organization`, … */
  readonly name: string;
  readonly spec: LimitSpec;
  /** The counter key inside the spec's binding. */
  readonly counter: string;
}

/** `RateLimit-Policy` (§3): `"key";q=600;w=60, "organization";q=6000;w=60`. */
export function policyField(limits: readonly AppliedLimit[]): string {
  return limits.map((l) => `"${l.name}";q=${l.spec.quota};w=${l.spec.windowSeconds}`).join(", ");
}

/**
 * `RateLimit` (§4) for a refused request: nothing left (`r=0`) under the policy that refused it,
 * for at most its window (`t`). The binding does not say when its window ends, so `t` is the
 * whole window, the longest the caller may have to wait.
 */
export function exhaustedField(limit: AppliedLimit): string {
  return `"${limit.name}";r=0;t=${limit.spec.windowSeconds}`;
}

/** What a request is, for rate limiting: traffic to an origin, or a call of the key API. */
export type LimitedCall = "traffic" | "key_api_read" | "key_api_write" | "key_creation";

/**
 * The kind of call: key API reads (GET/HEAD), key-minting writes (POST: create, rotate, bulk
 * rotate) and other writes (the kill switch `POST …/revoke-all` mints nothing); everything else
 * is traffic.
 */
export function limitedCall(isKeyApi: boolean, method: string, path = ""): LimitedCall {
  if (!isKeyApi) return "traffic";
  if (method === "GET" || method === "HEAD") return "key_api_read";
  return method === "POST" && !path.endsWith("/revoke-all") ? "key_creation" : "key_api_write";
}

/**
 * The limits a call goes through, most specific first. Counter keys carry a prefix per kind, so
 * a key and a user never share a counter when their tiers share a binding.
 *
 * - an API key's traffic: its tier per key, then `organization` (every credential of the org);
 * - a session's traffic: the session tier per user, `organization_sessions` (all sessions of the
 *   org), then `organization`;
 * - the key API: `key_api` per credential; key-minting calls also `key_creation` per org.
 */
export function limitsFor(config: RateLimitConfig, principal: Principal, call: LimitedCall): AppliedLimit[] {
  const { fixed } = config;
  const org = { name: "organization", spec: fixed.organization, counter: `o:${principal.orgId}` };
  switch (call) {
    case "traffic":
      if (principal.method === "api_key") {
        const tier = tierSpec(config, keyTier(principal.rateLimitTier)) ?? tierSpec(config, DEFAULT_TIER)!;
        return [{ name: "key", spec: tier, counter: `k:${principal.subject}` }, org];
      }
      return [
        { name: "user", spec: tierSpec(config, config.sessionTier)!, counter: `u:${principal.subject}` },
        { name: "organization_sessions", spec: fixed.organization_sessions, counter: `s:${principal.orgId}` },
        org,
      ];
    case "key_creation":
      return [
        { name: "key_api", spec: fixed.key_api, counter: `a:${principal.subject}` },
        { name: "key_creation", spec: fixed.key_creation, counter: `c:${principal.orgId}` },
      ];
    default:
      return [{ name: "key_api", spec: fixed.key_api, counter: `a:${principal.subject}` }];
  }
}

/** The tier a caller holds, the ceiling of what it may give a key: its key's, or the session tier. */
export function callerTier(config: RateLimitConfig, principal: Principal): string {
  return principal.method === "api_key" ? keyTier(principal.rateLimitTier) : config.sessionTier;
}
