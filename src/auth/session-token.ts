import { GatewayError } from "../errors";
import type { VerifierDeps } from "./deps";
import type { Principal } from "./principal";

/** Verify a Clerk session token and return its principal. (Stub until the session-token issue lands.) */
export async function verifySessionToken(_token: string, _deps: VerifierDeps): Promise<Principal> {
  throw new GatewayError("invalid_token", { detail: "The session token is invalid." });
}
