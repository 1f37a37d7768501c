import type { Principal } from "../../src/auth/principal";
import { expandScopes } from "../../src/scopes";

/** A principal as a verifier would produce it, for tests of the forwarding layer. */
export function testPrincipal(grants: string[] = ["*"], overrides: Partial<Principal> = {}): Principal {
  return { orgId: "org_test", subject: "key_test", method: "api_key", scopes: expandScopes(grants), ...overrides };
}
