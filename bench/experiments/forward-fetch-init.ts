// Probe: clean headers and hand the caller's request to fetch with an init (no `new Request`).
import { cleanHeaders, type ProbeEnv, withRequestId } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    return withRequestId(await env.CHAT.fetch(request, { headers: cleanHeaders(request.headers), redirect: "manual" }));
  },
};
