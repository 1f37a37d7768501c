/**
 * The Agntix gateway. A request's path through the code, in order:
 * request id → error rendering → CORS (browser requests only; preflights end here) → /healthz →
 * the gate (config, size limits, path check and route match, authenticate, authorise, body limit)
 * → key API or forward.
 *
 * The gate counts each API key's outcome in the isolate (src/usage/, `USAGE_COUNTING`).
 * Cron: `scheduled` (src/scheduled.ts) purges the audit log's expired rows.
 *
 * The gate is one middleware calling plain functions in that order: each Hono middleware hop and
 * each touch of `c.res` costs measurable CPU on the hot path (docs/performance.md).
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { authenticate, requireScopes } from "./auth/authenticate";
import type { Principal } from "./auth/principal";
import { type AppEnv, type Bindings, type Config, getConfig } from "./env";
import { GatewayError, problemResponse } from "./errors";
import { devSession } from "./dashboard/dev-session";
import { keysApi } from "./keys/api";
import { checkPath } from "./path";
import { feedFor } from "./revocation/feed";
import { forward } from "./proxy/forward";
import { hasCaseVariantRoute, matchRoute, requiredScopes, type Route } from "./routes";
import { scheduled } from "./scheduled";
import type { Scope } from "./scopes";
import { countUse } from "./usage/record";

export { UsageLedger } from "./usage/ledger";

const app = new Hono<AppEnv>();

app.use(requestId({ headerName: "x-request-id", limitLength: 128 }));

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

// CORS for first-party browser apps: preflights are answered here, before authentication. A
// request without `Origin` is not a browser's cross-origin request and needs no CORS headers.
const corsForAllowedOrigins = cors({
  origin: (origin, c) => (getConfig(c.env).cors.allowedOrigins.has(origin) ? origin : null),
  allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
  // No x-api-key: API keys stay out of browsers (docs/authentication.md); browsers send Clerk tokens.
  allowHeaders: ["authorization", "content-type", "x-request-id", "last-event-id"],
  exposeHeaders: ["x-request-id", "www-authenticate"],
  maxAge: 600,
});
app.use(function corsForBrowsers(c, next) {
  return c.req.raw.headers.has("origin") ? corsForAllowedOrigins(c, next) : next();
});

// Healthy means configured: a deployment whose config does not parse answers 503 here too. The
// revocation feed is looked at (one Cache API read; a log call only if this location's copy is
// stale): "degraded" while the log is unreachable, still 200 since keys keep being verified.
app.get("/healthz", async (c) => {
  const config = getConfig(c.env);
  const feed = feedFor(c.env, config);
  if (config.revocation.feed) await feed.refresh();
  const revocationFeed = feed.health();
  const status = revocationFeed.status === "unavailable" ? "degraded" : "ok";
  return c.json({ status, revocation_feed: revocationFeed }, 200, { "cache-control": "no-store" });
});

// The dashboard page (/dashboard/api-keys) is static assets; this is its development-only sign-in
// (404 unless DASHBOARD_DEV_SIGN_IN_KEY is set, which only development accepts).
app.post("/dashboard/dev-session", devSession);

app.use(async function gate(c, next) {
  const config = getConfig(c.env);
  c.set("config", config);
  const request = c.req.raw;
  const url = new URL(request.url);
  checkSizes(url, request.headers, config);
  const route = routeFor(url.pathname);
  c.set("route", route);
  const principal = await authenticate(request.headers, { env: c.env, config, ctx: c.executionCtx });
  c.set("principal", principal);
  const required = requiredScopes(route, request.method);
  if (principal.method === "api_key" && config.usage.counting) authoriseCounted(c, principal, required);
  else requireScopes(principal, required);
  // Bodies are read only now that the caller is known. A declared Content-Length over the limit
  // is refused at once and the body streams through; a body without one is read up to the limit
  // first, so an origin never receives a body cut short as if it were whole.
  return bodyLimitFor(config.limits.maxBodyBytes)(c, next);
});

// Hono's router matches on the decoded path; the gate matched on the raw one. They agree for every
// path the gate lets through, and this guard keeps it so: the key API runs only for requests
// whose checked route is the key API, whatever the router thinks.
const keysApiGuard: MiddlewareHandler<AppEnv> = function keysApiGuard(c, next) {
  if (c.var.route.target.kind !== "gateway") throw new GatewayError("not_found", { detail: "No route matches this path." });
  return next();
};
app.use("/v1/chat/api-keys", keysApiGuard);
app.use("/v1/chat/api-keys/*", keysApiGuard);
app.route("/v1/chat/api-keys", keysApi);

app.all("*", async (c) => {
  const route = c.var.route;
  // Paths under the key API that its router does not know end here, never at an origin.
  if (route.target.kind !== "origin") throw new GatewayError("not_found", { detail: "No route matches this path." });
  return forward(c.req.raw, {
    origin: c.env[route.target.binding],
    principal: c.var.principal,
    requestId: c.var.requestId,
    timeoutMs: c.var.config.limits.originTimeoutMs,
  });
});

/** `requireScopes`, counting the key's outcome in this isolate (memory only; flushes run behind the response). */
function authoriseCounted(c: Context<AppEnv>, principal: Principal, required: readonly Scope[]): void {
  try {
    requireScopes(principal, required);
  } catch (error) {
    countUse(c.env, c.executionCtx, principal, "refused_scope", required);
    throw error;
  }
  countUse(c.env, c.executionCtx, principal, "allowed", required);
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

const bodyLimits = new Map<number, MiddlewareHandler<AppEnv>>();
function bodyLimitFor(maxSize: number): MiddlewareHandler<AppEnv> {
  let middleware = bodyLimits.get(maxSize);
  if (!middleware) {
    middleware = bodyLimit({
      maxSize,
      onError: () => {
        throw new GatewayError("payload_too_large", { detail: `The request body exceeds ${maxSize} bytes.` });
      },
    });
    bodyLimits.set(maxSize, middleware);
  }
  return middleware;
}

function logError(requestId: string | undefined, code: string, cause: unknown): void {
  const kind = cause instanceof Error ? cause.name : typeof cause;
  console.error(JSON.stringify({ level: "error", event: "request_failed", code, request_id: requestId, cause: kind }));
}

export { RevocationLog } from "./revocation/durable-object";
/** The worker: requests through the Hono app, the daily Cron Trigger through `scheduled`. */
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Bindings>;
