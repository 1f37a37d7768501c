// Probe: like forward-wrap-only.ts, but the new response is built from explicit status and
// headers instead of taking the origin's Response as its init.
import type { ProbeEnv } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    const response = await env.CHAT.fetch(request);
    const headers = new Headers(response.headers);
    headers.set("x-request-id", "probe");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  },
};
