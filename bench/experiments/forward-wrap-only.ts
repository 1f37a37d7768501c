// Probe: the caller's request as is; the origin's response re-wrapped to add x-request-id.
import { type ProbeEnv, withRequestId } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    return withRequestId(await env.CHAT.fetch(request));
  },
};
