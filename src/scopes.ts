/**
 * Scope grammar: `resource:action`, `resource:*`, `*`, and the presets `read-only` and
 * `voice-only`. `X:write` implies `X:read`. Pure functions; the principal carries the expanded set.
 */

export const RESOURCES = ["chat", "agents", "voice", "api-keys"] as const;
export const ACTIONS = ["read", "write"] as const;

export type Resource = (typeof RESOURCES)[number];
export type Action = (typeof ACTIONS)[number];
/** A concrete scope, e.g. `chat:read`. */
export type Scope = `${Resource}:${Action}`;

/** Every concrete scope, in a stable order. */
export const ALL_SCOPES: readonly Scope[] = RESOURCES.flatMap((r) => ACTIONS.map((a) => `${r}:${a}` as Scope));

/** Named bundles a caller may ask for at key creation. */
export const PRESETS: Readonly<Record<string, readonly Scope[]>> = {
  "read-only": ["chat:read", "agents:read", "voice:read"],
  "voice-only": ["voice:read", "voice:write"],
};

/** Every grant the grammar accepts, for messages that list the valid ones. */
export const VALID_GRANTS: readonly string[] = ["*", ...Object.keys(PRESETS), ...RESOURCES.map((r) => `${r}:*`), ...ALL_SCOPES];

/** What an action implies: write implies read. */
const IMPLIED: Readonly<Record<Action, readonly Action[]>> = {
  read: ["read"],
  write: ["write", "read"],
};

const isResource = (s: string): s is Resource => (RESOURCES as readonly string[]).includes(s);
const isAction = (s: string): s is Action => (ACTIONS as readonly string[]).includes(s);

/** Concrete scopes one grant stands for, or `undefined` when the grant is not in the grammar. */
export function expandGrant(grant: string): Scope[] | undefined {
  if (grant === "*") return [...ALL_SCOPES];
  const preset = PRESETS[grant];
  if (preset && Object.hasOwn(PRESETS, grant)) return [...preset];
  const colon = grant.indexOf(":");
  if (colon < 0) return undefined;
  const resource = grant.slice(0, colon);
  const action = grant.slice(colon + 1);
  if (!isResource(resource)) return undefined;
  if (action === "*") return ACTIONS.map((a) => `${resource}:${a}` as Scope);
  if (!isAction(action)) return undefined;
  return IMPLIED[action].map((a) => `${resource}:${a}` as Scope);
}

/** True when `grant` is a scope, a wildcard or a preset of the grammar. */
export function isValidGrant(grant: string): boolean {
  return expandGrant(grant) !== undefined;
}

/** Expand grants (ignoring any outside the grammar) into the set of concrete scopes they give. */
export function expandScopes(grants: Iterable<string>): Set<Scope> {
  const out = new Set<Scope>();
  for (const grant of grants) for (const s of expandGrant(grant) ?? []) out.add(s);
  return out;
}

/** Concrete scopes in a stable order (the order of `ALL_SCOPES`). */
export function sortScopes(scopes: Iterable<Scope>): Scope[] {
  const set = new Set(scopes);
  return ALL_SCOPES.filter((s) => set.has(s));
}

/** The required scopes that `held` lacks (empty when every one is held). */
export function missingScopes(held: ReadonlySet<Scope>, required: readonly Scope[]): Scope[] {
  return required.filter((s) => !held.has(s));
}

/** Organisation roles (with the `org:` prefix) and what each grants. */
export const ROLE_GRANTS: Readonly<Record<string, readonly string[]>> = {
  "org:admin": ["*"],
  "org:member": ["read-only", "chat:write"],
};

/**
 * Scopes of a session: its role's grants plus each `org:<resource>:<action>` permission that names
 * a scope of the grammar. Unknown roles and permissions grant nothing.
 */
export function sessionScopes(role: string | undefined, permissions: readonly string[]): Set<Scope> {
  const grants: string[] = [];
  if (role && Object.hasOwn(ROLE_GRANTS, role)) grants.push(...ROLE_GRANTS[role]!);
  for (const permission of permissions) {
    const m = /^org:([a-z-]+):([a-z*]+)$/.exec(permission);
    if (m && isResource(m[1]!) && (isAction(m[2]!) || m[2] === "*")) grants.push(`${m[1]}:${m[2]}`);
  }
  return expandScopes(grants);
}
