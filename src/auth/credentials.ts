import { GatewayError } from "../errors";
import { tokenFromProtocols } from "../proxy/streams";

/** The one credential a request carries. */
export type Credential = { kind: "api_key"; key: string } | { kind: "bearer"; token: string };

/** Largest bearer token read; larger ones are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Longest `x-api-key` value read; real keys are far shorter. */
export const MAX_API_KEY_LENGTH = 256;

// RFC 6750 §2.1: b64token.
const B64_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The request's credential. Throws `missing_credentials` with none, `conflicting_credentials`
 * with two (an API key, an Authorization header, a WebSocket protocol token: never resolved
 * silently), and the
 * credential's own 401 when its header is malformed.
 */
export function readCredential(headers: Headers): Credential {
  const apiKey = headers.get("x-api-key");
  const authorization = headers.get("authorization");
  if (apiKey !== null && authorization !== null) {
    throw new GatewayError("conflicting_credentials", {
      detail: "Send either an x-api-key header or an Authorization header, not both.",
    });
  }
  // A browser cannot set Authorization on a WebSocket: a session token may come as a prefixed
  // Sec-WebSocket-Protocol entry (never in the query string, which ends up in logs). The entry is
  // removed before the origin sees the request, so it is never echoed. With another credential
  // beside it, the request is refused like any other pair: never resolved silently (a key of one
  // organisation and a token of another would otherwise pick one without saying).
  const protocolToken = headers.get("upgrade")?.toLowerCase() === "websocket" ? tokenFromProtocols(headers.get("sec-websocket-protocol")) : undefined;
  if (protocolToken !== undefined && (apiKey !== null || authorization !== null)) {
    throw new GatewayError("conflicting_credentials", {
      detail: "Send one credential: a token in Sec-WebSocket-Protocol, an x-api-key header or an Authorization header, not two.",
    });
  }
  if (apiKey !== null) {
    const key = apiKey.trim();
    if (!key) throw new GatewayError("invalid_api_key", { detail: "The x-api-key header is empty." });
    if (key.length > MAX_API_KEY_LENGTH) throw new GatewayError("invalid_api_key", { detail: "The API key is malformed." });
    return { kind: "api_key", key };
  }
  if (authorization !== null) {
    const match = /^\s*bearer +(\S+)\s*$/i.exec(authorization);
    if (!match) {
      throw new GatewayError("invalid_token", { detail: "The Authorization header must use the Bearer scheme." });
    }
    const token = match[1]!;
    if (token.length > MAX_TOKEN_BYTES) throw new GatewayError("invalid_token", { detail: "The token is too large." });
    if (!B64_TOKEN.test(token)) throw new GatewayError("invalid_token", { detail: "The token is malformed." });
    return { kind: "bearer", token };
  }
  if (protocolToken !== undefined) {
    if (protocolToken.length > MAX_TOKEN_BYTES) throw new GatewayError("invalid_token", { detail: "The token is too large." });
    if (!B64_TOKEN.test(protocolToken)) throw new GatewayError("invalid_token", { detail: "The token is malformed." });
    return { kind: "bearer", token: protocolToken };
  }
  throw new GatewayError("missing_credentials", {
    detail: "Send an API key in the x-api-key header or a session token in the Authorization header.",
  });
}
