import { GatewayError } from "../errors";
import { missingScopes, type Scope } from "../scopes";
import { verifyApiKey } from "./api-key";
import { readCredential } from "./credentials";
import type { VerifierDeps } from "./deps";
import type { Principal } from "./principal";
import { verifySessionToken } from "./session-token";

/** The principal of the request's one credential; 400/401 when there is none, two, or a bad one. */
export function authenticate(headers: Headers, deps: VerifierDeps): Promise<Principal> {
  const credential = readCredential(headers);
  return credential.kind === "api_key" ? verifyApiKey(credential.key, deps) : verifySessionToken(credential.token, deps);
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
