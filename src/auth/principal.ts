import type { Scope } from "../scopes";

/** How the caller proved who it is. */
export type AuthMethod = "api_key" | "jwt";

/** The authenticated caller: the same shape whichever credential it used. */
export interface Principal {
  /** The organisation every request is scoped to. */
  readonly orgId: string;
  /** The key id (`key_…`) or the Clerk user id (`user_…`). */
  readonly subject: string;
  readonly method: AuthMethod;
  /** Expanded concrete scopes (`X:write` already implies `X:read`). */
  readonly scopes: ReadonlySet<Scope>;
  /** API keys only: created with the explicit opt-in for browser use (`allow_browser`). */
  readonly allowBrowser?: true;
  /** An API key's rate-limit tier (its record's `rate_limit`; absent = `standard`). Sessions have none. */
  readonly rateLimitTier?: string;
}
