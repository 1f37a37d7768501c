import { GatewayError } from "../errors";
import type { VerifierDeps } from "./deps";
import type { Principal } from "./principal";

/** Verify an `x-api-key` value and return its principal. (Stub until the API-key issue lands.) */
export async function verifyApiKey(_key: string, _deps: VerifierDeps): Promise<Principal> {
  throw new GatewayError("invalid_api_key", { detail: "The API key is invalid." });
}
