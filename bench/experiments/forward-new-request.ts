// Probe: clean headers, build `new Request(url, init)`, forward, add x-request-id.
// (What src/proxy/forward.ts did before; compare with forward-fetch-init.ts.)
import { cleanHeaders, type ProbeEnv, withRequestId } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    const upstream = new Request(request.url, { method: request.method, headers: cleanHeaders(request.headers), body: request.body, redirect: "manual" });
    return withRequestId(await env.CHAT.fetch(upstream));
  },
};
