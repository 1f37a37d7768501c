/**
 * Long-lived responses carried for a credential end when the credential does: an API key revoked
 * (the revocation feed says so) or a session token whose `exp` passes. A Server-Sent Events
 * response is relayed through a stream the gateway owns; a watchdog looks at the credential at
 * most once per `API_KEY_REVOCATION_CHECK_MS` (sharing the isolate's one look at the feed) and at
 * the token's `exp`, and then ends the stream with a last event the client can recognise:
 *
 *   event: agntix.stream_ended
 *   data: {"reason":"revoked"}          (or "expired")
 *
 * So an open stream ends within the same bound as any request (docs/api-keys.md).
 */
import type { Principal } from "../auth/principal";

/** What ends a stream carried for one principal: a revocation check, an expiry, or both. */
export interface StreamBound {
  /** Epoch ms at which the credential stops (a session token's `exp`). */
  readonly expiresAt?: number;
  /** True once the credential is revoked (an API key the feed brought); cheap, no I/O. */
  readonly revoked?: () => boolean;
  /** Bring the isolate's knowledge up to date if due (at most one look per check interval). */
  readonly refresh?: () => Promise<void>;
}

// Verifiers hand out one principal object per cached credential: its bound is kept beside it.
const bounds = new WeakMap<Principal, StreamBound>();

/** Record what ends streams carried for `principal` (called by the verifiers). */
export function bindStreams(principal: Principal, bound: StreamBound): void {
  bounds.set(principal, bound);
}

/** Why a stream must end now, if it must. Pure. */
export function streamVerdict(bound: StreamBound, now: number): "revoked" | "expired" | undefined {
  if (bound.revoked?.()) return "revoked";
  if (bound.expiresAt !== undefined && now >= bound.expiresAt) return "expired";
  return undefined;
}

const encoder = new TextEncoder();
const endEvent = (reason: string) => encoder.encode(`event: agntix.stream_ended\ndata: {"reason":"${reason}"}\n\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface GuardOptions {
  /** Longest time between two looks at the credential. */
  readonly checkMs: number;
  readonly waitUntil: (work: Promise<unknown>) => void;
  readonly now?: () => number;
}

/**
 * The response to hand the caller: an event stream relayed with a watchdog that ends it when the
 * principal's credential ends; anything else as it came.
 */
export function guardStream(response: Response, principal: Principal, options: GuardOptions): Response {
  const bound = bounds.get(principal);
  const type = response.headers.get("content-type") ?? "";
  if (!bound || !response.body || !type.toLowerCase().startsWith("text/event-stream")) return response;
  const now = options.now ?? (() => Date.now());
  const reader = response.body.getReader();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  let ended = false;

  const end = async (reason: "revoked" | "expired") => {
    if (ended) return;
    ended = true;
    await reader.cancel().catch(() => undefined);
    await writer.write(endEvent(reason)).catch(() => undefined);
    await writer.close().catch(() => undefined);
  };
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || ended) break;
        await writer.write(value);
      }
      if (!ended) {
        ended = true;
        await writer.close();
      }
    } catch {
      // The caller went away, or the origin failed: end both sides.
      if (!ended) {
        ended = true;
        await reader.cancel().catch(() => undefined);
        await writer.abort().catch(() => undefined);
      }
    }
  })();
  const watchdog = (async () => {
    while (!ended) {
      const untilExpiry = bound.expiresAt === undefined ? Infinity : Math.max(0, bound.expiresAt - now());
      await sleep(Math.max(1, Math.min(options.checkMs || 1, untilExpiry)));
      if (ended) break;
      await bound.refresh?.().catch(() => undefined);
      const verdict = streamVerdict(bound, now());
      if (verdict) await end(verdict);
    }
  })();
  options.waitUntil(Promise.all([pump, watchdog]));
  return new Response(readable, response);
}
