/**
 * The access log: one structured line per request, so that an operator can answer "what did key
 * X do at 14:02" (Workers Logs: filter `event = "access"`, `credential_id = "key_…"`). Built once,
 * after the response's headers, from values the request already has: no I/O, no body read. Never a
 * credential: the key's id or the user's id, not the key or the token; the path, not the query.
 * `ACCESS_LOG=off` turns it off (for the bench's on/off comparison).
 */
import type { Context } from "hono";
import type { AppEnv, Bindings, Config } from "../env";
import { getConfig } from "../env";
import { errorCodeOf } from "../errors";

/** Longest path logged; longer ones are cut (the gateway refuses targets over 8 KiB anyway). */
export const MAX_LOGGED_PATH = 256;

/** One access-log line. */
export interface AccessLine {
  readonly event: "access";
  readonly request_id: string | null;
  readonly method: string;
  /** The route's prefix (`/v1/chat`), or null when no route matched (health checks, 404s, early refusals). */
  readonly route: string | null;
  readonly path: string;
  readonly status: number;
  /** The problem+json `code` of an error response, else null. */
  readonly code: string | null;
  readonly org: string | null;
  /** `api_key` or `jwt`, or null before authentication. */
  readonly credential: string | null;
  /** The key id (`key_…`) or the user id (`user_…`); never the secret. */
  readonly credential_id: string | null;
  /** Until the response's headers (a stream's body may flow longer). */
  readonly duration_ms: number;
  /** The request's declared Content-Length, else null. */
  readonly bytes_in: number | null;
  /** The response's Content-Length, else null (streamed). */
  readonly bytes_out: number | null;
  /** Cloudflare location that served the request. */
  readonly colo: string | null;
}

const length = (headers: Headers): number | null => {
  const value = headers.get("content-length");
  return value === null || !/^\d+$/.test(value) ? null : Number(value);
};

/** Pure: the line for a request and its response. */
export function accessLine(input: {
  request: Request;
  response: Response;
  requestId: string | undefined;
  route: { prefix: string } | undefined;
  principal: { orgId: string; method: string; subject: string } | undefined;
  durationMs: number;
}): AccessLine {
  const { request, response, principal } = input;
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  const path = url.slice(start, query < 0 ? undefined : query);
  return {
    event: "access",
    request_id: input.requestId ?? null,
    method: request.method,
    route: input.route?.prefix ?? null,
    path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path,
    status: response.status,
    code: errorCodeOf(response) ?? null,
    org: principal?.orgId ?? null,
    credential: principal?.method ?? null,
    credential_id: principal?.subject ?? null,
    duration_ms: input.durationMs,
    bytes_in: length(request.headers),
    bytes_out: length(response.headers),
    colo: (request.cf as { colo?: string } | undefined)?.colo ?? null,
  };
}

function configOf(env: Bindings, parsed: Config | undefined): Config | undefined {
  if (parsed) return parsed;
  try {
    return getConfig(env);
  } catch {
    return undefined; // misconfigured: 503 for everything, and still logged
  }
}

/** One `console.log` for the request, once the app answered (called by the first middleware, src/index.ts). */
export function writeAccessLog(c: Context<AppEnv>, started: number): void {
  if (configOf(c.env, c.get("config"))?.observability.accessLog === false) return;
  const line = accessLine({
    request: c.req.raw,
    response: c.res,
    requestId: c.get("requestId"),
    route: c.get("route"),
    principal: c.get("principal"),
    durationMs: Date.now() - started,
  });
  console.log(JSON.stringify(line));
}
