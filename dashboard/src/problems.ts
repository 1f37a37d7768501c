/**
 * API errors (problem+json, docs/errors.md) in words a person understands, with the request id to
 * quote to support. Pure; unit-tested in test/unit/dashboard-format.test.ts.
 */

/** The problem+json body the gateway answers with (src/errors.ts). */
export interface Problem {
  readonly status: number;
  readonly code?: string;
  readonly title?: string;
  readonly detail?: string;
  readonly request_id?: string | null;
  readonly required_scopes?: readonly string[];
  readonly errors?: readonly { readonly field: string; readonly message: string }[];
}

/** What the page says about a failed call. */
export interface ProblemMessage {
  readonly title: string;
  readonly message: string;
  /** Whether trying again may help (a retry button is shown). */
  readonly retry: boolean;
  /** Whether the person must sign in again. */
  readonly signIn: boolean;
  readonly requestId: string | null;
}

const list = (items: readonly string[]) => items.map((s) => `“${s}”`).join(", ");

/** Describe a failed call; `retryAfter` is the `Retry-After` header in seconds, if any. */
export function describeProblem(problem: Problem, retryAfter?: number): ProblemMessage {
  const requestId = problem.request_id ?? null;
  const say = (title: string, message: string, retry = false, signIn = false): ProblemMessage => ({ title, message, retry, signIn, requestId });
  const scopes = problem.required_scopes ?? [];
  switch (problem.code) {
    case "missing_credentials":
    case "invalid_token":
      return say("Your session has ended", "Sign in again to continue.", false, true);
    case "invalid_api_key":
      return say("Not signed in", "This page signs in with your account, not with an API key. Sign in again.", false, true);
    case "insufficient_scope":
      return say(
        "You don't have permission to do this",
        `This needs the permission ${list(scopes.length ? scopes : ["api-keys:write"])}, which your role in this organization does not include. Ask an organization admin.`,
      );
    case "scope_escalation":
      return say(
        "You can't grant that access",
        `A key can only have permissions you hold yourself. You are missing ${list(scopes)}.`,
      );
    case "no_active_organization":
      return say("Choose an organization", "API keys belong to an organization. Pick one in the organization switcher, then come back here.");
    case "key_not_found":
      return say("This key no longer exists", "Someone may have deleted or rotated it. The list has been refreshed.");
    case "already_rotated":
      return say("This key was already rotated", "It has a replacement already. Rotate the new key instead.");
    case "key_limit_reached":
      return say("Key limit reached", "Your organization has as many keys as it may have. Delete keys you no longer use, then try again.");
    case "validation_failed": {
      const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
      return say("Some values are not valid", fields.length ? `${fields.join("; ")}.` : (problem.detail ?? "Check the form and try again."));
    }
    case "revocation_log_unavailable":
      return say("Nothing was changed", "The key could not be revoked just now, so it still works. Please try again in a moment.", true);
    case "rate_limited":
      return say(
        "Too many requests",
        retryAfter ? `Wait ${retryAfter} seconds, then try again.` : "Wait a moment, then try again.",
        true,
      );
  }
  if (problem.status === 0) {
    return say("Can't reach the API", "Check your connection, then try again.", true);
  }
  if (problem.status === 503) {
    return say("The service is temporarily unavailable", "This is on our side and usually passes within a minute. Please try again shortly.", true);
  }
  if (problem.status >= 500) {
    return say("Something went wrong on our side", "Try again. If it keeps happening, contact support with the request ID.", true);
  }
  return say(problem.title ?? "The request failed", problem.detail ?? `The API answered ${problem.status}.`);
}
