import type { Principal } from "../auth/principal";
import { GatewayError } from "../errors";
import { sortScopes } from "../scopes";
import { withoutTokenEntries } from "./streams";

/** Hop-by-hop headers (RFC 9110 §7.6.1) that never cross the gateway. `upgrade` is kept for WebSockets. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding"];
/** The caller's credentials: the origin trusts the identity headers instead. */
const CREDENTIAL_HEADERS = ["x-api-key", "authorization", "cookie"];
/**
 * Method overrides: an origin that honours one would run a method the scope check did not see
 * (a `GET` checked against a read scope, run as `DELETE`).
 */
const METHOD_OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override", "x-original-method", "x-override-method"];
/**
 * Proxy-trust headers: who the client is and what URL it asked for are the gateway's to say.
 * The gateway sets `x-forwarded-for` and `x-forwarded-proto` itself.
 */
const PROXY_TRUST_HEADERS = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-forwarded-server",
  "x-forwarded-scheme",
  "x-forwarded-ssl",
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
  "x-cluster-client-ip",
  "x-original-url",
  "x-rewrite-url",
  "x-original-host",
  "x-host",
  "x-original-uri",
  "x-forwarded-uri",
  "x-original-forwarded-for",
  "forwarded-for",
  "x-envoy-external-address",
  "x-envoy-original-path",
  "fastly-client-ip",
  // Identity asserted by auth proxies (nginx auth_request, oauth2-proxy, Traefik forward-auth,
  // REMOTE_USER setups): an origin behind such a proxy may trust them. Only x-agntix-* is ours.
  "remote-user",
  "x-remote-user",
  "x-auth-user",
  "x-webauth-user",
  "x-auth-request-user",
  "x-auth-request-email",
  "x-auth-request-preferred-username",
  "x-auth-request-groups",
  "x-auth-request-access-token",
  "x-forwarded-user",
  "x-forwarded-email",
  "x-forwarded-preferred-username",
  "x-forwarded-groups",
  "x-forwarded-access-token",
];
/** Prefix of the identity headers only the gateway may set. */
const IDENTITY_PREFIX = "x-agntix-";

/**
 * Caller headers never forwarded as sent: hop-by-hop, credentials, method overrides, proxy trust,
 * and the ids the gateway sets. Names are compared with `_` read as `-`, as CGI-style origins do.
 */
const DROPPED = new Set([
  ...HOP_BY_HOP,
  ...CREDENTIAL_HEADERS,
  ...METHOD_OVERRIDE_HEADERS,
  ...PROXY_TRUST_HEADERS,
  "x-request-id",
  "x-client-request-id",
]);

/** A caller's own request id is passed on (as `x-client-request-id`) only if it is 1–128 printable ASCII characters. */
const CLIENT_REQUEST_ID = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

// The scopes header of a principal, built once: verifiers hand out the same principal object for
// every request of a cached key or token.
const scopesHeaders = new WeakMap<Principal, string>();

/** Headers for the origin: the caller's, cleaned, plus the identity and client facts the gateway vouches for. */
export function upstreamHeaders(incoming: Headers, principal: Principal, requestId: string, proto: "https" | "http" = "https"): Headers {
  // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1); Upgrade stays for WebSockets.
  const connection = incoming.get("connection");
  const named = connection ? new Set(connection.split(",").map((h) => h.trim().toLowerCase().replaceAll("_", "-"))) : undefined;
  const headers = new Headers();
  // One pass over the caller's headers (names come lower-cased) instead of copy-then-delete.
  for (const [name, value] of incoming) {
    // `x_agntix_org_id` and `x-forwarded_for` are the same header to an origin behind CGI,
    // nginx's `underscores_in_headers` or a framework that folds `_` and `-`.
    const key = name.includes("_") ? name.replaceAll("_", "-") : name;
    if (DROPPED.has(key) || key.startsWith(IDENTITY_PREFIX)) continue;
    if (name === "upgrade" ? value.toLowerCase() !== "websocket" : named?.has(key)) continue;
    if (name === "sec-websocket-protocol") {
      // A session token offered as a protocol entry (read as the credential, or not) never reaches the origin.
      const kept = withoutTokenEntries(value);
      if (kept !== undefined) headers.append(name, kept);
      continue;
    }
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
  const clientRequestId = incoming.get("x-request-id");
  if (clientRequestId !== null && CLIENT_REQUEST_ID.test(clientRequestId)) headers.set("x-client-request-id", clientRequestId);
  // Cloudflare sets cf-connecting-ip from the connection itself; a caller cannot choose it.
  const clientIp = incoming.get("cf-connecting-ip");
  if (clientIp) headers.set("x-forwarded-for", clientIp);
  headers.set("x-forwarded-proto", proto);
  return headers;
}

/** Why a capped body stopped: it grew past the limit. */
export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

/**
 * `source` as a stream that stops at `maxBytes`: past the limit, `onOverflow` aborts the origin's
 * request (the origin's read throws "client disconnected") and the caller's body is cancelled.
 * Only one chunk is held at a time.
 *
 * Why abort first: through a service binding, workerd delivers a request body whose stream
 * *errors* as a complete, shorter body (checked in test/integration/body-streaming.test.ts);
 * an aborted request is the one signal an origin cannot mistake for a whole body.
 */
export function capBody(source: ReadableStream<Uint8Array>, maxBytes: number, onOverflow: () => void): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const reader = source.getReader();
  const writer = writable.getWriter();
  (async () => {
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return writer.close();
      total += value.byteLength;
      if (total > maxBytes) {
        // The forwarded stream is left open, never closed or errored: the abort ends the origin's
        // request, and an errored stream could reach the origin as a clean end (see above).
        onOverflow();
        await reader.cancel(new BodyTooLargeError()).catch(() => {});
        return;
      }
      await writer.write(value);
    }
  })().catch(async (error: unknown) => {
    // The caller's body failed, or the origin stopped reading (its request is over): end both sides.
    await Promise.allSettled([writer.abort(error), reader.cancel(error)]);
  });
  return readable;
}

export interface ForwardOptions {
  readonly origin: Fetcher;
  readonly principal: Principal;
  readonly requestId: string;
  readonly timeoutMs: number;
  /**
   * Largest body streamed when the caller declared no `Content-Length` (a declared one is checked
   * before, in `src/index.ts`, and HTTP framing holds the body to it). Unset: not counted.
   */
  readonly maxBodyBytes?: number;
  /**
   * Development only: wrangler's dev error wrapper turns an origin's exception into a 500 response
   * marked `MF-Experimental-Error-Stack`; treat it as the thrown error it stands for (502).
   */
  readonly unwrapDevErrors?: boolean;
}

/**
 * Send the caller's request to the origin through its service binding, streaming both ways.
 * A body without `Content-Length` is counted as it streams: past `maxBodyBytes` the origin's request
 * is aborted (the origin's read throws), and the caller gets 413 if the origin had not answered yet
 * (if it had, the response stream is cut: the exchange did not complete).
 * Waits at most `timeoutMs` for the response headers (504); a binding that throws is 502. The
 * origin's response, its errors included, is returned as it came, with `x-request-id` added.
 */
export async function forward(request: Request, options: ForwardOptions): Promise<Response> {
  // Aborted while waiting for the response headers (timeout), or when the body passes the limit.
  // Once the headers came, a long stream (SSE, WebSocket) runs for as long as both sides keep it open.
  const abort = new AbortController();
  let overflowed = false;
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  // A GET or HEAD reaches here only without a body (src/index.ts); `Content-Length: 0` may still
  // leave an empty stream, which fetch would refuse.
  let body = request.method === "GET" || request.method === "HEAD" ? null : request.body;
  if (body && options.maxBodyBytes !== undefined && !request.headers.has("content-length")) {
    body = capBody(body, options.maxBodyBytes, () => {
      overflowed = true;
      abort.abort();
    });
  }
  try {
    const response = await options.origin.fetch(request.url, {
      method: request.method,
      headers: upstreamHeaders(request.headers, options.principal, options.requestId, request.url.startsWith("http:") ? "http" : "https"),
      body,
      redirect: "manual",
      signal: abort.signal,
    });
    if (overflowed) {
      await response.body?.cancel();
      throw tooLarge(options.maxBodyBytes);
    }
    if (options.unwrapDevErrors && response.status === 500 && response.headers.has("mf-experimental-error-stack")) {
      await response.body?.cancel();
      throw new GatewayError("origin_error", { detail: "The upstream service failed to respond.", cause: new Error("origin threw (dev error wrapper)") });
    }
    // The origin's response as it came (status, headers, body stream, WebSocket), plus the id.
    const out = new Response(response.body, response);
    out.headers.set("x-request-id", options.requestId);
    return out;
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    if (overflowed) throw tooLarge(options.maxBodyBytes);
    if (abort.signal.aborted) throw new GatewayError("origin_timeout", { detail: "The upstream service did not respond in time." });
    // The origin's message may carry internals: log its kind, never echo it.
    throw new GatewayError("origin_error", { detail: "The upstream service failed to respond.", cause });
  } finally {
    clearTimeout(timer);
  }
}

/** 413 for a body over `maxBytes`. */
export function tooLarge(maxBytes: number | undefined): GatewayError {
  return new GatewayError("payload_too_large", { detail: `The request body exceeds ${maxBytes} bytes.` });
}
