// Probe: forward-fetch-init.ts plus the origin timeout as src/proxy/forward.ts does it
// (AbortController + setTimeout + Promise.race + clearTimeout).
import { cleanHeaders, type ProbeEnv, withRequestId } from "./common";

export default {
  async fetch(request: Request, env: ProbeEnv): Promise<Response> {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error("origin timeout"));
      }, 30_000);
    });
    try {
      const init = { headers: cleanHeaders(request.headers), redirect: "manual" as const, signal: abort.signal };
      return withRequestId(await Promise.race([env.CHAT.fetch(request, init), timedOut]));
    } finally {
      clearTimeout(timer);
    }
  },
};
