// Shared pieces of the forwarding probes: what any secure forwarder must do around the origin call.

/** The bindings the probes use. */
export interface ProbeEnv {
  CHAT: Fetcher;
}

const DROP = ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "x-api-key", "authorization", "cookie"];

/** The caller's headers without credentials and hop-by-hop headers, plus identity headers. */
export function cleanHeaders(incoming: Headers): Headers {
  const headers = new Headers(incoming);
  for (const name of DROP) headers.delete(name);
  headers.set("x-agntix-org-id", "org_probe");
  headers.set("x-agntix-auth-method", "api_key");
  headers.set("x-agntix-principal-id", "key_probe");
  headers.set("x-agntix-scopes", "chat:read chat:write");
  headers.set("x-request-id", "probe");
  return headers;
}

/** The origin's response with `x-request-id` added (its own headers are immutable). */
export function withRequestId(response: Response): Response {
  const out = new Response(response.body, response);
  out.headers.set("x-request-id", "probe");
  return out;
}
