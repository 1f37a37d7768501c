import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { GatewayError } from "../errors";
import { missingScopes, type Scope } from "../scopes";
import { verifyApiKey } from "./api-key";
import { readCredential } from "./credentials";
import type { Principal } from "./principal";
import { verifySessionToken } from "./session-token";

/** Middleware: turn the request's one credential into `c.var.principal`, or refuse with 401. */
export const authenticate: MiddlewareHandler<AppEnv> = async function authenticate(c, next) {
  const credential = readCredential(c.req.raw.headers);
  const deps = { env: c.env, config: c.var.config, ctx: c.executionCtx };
  const principal =
    credential.kind === "api_key"
      ? await verifyApiKey(credential.key, deps)
      : await verifySessionToken(credential.token, deps);
  c.set("principal", principal);
  await next();
};

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
