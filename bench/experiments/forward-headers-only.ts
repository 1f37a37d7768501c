// Probe: clean the headers and hand the caller's request to fetch with them; the origin's response as is.
import { cleanHeaders, type ProbeEnv } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    return env.CHAT.fetch(request, { headers: cleanHeaders(request.headers), redirect: "manual" });
  },
};
