/**
 * The Agntix gateway. A request's path through the code, in order:
 * request id → error rendering → size limits → CORS (preflights end here) → /healthz →
 * path check and route match → authenticate → authorise (route scope) → key API or forward.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { authenticate, requireScopes } from "./auth/authenticate";
import { type AppEnv, getConfig } from "./env";
import { GatewayError, problemResponse } from "./errors";
import { keysApi } from "./keys/api";
import { checkPath } from "./path";
import { forward } from "./proxy/forward";
import { hasCaseVariantRoute, matchRoute, requiredScopes } from "./routes";

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

// Size limits and configuration, before anything reads the request.
app.use(async function limits(c, next) {
  const config = getConfig(c.env);
  c.set("config", config);
  const url = new URL(c.req.url);
  if (url.pathname.length + url.search.length > config.limits.maxUrlBytes) {
    throw new GatewayError("uri_too_long", { detail: `The request target exceeds ${config.limits.maxUrlBytes} bytes.` });
  }
  let headerBytes = 0;
  for (const [name, value] of c.req.raw.headers) headerBytes += name.length + value.length + 4;
  if (headerBytes > config.limits.maxHeaderBytes) {
    throw new GatewayError("headers_too_large", { detail: `Request headers exceed ${config.limits.maxHeaderBytes} bytes.` });
  }
  await next();
});

// CORS for first-party browser apps: preflights are answered here, before authentication.
app.use(
  cors({
    origin: (origin, c) => (c.var.config.cors.allowedOrigins.has(origin) ? origin : null),
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    allowHeaders: ["authorization", "content-type", "x-api-key", "x-request-id", "last-event-id"],
    exposeHeaders: ["x-request-id", "www-authenticate"],
    maxAge: 600,
  }),
);

app.get("/healthz", (c) => c.json({ status: "ok" }, 200, { "cache-control": "no-store" }));

// Route on the path exactly as it will be forwarded; refuse any path an origin could read otherwise.
app.use(async function route(c, next) {
  const pathname = new URL(c.req.url).pathname;
  const checked = checkPath(pathname);
  if (!checked.ok) throw new GatewayError("invalid_path", { detail: checked.reason });
  if (hasCaseVariantRoute(checked.path)) {
    throw new GatewayError("invalid_path", { detail: "Paths are case-sensitive; use the documented lower-case path." });
  }
  const route = matchRoute(checked.path);
  if (!route) throw new GatewayError("not_found", { detail: "No route matches this path." });
  c.set("route", route);
  await next();
});

app.use(authenticate);

app.use(async function authorise(c, next) {
  requireScopes(c.var.principal, requiredScopes(c.var.route, c.req.method));
  await next();
});

// Bodies are read only after authentication. A declared Content-Length over the limit is refused
// up front and the body streams through; a body without one is read up to the limit first, so an
// origin never receives a body cut short as if it were whole.
app.use(async function limitBody(c, next) {
  return bodyLimitFor(c.var.config.limits.maxBodyBytes)(c, next);
});

app.route("/v1/chat/api-keys", keysApi);

app.all("*", async (c) => {
  const route = c.var.route;
  // Paths under the key API that its router does not know end here, never at an origin.
  if (route.target.kind !== "origin") throw new GatewayError("not_found", { detail: "No route matches this path." });
  const config = c.var.config;
  return forward(c.req.raw, {
    origin: c.env[route.target.binding],
    principal: c.var.principal,
    requestId: c.var.requestId,
    timeoutMs: config.limits.originTimeoutMs,
  });
});

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

export default app;
