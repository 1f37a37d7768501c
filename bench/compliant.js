// The benchmark's second floor: the least a forwarder that meets the contract does, with no
// authentication, routing or policy. It strips the caller's credentials and hop-by-hop headers,
// sets the identity headers and a fresh request id, forwards through the same kind of service
// binding with redirects left to the caller, and re-wraps the response to add `x-request-id`.
// Measured against it, the gateway's ratio is the cost of authentication, routing and policy alone.
const DROP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "x-api-key", "authorization", "cookie", "x-request-id"]);

export default {
  async fetch(request, env) {
    const requestId = crypto.randomUUID();
    const headers = new Headers();
    for (const [name, value] of request.headers) if (!DROP.has(name) && !name.startsWith("x-agntix-")) headers.append(name, value);
    headers.set("x-agntix-org-id", "org_floor");
    headers.set("x-agntix-auth-method", "api_key");
    headers.set("x-agntix-principal-id", "key_floor");
    headers.set("x-agntix-scopes", "chat:read chat:write");
    headers.set("x-request-id", requestId);
    // A WebSocket upgrade goes through (its `Upgrade` header kept), and the origin's socket is handed
    // back as it came: the floor the gateway's relay is measured against (bench/lib/websocket.ts).
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") headers.set("upgrade", "websocket");
    const response = await env.CHAT.fetch(request.url, { method: request.method, headers, body: request.body, redirect: "manual" });
    const out = new Response(response.body, response);
    out.headers.set("x-request-id", requestId);
    return out;
  },
};
