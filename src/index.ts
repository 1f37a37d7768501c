/**
 * The Agntix gateway. A request's path through the code, in order:
 * one `edge` middleware (request id; CORS, browser requests only, preflights end here; the access
 * log once the rest answered) → error rendering → /healthz →
 * the gate (config, request shape: URL, method, sizes, body on GET, method overrides; path check
 * and route match, authenticate, authorise, rate limits, declared body size, then forward an
 * origin's route itself: it streams the body and counts an undeclared one against the limit) → key API.
 *
 * The gate counts each API key's outcome in the isolate (src/usage/, `USAGE_COUNTING`).
 * Cron: `scheduled` (src/scheduled.ts) purges the audit log's expired rows.
 *
 * The gate is one middleware calling plain functions in that order: each Hono middleware hop and
 * each touch of `c.res` costs measurable CPU on the hot path (docs/performance.md).
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { authenticate, requireScopes } from "./auth/authenticate";
import { type AppEnv, type Bindings, type Config, getConfig } from "./env";
import { GatewayError, problemResponse } from "./errors";
import { devSession } from "./dashboard/dev-session";
import { keysApi } from "./keys/api";
import { leakedKeysHandler } from "./keys/leaked";
import { checkPath } from "./path";
import { writeAccessLog } from "./observability/access-log";
import { healthReport, readyReport } from "./observability/health";
import { operatorRevocationsHandler } from "./revocation/operator-route";
import { guardStream, relayWebSocket } from "./proxy/streams";
import { verifySessionToken } from "./auth/session-token";
import { forward, tooLarge } from "./proxy/forward";
import { enforceRateLimits } from "./ratelimit/limiter";
import { limitedCall } from "./ratelimit/policy";
import { hasCaseVariantRoute, isUpgrade, matchRoute, requiredScopes, type Route, type RouteTarget } from "./routes";
import { scheduled } from "./scheduled";
import type { Scope } from "./scopes";
import { countUse } from "./usage/record";

export { UsageLedger } from "./usage/ledger";

const app = new Hono<AppEnv>();

// CORS for first-party browser apps (run by `edge` below): preflights are answered there, before
// authentication. A request without `Origin` is not a browser's cross-origin request and needs no CORS headers.
const corsForAllowedOrigins = cors({
  origin: (origin, c) => (getConfig(c.env).cors.allowedOrigins.has(origin) ? origin : null),
  allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
  // No x-api-key: API keys stay out of browsers (docs/authentication.md); browsers send Clerk tokens.
  allowHeaders: ["authorization", "content-type", "x-request-id", "last-event-id"],
  exposeHeaders: ["x-request-id", "www-authenticate", "retry-after", "ratelimit-policy", "ratelimit"],
  maxAge: 600,
});

// The first middleware, one hop for three jobs (each hop costs measurable CPU: docs/performance.md):
// - the request id is the gateway's own, always: a caller-chosen one could collide with, or pose
//   as, another request's in the logs. A caller's own id travels to the origin as
//   `x-client-request-id` (src/proxy/forward.ts);
// - CORS for first-party browser apps (above): only requests with an `Origin` pay for it;
// - one structured access-log line per request (ACCESS_LOG), once the rest of the app answered.
app.use(async function edge(c, next) {
  const started = Date.now();
  const id = crypto.randomUUID();
  c.set("requestId", id);
  // For responses the app builds (c.json, problem documents); forward() sets its own.
  c.header("x-request-id", id);
  if (c.req.raw.headers.has("origin")) {
    // A preflight is answered by the CORS middleware itself, which returns its response.
    const preflight = await corsForAllowedOrigins(c, next);
    if (preflight) c.res = preflight;
  } else {
    await next();
  }
  writeAccessLog(c, started);
});

app.onError((error, c) => {
  const requestId = c.get("requestId");
  if (error instanceof GatewayError) {
    if (error.status >= 500) logError(requestId, error.code, error.cause);
    return problemResponse(error, requestId);
  }
  // Anything else is a bug: log its kind, answer without internals.
  logError(requestId, "internal_error", error);
  return problemResponse(new GatewayError("internal_error", { detail: "The gateway failed unexpectedly." }), requestId);
});

app.notFound((c) => problemResponse(new GatewayError("not_found", { detail: "No route matches this path." }), c.get("requestId")));

// Healthy means configured: a deployment whose config does not parse answers 503 here too. The
// body says which version is deployed and what this isolate saw of its dependencies ("degraded"
// while one fails, still 200 since keys keep being verified); /readyz checks them live, for the
// deploy smoke check (src/observability/health.ts).
app.get("/healthz", async (c) => c.json(await healthReport(c.env, getConfig(c.env)), 200, { "cache-control": "no-store" }));
app.get("/readyz", async (c) => {
  const report = await readyReport(c.env, getConfig(c.env));
  return c.json(report, report.status === "ready" ? 200 : 503, { "cache-control": "no-store" });
});

// The dashboard page (/dashboard/api-keys) is static assets; this is its development-only sign-in
// (404 unless DASHBOARD_DEV_SIGN_IN_KEY is set, which only development accepts).
app.post("/dashboard/dev-session", devSession);
// Leaked-key reports need no credential (anyone holding a key may kill it): answered before the gate.
app.all("/v1/chat/api-keys/revoke", leakedKeysHandler);
// The operator CLI's revocations, signed with the pepper (src/revocation/operator-route.ts).
app.all("/v1/chat/api-keys/revocations", operatorRevocationsHandler);

app.use(async function gate(c, next) {
  const config = getConfig(c.env);
  c.set("config", config);
  const request = c.req.raw;
  const url = parseUrl(request.url);
  checkMethod(request);
  checkSizes(url, request.headers, config);
  checkNoMethodOverride(url);
  const route = routeFor(url.pathname);
  c.set("route", route);
  const principal = await authenticate(request.headers, { env: c.env, config, ctx: c.executionCtx });
  c.set("principal", principal);
  const required = requiredScopes(route, request.method, isUpgrade(request.headers));
  // An API key's outcome is counted in this isolate (memory only; flushes run behind the response).
  const counted = principal.method === "api_key" && config.usage.counting;
  let policy: string | undefined;
  try {
    requireScopes(principal, required);
    // Rate limits count only callers who may make this call; a refused request reaches no origin.
    policy = await enforceRateLimits(c.env, config.rateLimits, principal, limitedCall(route.target.kind === "gateway", request.method, url.pathname));
  } catch (error) {
    if (counted && error instanceof GatewayError) {
      if (error.code === "insufficient_scope") countUse(c.env, c.executionCtx, principal, "refused_scope", required);
      else if (error.code === "rate_limited") countUse(c.env, c.executionCtx, principal, "rate_limited", required);
    }
    throw error;
  }
  if (counted) countUse(c.env, c.executionCtx, principal, "allowed", required);
  // Bodies are touched only now that the caller is known. A declared Content-Length over the
  // limit is refused at once; every body streams, and one without a length is counted on its way
  // (src/proxy/forward.ts), so memory does not grow with a body's size.
  const declared = request.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= config.limits.maxBodyBytes)) throw tooLarge(config.limits.maxBodyBytes);
  // An origin's route is proxied from here, with no further middleware hop; the key API's go on.
  if (route.target.kind === "origin") {
    const response = await proxy(c, route.target.binding, required);
    if (policy) response.headers.set("ratelimit-policy", policy);
    return response;
  }
  await next();
  if (policy) c.res.headers.set("ratelimit-policy", policy);
});

// Hono's router matches on the decoded path; the gate matched on the raw one. They agree for every
// path the gate lets through, and this guard keeps it so: the key API runs only for requests
// whose checked route is the key API, whatever the router thinks.
const keysApiGuard: MiddlewareHandler<AppEnv> = function keysApiGuard(c, next) {
  if (c.get("route").target.kind !== "gateway") throw new GatewayError("not_found", { detail: "No route matches this path." });
  return next();
};
app.use("/v1/chat/api-keys", keysApiGuard);
app.use("/v1/chat/api-keys/*", keysApiGuard);
app.route("/v1/chat/api-keys", keysApi);

// Paths under the key API that its router does not know end here, never at an origin (the gate
// proxies every origin's route itself).
app.all("*", () => {
  throw new GatewayError("not_found", { detail: "No route matches this path." });
});

/** Forward the request to an origin's binding; streams end when their credential does (src/proxy/streams.ts). */
async function proxy(c: Context<AppEnv>, binding: Extract<RouteTarget, { kind: "origin" }>["binding"], required: readonly Scope[]): Promise<Response> {
  const config = c.get("config");
  const principal = c.get("principal");
  const guard = { checkMs: config.revocation.checkMs, required, waitUntil: (work: Promise<unknown>) => c.executionCtx.waitUntil(work) };
  const upgrade = isUpgrade(c.req.raw.headers);
  const response = await forward(c.req.raw, {
    origin: c.env[binding],
    principal,
    requestId: c.get("requestId"),
    timeoutMs: config.limits.originTimeoutMs,
    maxBodyBytes: config.limits.maxBodyBytes,
    unwrapDevErrors: config.environment === "development",
  });
  if (upgrade && response.webSocket) {
    const deps = { env: c.env, config, ctx: c.executionCtx };
    return relayWebSocket(response, principal, { ...guard, refreshToken: (token) => verifySessionToken(token, deps) });
  }
  return guardStream(response, principal, guard);
}

/** The request's URL; one that does not parse (`OPTIONS *`, say) is 400, never a 500. */
function parseUrl(raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new GatewayError("invalid_path", { detail: "The request target is not a path." });
  }
}

/** Methods an origin may be sent. `CONNECT` (a tunnel), `TRACE` (echoes credentials) and the rest are refused. */
const FORWARDED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const ALLOW = [...FORWARDED_METHODS].join(", ");

/** 405 for a method the gateway does not forward; 400 for a GET or HEAD that carries a body. */
function checkMethod(request: Request): void {
  const method = request.method;
  if (!FORWARDED_METHODS.has(method)) {
    throw new GatewayError("method_not_allowed", { detail: `The gateway does not accept ${method.slice(0, 16)} requests.`, headers: { allow: ALLOW } });
  }
  if ((method === "GET" || method === "HEAD") && hasBody(request)) {
    throw new GatewayError("body_not_allowed", { detail: `A ${method} request must not carry a body.` });
  }
}

/** True when the request announces a body: chunked, a non-zero Content-Length, or (with neither) a body stream. */
export function hasBody(request: Request): boolean {
  if (request.headers.has("transfer-encoding")) return true;
  const length = request.headers.get("content-length");
  return length === null ? request.body !== null : length.trim() !== "0";
}

/**
 * 400 for a `_method` query parameter: an origin that honours it (Rails, Laravel, Express's
 * method-override) would run a method the scope check did not see. The header forms are dropped
 * in src/proxy/forward.ts; a `_method` field inside a form body is the origin's concern.
 */
function checkNoMethodOverride(url: URL): void {
  const search = url.search;
  // The name needs an underscore, literal or encoded; most queries have neither and cost one scan.
  if (search.length === 0 || !/_|%5f/i.test(search)) return;
  // Split on `;` as well as `&` (older Rack and other parsers do), and decode each name as an
  // origin's parser would: `_m%65thod` and `x=1;_method=` are the same override.
  for (const pair of search.slice(1).split(/[&;]/)) {
    const raw = pair.split("=", 1)[0]!.replaceAll("+", " ");
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      name = raw;
    }
    if (name.trim().toLowerCase() === "_method") {
      throw new GatewayError("method_override_refused", { detail: "The _method query parameter is not accepted; send the real HTTP method." });
    }
  }
}

/** 414 for a request target over the limit, 431 for headers over it. */
function checkSizes(url: URL, headers: Headers, config: Config): void {
  if (url.pathname.length + url.search.length > config.limits.maxUrlBytes) {
    throw new GatewayError("uri_too_long", { detail: `The request target exceeds ${config.limits.maxUrlBytes} bytes.` });
  }
  let headerBytes = 0;
  for (const [name, value] of headers) headerBytes += name.length + value.length + 4;
  if (headerBytes > config.limits.maxHeaderBytes) {
    throw new GatewayError("headers_too_large", { detail: `Request headers exceed ${config.limits.maxHeaderBytes} bytes.` });
  }
}

/** The route for a raw pathname, routed on exactly the path that will be forwarded (400 or 404 otherwise). */
function routeFor(pathname: string): Route {
  const checked = checkPath(pathname);
  if (!checked.ok) throw new GatewayError("invalid_path", { detail: checked.reason });
  if (hasCaseVariantRoute(checked.path)) {
    throw new GatewayError("invalid_path", { detail: "Paths are case-sensitive; use the documented lower-case path." });
  }
  const route = matchRoute(checked.path);
  if (!route) throw new GatewayError("not_found", { detail: "No route matches this path." });
  return route;
}

function logError(requestId: string | undefined, code: string, cause: unknown): void {
  const kind = cause instanceof Error ? cause.name : typeof cause;
  console.error(JSON.stringify({ level: "error", event: "request_failed", code, request_id: requestId, cause: kind }));
}

export { RevocationLog } from "./revocation/durable-object";
/** The worker: requests through the Hono app, the daily Cron Trigger through `scheduled`. */
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Bindings>;
