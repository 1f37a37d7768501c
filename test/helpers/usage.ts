// A USAGE Durable Object namespace that counts its calls (every `get` is the start of I/O with a
// ledger) and can make the ledger's calls fail or wait until released.
import { env } from "cloudflare:workers";

export interface DoCounts {
  idFromName: number;
  get: number;
  /** RPC calls made on stubs. */
  calls: number;
}

type Mode = "pass" | "fail" | "hold";

export function countingUsage(inner: DurableObjectNamespace = env.USAGE as unknown as DurableObjectNamespace) {
  const counts: DoCounts = { idFromName: 0, get: 0, calls: 0 };
  let mode: Mode = "pass";
  let release: () => void = () => undefined;
  let held = new Promise<void>((resolve) => (release = resolve));
  const namespace = {
    idFromName(name: string) {
      counts.idFromName++;
      return inner.idFromName(name);
    },
    get(id: DurableObjectId) {
      counts.get++;
      const stub = inner.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      return new Proxy(
        {},
        {
          get: (_target, prop: string) => (...args: unknown[]) => {
            counts.calls++;
            if (mode === "fail") return Promise.reject(new Error("DO is down (test)"));
            if (mode === "hold") return held.then(() => stub[prop]!(...args));
            return stub[prop]!(...args);
          },
        },
      );
    },
  } as unknown as DurableObjectNamespace;
  return {
    namespace,
    counts,
    /** `fail`: every ledger call rejects; `hold`: calls wait for `release()`; `pass`: normal. */
    mode: (m: Mode) => {
      mode = m;
      if (m === "hold") held = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => release(),
  };
}
