/**
 * The only I/O of rate limiting: the calls to the Workers Rate Limiting bindings, after
 * authentication and authorisation and before anything reaches an origin or the key store.
 *
 * Limits are checked one after the other, most specific first, and the first refusal ends the
 * request: a key over its own limit does not go on spending its organisation's aggregate (the
 * binding does not count a refused call), so the other keys of the organisation keep working.
 *
 * A limiter that fails (the binding throws) fails OPEN for traffic and for key API reads: the
 * limits protect origins from excess, and an outage of the limiter must not become an outage of
 * every customer; an event `rate_limiter_failed` is logged to alert on. It fails CLOSED (503
 * `rate_limiter_unavailable`) for the key API's writes: minting and deleting keys is rare, cheap
 * to retry, and the place where an unthrottled stolen credential does lasting harm.
 *
 * A counter the binding has just refused is refused from memory for `REFUSAL_MEMO_MS` in this
 * isolate: a client hammering past its limit costs no binding call per request.
 */
import type { Principal } from "../auth/principal";
import type { Bindings } from "../env";
import { GatewayError } from "../errors";
import { TtlLru } from "../ttl-lru";
import { type AppliedLimit, exhaustedField, type LimitedCall, limitsFor, policyField, type RateLimitConfig } from "./policy";

/** Limits of one call kind for one principal, and the `RateLimit-Policy` value they make. */
interface Plan {
  readonly limits: readonly AppliedLimit[];
  readonly policy: string;
  /** Per limit, its key in `refusals` (binding and counter). */
  readonly memoKeys: readonly string[];
}

/** How long this isolate refuses a counter the binding refused, without asking the binding again. */
export const REFUSAL_MEMO_MS = 1000;
const refusals = new TtlLru<string, true>(10_000, REFUSAL_MEMO_MS);

// Verifiers hand out the same principal object for every request of a cached key or token, so a
// warm request finds its plan here; per config, since a principal may outlive a config.
const plans = new WeakMap<RateLimitConfig, WeakMap<Principal, Partial<Record<LimitedCall, Plan>>>>();

function planFor(config: RateLimitConfig, principal: Principal, call: LimitedCall): Plan {
  let byPrincipal = plans.get(config);
  if (!byPrincipal) {
    byPrincipal = new WeakMap();
    plans.set(config, byPrincipal);
  }
  let byCall = byPrincipal.get(principal);
  if (!byCall) {
    byCall = {};
    byPrincipal.set(principal, byCall);
  }
  let plan = byCall[call];
  if (!plan) {
    const limits = limitsFor(config, principal, call);
    plan = { limits, policy: policyField(limits), memoKeys: limits.map((l) => `${l.spec.binding} ${l.counter}`) };
    byCall[call] = plan;
  }
  return plan;
}

const SUBJECTS: Readonly<Record<string, string>> = {
  key: "this API key",
  user: "this user",
  organization_sessions: "the sessions of your organization",
  organization: "your organization",
  key_api: "the key management API",
  key_creation: "key creation in your organization",
  leaked_key_reports: "leaked-key reports from this address",
};

function rateLimited(limit: AppliedLimit, plan: Plan): GatewayError {
  const { quota, windowSeconds } = limit.spec;
  return new GatewayError("rate_limited", {
    detail: `Rate limit reached: ${SUBJECTS[limit.name] ?? limit.name} allows ${quota} requests per ${windowSeconds} seconds (per location, approximately).`,
    extra: { limit: limit.name, quota, window_seconds: windowSeconds },
    headers: {
      "retry-after": String(windowSeconds),
      "ratelimit-policy": plan.policy,
      ratelimit: exhaustedField(limit),
    },
  });
}

// One `rate_limiter_failed` line per binding per second per isolate: an outage fails every
// request, and the log should say so without repeating it thousands of times a second.
const LOG_INTERVAL_MS = 1000;
const lastLogged = new Map<string, { at: number; suppressed: number }>();

function logFailure(limit: AppliedLimit, call: LimitedCall | "leaked_key_report", failClosed: boolean, cause: unknown, now: number): void {
  const seen = lastLogged.get(limit.spec.binding);
  if (seen && now - seen.at < LOG_INTERVAL_MS) {
    seen.suppressed++;
    return;
  }
  lastLogged.set(limit.spec.binding, { at: now, suppressed: 0 });
  console.error(
    JSON.stringify({
      level: "error",
      event: "rate_limiter_failed",
      binding: limit.spec.binding,
      limit: limit.name,
      call,
      outcome: failClosed ? "refused_503" : "allowed",
      cause: cause instanceof Error ? cause.name : typeof cause,
      suppressed_since_last: seen?.suppressed ?? 0,
    }),
  );
}

/**
 * Count the request against every limit that applies to it; throws 429 `rate_limited` at the
 * first one reached (or 503 `rate_limiter_unavailable`, see above). Returns the
 * `RateLimit-Policy` value for the response, or undefined when limits are off.
 */
export async function enforceRateLimits(env: Bindings, config: RateLimitConfig, principal: Principal, call: LimitedCall): Promise<string | undefined> {
  if (!config.enabled) return undefined;
  const plan = planFor(config, principal, call);
  const failClosed = call === "key_api_write" || call === "key_creation";
  const now = Date.now();
  for (const [i, limit] of plan.limits.entries()) {
    if (refusals.get(plan.memoKeys[i]!, now)) throw rateLimited(limit, plan);
    let success: boolean;
    try {
      success = (await env[limit.spec.binding]!.limit({ key: limit.counter })).success;
    } catch (cause) {
      logFailure(limit, call, failClosed, cause, now);
      if (failClosed) {
        throw new GatewayError("rate_limiter_unavailable", { detail: "The rate limiter is unavailable; retry shortly.", headers: { "retry-after": "1" }, cause });
      }
      continue;
    }
    if (!success) {
      refusals.set(plan.memoKeys[i]!, true, now);
      throw rateLimited(limit, plan);
    }
  }
  return plan.policy;
}

/**
 * The leaked-key report endpoint's limit (`leaked_key_reports`, per client IP), with the same
 * 429 and headers as every other limit. It fails OPEN: the endpoint needs no credential and can
 * only kill keys the caller already holds, so a failing limiter lets reports through (logged).
 * Returns the `RateLimit-Policy` value, or undefined when limits are off.
 */
export async function enforceLeakedKeyReportLimit(env: Bindings, config: RateLimitConfig, clientIp: string): Promise<string | undefined> {
  if (!config.enabled) return undefined;
  const limit: AppliedLimit = { name: "leaked_key_reports", spec: config.fixed.leaked_key_reports, counter: `ip:${clientIp}` };
  const plan: Plan = { limits: [limit], policy: policyField([limit]), memoKeys: [`${limit.spec.binding} ${limit.counter}`] };
  const now = Date.now();
  if (refusals.get(plan.memoKeys[0]!, now)) throw rateLimited(limit, plan);
  try {
    if (!(await env[limit.spec.binding]!.limit({ key: limit.counter })).success) {
      refusals.set(plan.memoKeys[0]!, true, now);
      throw rateLimited(limit, plan);
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    logFailure(limit, "leaked_key_report", false, error, now);
  }
  return plan.policy;
}

/** Forget the failure-log throttle and the remembered refusals (tests). */
export function resetRateLimiterForTests(): void {
  lastLogged.clear();
  refusals.clear();
}
