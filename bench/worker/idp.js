// Stand-in for Clerk's Frontend API during the benchmark: every outbound fetch of the gateway is
// routed here (Miniflare `outboundService`), so no request leaves 127.0.0.1. It serves the JWKS
// the bench generated (JWKS binding) and counts what it served, as a cross-check of the wrapper.
let served = 0;

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/served") return Response.json({ served });
    if (url.pathname.endsWith("/.well-known/jwks.json")) {
      served++;
      return new Response(env.JWKS, {
        headers: { "content-type": "application/json", "cache-control": "public, max-age=300" },
      });
    }
    return new Response("not found", { status: 404 });
  },
};
