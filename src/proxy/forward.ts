import type { Principal } from "../auth/principal";
import { GatewayError } from "../errors";
import { sortScopes } from "../scopes";

/** Hop-by-hop headers (RFC 9110 §7.6.1) that never cross the gateway. `upgrade` is kept for WebSockets. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding"];
/** The caller's credentials: the origin trusts the identity headers instead. */
const CREDENTIAL_HEADERS = ["x-api-key", "authorization", "cookie"];
/** Prefix of the identity headers only the gateway may set. */
const IDENTITY_PREFIX = "x-agntix-";

/** Caller headers never forwarded as sent: hop-by-hop, credentials, and the id the gateway sets. */
const DROPPED = new Set([...HOP_BY_HOP, ...CREDENTIAL_HEADERS, "x-request-id"]);

// The scopes header of a principal, built once: verifiers hand out the same principal object for
// every request of a cached key or token.
const scopesHeaders = new WeakMap<Principal, string>();

/** Headers for the origin: the caller's, cleaned, plus the identity the gateway vouches for. */
export function upstreamHeaders(incoming: Headers, principal: Principal, requestId: string): Headers {
  // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1); Upgrade stays for WebSockets.
  const connection = incoming.get("connection");
  const named = connection ? new Set(connection.split(",").map((h) => h.trim().toLowerCase())) : undefined;
  const headers = new Headers();
  // One pass over the caller's headers (names come lower-cased) instead of copy-then-delete.
  for (const [name, value] of incoming) {
    if (DROPPED.has(name) || name.startsWith(IDENTITY_PREFIX)) continue;
    if (name === "upgrade" ? value.toLowerCase() !== "websocket" : named?.has(name)) continue;
    headers.append(name, value);
  }
  let scopes = scopesHeaders.get(principal);
  if (scopes === undefined) {
    scopes = sortScopes(principal.scopes).join(" ");
    scopesHeaders.set(principal, scopes);
  }
  headers.set("x-agntix-org-id", principal.orgId);
  headers.set("x-agntix-auth-method", principal.method);
  headers.set("x-agntix-principal-id", principal.subject);
  headers.set("x-agntix-scopes", scopes);
  headers.set("x-request-id", requestId);
  return headers;
}

export interface ForwardOptions {
  readonly origin: Fetcher;
  readonly principal: Principal;
  readonly requestId: string;
  readonly timeoutMs: number;
}

/**
 * Send the caller's request to the origin through its service binding, streaming both ways
 * (the body size limit is enforced before, in `src/index.ts`).
 * Waits at most `timeoutMs` for the response headers (504); a binding that throws is 502. The
 * origin's response, its errors included, is returned as it came, with `x-request-id` added.
 */
export async function forward(request: Request, options: ForwardOptions): Promise<Response> {
  // Aborted only while waiting for the response headers: once they came, a long stream (SSE,
  // WebSocket) runs for as long as the origin and the caller keep it open.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  try {
    const response = await options.origin.fetch(request.url, {
      method: request.method,
      headers: upstreamHeaders(request.headers, options.principal, options.requestId),
      body: request.body,
      redirect: "manual",
      signal: abort.signal,
    });
    // The origin's response as it came (status, headers, body stream, WebSocket), plus the id.
    const out = new Response(response.body, response);
    out.headers.set("x-request-id", options.requestId);
    return out;
  } catch (cause) {
    if (abort.signal.aborted) throw new GatewayError("origin_timeout", { detail: "The upstream service did not respond in time." });
    // The origin's message may carry internals: log its kind, never echo it.
    throw new GatewayError("origin_error", { detail: "The upstream service failed to respond.", cause });
  } finally {
    clearTimeout(timer);
  }
}
