import type { Bindings, Config } from "../env";

/** What a credential verifier needs from the request's world: no Hono context. */
export interface VerifierDeps {
  readonly env: Bindings;
  readonly config: Config;
  /** For work behind the response (`waitUntil`). */
  readonly ctx: Pick<ExecutionContext, "waitUntil">;
}
