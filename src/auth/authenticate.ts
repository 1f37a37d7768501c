import { GatewayError } from "../errors";
import { isBrowserRequest } from "./browser";
import { missingScopes, type Scope } from "../scopes";
import { verifyApiKey } from "./api-key";
import { readCredential } from "./credentials";
import type { VerifierDeps } from "./deps";
import type { Principal } from "./principal";
import { verifySessionToken } from "./session-token";

/**
 * The principal of the request's one credential; 400/401 when there is none, two, or a bad one,
 * and 403 `api_key_in_browser` for a valid API key sent by a browser without the key's opt-in.
 */
export async function authenticate(headers: Headers, deps: VerifierDeps): Promise<Principal> {
  const credential = readCredential(headers);
  if (credential.kind === "bearer") return verifySessionToken(credential.token, deps);
  const principal = await verifyApiKey(credential.key, deps);
  if (!principal.allowBrowser && isBrowserRequest(headers)) {
    throw new GatewayError("api_key_in_browser", {
      detail:
        "API keys must not be used from a browser, where anyone can read them. Send the signed-in user's Clerk token instead " +
        '(Authorization: Bearer, from getToken({ template: "agntix" })), or call from your server.',
    });
  }
  return principal;
}

/** The one scope check both credentials go through: throws 403 `insufficient_scope` naming what is missing. */
export function requireScopes(principal: Principal, required: readonly Scope[]): void {
  const missing = missingScopes(principal.scopes, required);
  if (missing.length > 0) {
    throw new GatewayError("insufficient_scope", {
      detail: `This ${principal.method === "api_key" ? "API key" : "session"} lacks the scope ${missing.join(", ")}.`,
      extra: { required_scopes: [...required] },
    });
  }
}
