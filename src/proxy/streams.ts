/**
 * Long-lived responses carried for a credential end when the credential does: an API key revoked
 * (the revocation feed says so), an API key narrowed so that it no longer holds a scope the
 * stream's route requires (an edit the feed brought), or a session token whose `exp` passes. A Server-Sent Events
 * response is relayed through a stream the gateway owns; a watchdog looks at the credential at
 * most once per `API_KEY_REVOCATION_CHECK_MS` (sharing the isolate's one look at the feed) and at
 * the token's `exp`, and then ends the stream with a last event the client can recognise:
 *
 *   event: agntix.stream_ended
 *   data: {"reason":"revoked"}          (or "scope_removed", "expired")
 *
 * So an open stream ends within the same bound as any request (docs/api-keys.md).
 */
import type { Principal } from "../auth/principal";
import { missingScopes, type Scope } from "../scopes";

/** What ends a stream carried for one principal: a revocation check, an expiry, or both. */
export interface StreamBound {
  /** Epoch ms at which the credential stops (a session token's `exp`). */
  readonly expiresAt?: number;
  /** True once the credential is revoked (an API key the feed brought); cheap, no I/O. */
  readonly revoked?: () => boolean;
  /** The credential's scopes now, when an edit changed them since it was verified (else undefined); cheap, no I/O. */
  readonly scopes?: () => ReadonlySet<Scope> | undefined;
  /** Bring the isolate's knowledge up to date if due (at most one look per check interval). */
  readonly refresh?: () => Promise<void>;
}

// Verifiers hand out one principal object per cached credential: its bound is kept beside it.
const bounds = new WeakMap<Principal, StreamBound>();

/** Record what ends streams carried for `principal` (called by the verifiers). */
export function bindStreams(principal: Principal, bound: StreamBound): void {
  bounds.set(principal, bound);
}

/** Why a stream ends. */
export type StreamEnd = "revoked" | "scope_removed" | "expired";

/** Why a stream whose route requires `required` must end now, if it must. Pure. */
export function streamVerdict(bound: StreamBound, now: number, required: readonly Scope[] = []): StreamEnd | undefined {
  if (bound.revoked?.()) return "revoked";
  if (required.length > 0) {
    const current = bound.scopes?.();
    if (current !== undefined && missingScopes(current, required).length > 0) return "scope_removed";
  }
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
  /** The scopes the stream's route required: a credential narrowed below them ends the stream. */
  readonly required?: readonly Scope[];
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

  const end = async (reason: StreamEnd) => {
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
      const verdict = streamVerdict(bound, now(), options.required);
      if (verdict) await end(verdict);
    }
  })();
  options.waitUntil(Promise.all([pump, watchdog]));
  return new Response(readable, response);
}

/** Prefix of the `Sec-WebSocket-Protocol` entry that carries a session token (never echoed). */
export const TOKEN_PROTOCOL_PREFIX = "agntix.bearer.";
/** Close codes a client can recognise. */
export const CLOSE_REVOKED = 4001;
export const CLOSE_EXPIRED = 4002;
/** The credential was narrowed and no longer holds a scope the socket's route requires. */
export const CLOSE_SCOPE_REMOVED = 4003;
const CLOSE_CODES: Readonly<Record<StreamEnd, number>> = { revoked: CLOSE_REVOKED, scope_removed: CLOSE_SCOPE_REMOVED, expired: CLOSE_EXPIRED };

/** The session token offered as a `Sec-WebSocket-Protocol` entry, if any. Pure. */
export function tokenFromProtocols(value: string | null): string | undefined {
  if (!value) return undefined;
  const entry = value
    .split(",")
    .map((p) => p.trim())
    .find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return entry ? entry.slice(TOKEN_PROTOCOL_PREFIX.length) : undefined;
}

/**
 * A `Sec-WebSocket-Protocol` value without any token entry, in any letter case, whether or not the
 * request is an upgrade the gateway read a token from: the origin never sees a token there, so
 * never echoes one. Undefined when nothing is left.
 */
export function withoutTokenEntries(value: string): string | undefined {
  if (!value.toLowerCase().includes(TOKEN_PROTOCOL_PREFIX)) return value;
  const rest = value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p && !p.toLowerCase().startsWith(TOKEN_PROTOCOL_PREFIX));
  return rest.length ? rest.join(", ") : undefined;
}

/** A refreshed token: its principal's bound (for the new `exp`) and who it is. */
export type TokenRefresher = (token: string) => Promise<Principal>;

/** The in-band refresh message a client sends before its token expires (consumed, never forwarded). */
export function refreshMessage(data: unknown): string | undefined {
  if (typeof data !== "string" || data.length > 16_384 || !data.startsWith("{")) return undefined;
  try {
    const message = JSON.parse(data) as { type?: unknown; token?: unknown };
    return message.type === "agntix.auth" && typeof message.token === "string" ? message.token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Relay a WebSocket the origin accepted: the gateway holds both ends, so it can end the socket
 * when the credential ends (close 4001 `revoked`, 4003 `scope_removed`, 4002 `expired`, both
 * sides), and consume the
 * client's in-band token refresh (`{"type":"agntix.auth","token":"<fresh session token>"}`,
 * answered `{"type":"agntix.auth.ok","expires_at":…}` or `{"type":"agntix.auth.error",…}`): the
 * socket then lives until the new token's `exp`. A refresh must be for the same user and
 * organisation; one that no longer holds the route's scopes ends the socket (4003).
 */
export function relayWebSocket(upstream: Response, principal: Principal, options: GuardOptions & { refreshToken?: TokenRefresher }): Response {
  const origin = upstream.webSocket;
  const bound = bounds.get(principal);
  if (!origin || upstream.status !== 101) return upstream;
  const now = options.now ?? (() => Date.now());
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  origin.accept();
  server.accept();
  let ended = false;
  let expiresAt = bound?.expiresAt;

  const endBoth = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    try {
      server.close(code, reason);
    } catch {
      // already closed
    }
    try {
      origin.close(code === CLOSE_REVOKED || code === CLOSE_EXPIRED || code === CLOSE_SCOPE_REMOVED ? 1000 : code, reason);
    } catch {
      // already closed
    }
  };

  server.addEventListener("message", (event) => {
    if (ended) return;
    const token = options.refreshToken ? refreshMessage(event.data) : undefined;
    if (token === undefined) {
      origin.send(event.data);
      return;
    }
    options.waitUntil(
      options.refreshToken!(token).then(
        (fresh) => {
          const freshBound = bounds.get(fresh);
          if (fresh.subject !== principal.subject || fresh.orgId !== principal.orgId || freshBound?.expiresAt === undefined) {
            server.send(JSON.stringify({ type: "agntix.auth.error", code: "invalid_token", detail: "The token is for another user or organization." }));
            return;
          }
          if (options.required && missingScopes(fresh.scopes, options.required).length > 0) {
            // The user lost a permission this socket needs: it ends now, not at the old token's exp.
            server.send(JSON.stringify({ type: "agntix.auth.error", code: "insufficient_scope" }));
            endBoth(CLOSE_SCOPE_REMOVED, "scope_removed");
            return;
          }
          expiresAt = Math.max(expiresAt ?? 0, freshBound.expiresAt);
          server.send(JSON.stringify({ type: "agntix.auth.ok", expires_at: new Date(expiresAt).toISOString() }));
        },
        (error: unknown) => {
          const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "invalid_token";
          server.send(JSON.stringify({ type: "agntix.auth.error", code }));
        },
      ),
    );
  });
  origin.addEventListener("message", (event) => {
    if (!ended) server.send(event.data);
  });
  server.addEventListener("close", (event) => endBoth(event.code === 1005 ? 1000 : event.code, event.reason));
  origin.addEventListener("close", (event) => endBoth(event.code === 1005 ? 1000 : event.code, event.reason));
  server.addEventListener("error", () => endBoth(1011, "client error"));
  origin.addEventListener("error", () => endBoth(1011, "origin error"));

  if (bound) {
    options.waitUntil(
      (async () => {
        while (!ended) {
          const untilExpiry = expiresAt === undefined ? Infinity : Math.max(0, expiresAt - now());
          await sleep(Math.max(1, Math.min(options.checkMs || 1, untilExpiry)));
          if (ended) break;
          await bound.refresh?.().catch(() => undefined);
          const verdict = streamVerdict({ ...bound, ...(expiresAt !== undefined ? { expiresAt } : {}) }, now(), options.required);
          if (verdict) endBoth(CLOSE_CODES[verdict], verdict);
        }
      })(),
    );
  }
  const headers = new Headers(upstream.headers);
  return new Response(null, { status: 101, webSocket: client, headers });
}
