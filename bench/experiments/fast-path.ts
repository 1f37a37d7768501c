/**
 * EXPERIMENT, not production code: the proxied path as plain functions, in the same order as
 * src/index.ts (request id → limits → path → route → authenticate → authorise → forward), with
 * Hono kept for everything else (CORS, preflights, /healthz, the key API, bodies without a
 * Content-Length). It measures what Hono's middleware chain costs on the hot path; see
 * bench/experiments/README.md.
 */
import { verifyApiKey } from "../../src/auth/api-key";
import { requireScopes } from "../../src/auth/authenticate";
import { readCredential } from "../../src/auth/credentials";
import { verifySessionToken } from "../../src/auth/session-token";
import { type Bindings, getConfig } from "../../src/env";
import { GatewayError, problemResponse } from "../../src/errors";
import app from "../../src/index";
import { checkPath } from "../../src/path";
import { forward } from "../../src/proxy/forward";
import { hasCaseVariantRoute, matchRoute, requiredScopes } from "../../src/routes";

const REQUEST_ID = /^[\w\-=]{1,128}$/;

export default {
  async fetch(request: Request, env: Bindings, ctx: ExecutionContext): Promise<Response> {
    const slow = () => app.fetch(request, env, ctx);
    if (request.method === "OPTIONS" || request.headers.has("origin")) return slow();
    if (request.body !== null && request.headers.get("content-length") === null) return slow();
    const url = new URL(request.url);
    const checked = checkPath(url.pathname);
    if (!checked.ok || hasCaseVariantRoute(checked.path)) return slow();
    const route = matchRoute(checked.path);
    if (!route || route.target.kind !== "origin") return slow();
    let config;
    try {
      config = getConfig(env);
    } catch {
      return slow();
    }
    if (url.pathname.length + url.search.length > config.limits.maxUrlBytes) return slow();
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (!(declared <= config.limits.maxBodyBytes)) return slow();
    let headerBytes = 0;
    for (const [name, value] of request.headers) headerBytes += name.length + value.length + 4;
    if (headerBytes > config.limits.maxHeaderBytes) return slow();

    const incoming = request.headers.get("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    try {
      const credential = readCredential(request.headers);
      const deps = { env, config, ctx };
      const principal =
        credential.kind === "api_key" ? await verifyApiKey(credential.key, deps) : await verifySessionToken(credential.token, deps);
      requireScopes(principal, requiredScopes(route, request.method));
      const response = await forward(request, { origin: env[route.target.binding], principal, requestId, timeoutMs: config.limits.originTimeoutMs });
      const out = new Response(response.body, response);
      out.headers.set("x-request-id", requestId);
      return out;
    } catch (error) {
      // Never retried through the app: the origin may already have seen the request.
      const known = error instanceof GatewayError ? error : new GatewayError("internal_error", { detail: "The gateway failed unexpectedly." });
      if (known.status >= 500) {
        console.error(JSON.stringify({ level: "error", event: "request_failed", code: known.code, request_id: requestId }));
      }
      return problemResponse(known, requestId);
    }
  },
};
