/**
 * Least privilege from usage: the smallest grant covering the scopes a key exercised, and whether a
 * key has gone unused long enough to be called stale. Pure functions.
 */
import { ACTIONS, RESOURCES, type Scope, sortScopes } from "../scopes";

/** A key unused (or never used) for this long is `stale`: 90 days, in ms. */
export const STALE_AFTER_MS = 90 * 24 * 3_600_000;

/**
 * The smallest list of grants whose expansion covers `used`: per resource, `X:write` when it wrote
 * (write implies read), else `X:read`. Empty when nothing was used.
 */
export function suggestedScopes(used: Iterable<string>): Scope[] {
  const set = new Set(used);
  const out: Scope[] = [];
  for (const resource of RESOURCES) {
    const action = [...ACTIONS].reverse().find((a) => set.has(`${resource}:${a}`));
    if (action) out.push(`${resource}:${action}` as Scope);
  }
  return out;
}

/** Concrete scopes in the grammar's order, ignoring anything outside it. */
export function usedScopes(scopes: Iterable<string>): Scope[] {
  return sortScopes([...scopes] as Scope[]);
}

/** True when the key was last used (or, never used, created) `STALE_AFTER_MS` or more before `now`. */
export function isStale(lastUsedAt: string | null, createdAt: string, now: number): boolean {
  return now - Date.parse(lastUsedAt ?? createdAt) >= STALE_AFTER_MS;
}
