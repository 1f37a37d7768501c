/**
 * What the page shows, as plain functions of the API's data (no DOM, no clock: callers pass `now`).
 * Unit-tested in test/unit/dashboard-format.test.ts.
 */
import type { KeyView, RotatedKey } from "./types";
import { expandScopes, PRESETS, RESOURCES, type Resource, type Scope } from "../../src/scopes";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** What "immediately" means for a delete or a rotation without grace (docs/api-keys.md, "Revocation and its bound"). */
export const REVOCATION_BOUND =
  "It is refused from the next request where this was handled, and at every location within 5 seconds.";

/** "just now", "5 min ago", "3 h ago", "4 days ago", then the date. */
export function relativeTime(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  if (ms < MINUTE) return "just now";
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ago`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)} h ago`;
  if (ms < 30 * DAY) {
    const days = Math.floor(ms / DAY);
    return `${days} ${days === 1 ? "day" : "days"} ago`;
  }
  return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** The exact time, for the hover/focus tooltip: "27 Nov 2026, 15:00:00 UTC". */
export function exactTime(iso: string): string {
  return `${new Date(iso).toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZone: "UTC",
  })} UTC`;
}

/** A duration ahead, rounded down to a readable unit: "43 min", "23 h", "6 days". */
export function durationFromNow(iso: string, now: number): string {
  const ms = Math.max(0, Date.parse(iso) - now);
  if (ms < HOUR) return `${Math.max(1, Math.ceil(ms / MINUTE))} min`;
  if (ms < 2 * DAY) return `${Math.floor(ms / HOUR)} h`;
  return `${Math.floor(ms / DAY)} days`;
}

export type KeyStatus = { readonly kind: "active"; readonly label: string } | { readonly kind: "expiring"; readonly label: string };

/** Active, or "Expires in 43 min" while a rotated key's grace period runs. */
export function keyStatus(key: Pick<KeyView, "expires_at">, now: number): KeyStatus {
  if (!key.expires_at) return { kind: "active", label: "Active" };
  return { kind: "expiring", label: `Expires in ${durationFromNow(key.expires_at, now)}` };
}

const PRESET_LABELS: Readonly<Record<string, string>> = { "*": "Full access", "read-only": "Read-only", "voice-only": "Voice only" };

/** A grant as a person reads it: presets by name, scopes as written. */
export function grantLabel(grant: string): string {
  return PRESET_LABELS[grant] ?? grant;
}

/** "user_2abc", "key key_…", "operator alice": who created a key. */
export function createdByLabel(createdBy: KeyView["created_by"]): string {
  if (createdBy.method === "jwt") return createdBy.id;
  if (createdBy.method === "api_key") return `key ${createdBy.id}`;
  return `operator ${createdBy.id}`;
}

/** True when the key was used within the last 24 h (its delete asks for the name to be typed). */
export function usedRecently(key: Pick<KeyView, "last_used_at">, now: number): boolean {
  return key.last_used_at !== null && now - Date.parse(key.last_used_at) < DAY;
}

/** The access choices of the create form: presets, then a custom set. */
export type AccessChoice = "*" | "read-only" | "voice-only" | "custom";

/** Per resource in the custom picker: no access, read, or read and write. */
export type ResourceLevel = "none" | "read" | "write";

export const RESOURCE_LABELS: Readonly<Record<Resource, string>> = {
  chat: "Chat",
  agents: "Agents",
  voice: "Voice",
  "api-keys": "API keys",
};

/** The presets the signed-in person may grant (every scope they expand to is held). */
export function grantablePresets(held: ReadonlySet<Scope>): Exclude<AccessChoice, "custom">[] {
  const all = (grant: string) => [...expandScopes([grant])].every((s) => held.has(s));
  return (["*", "read-only", "voice-only"] as const).filter(all);
}

/** The levels the signed-in person may grant on a resource: never more than they hold. */
export function grantableLevels(held: ReadonlySet<Scope>, resource: Resource): ResourceLevel[] {
  const levels: ResourceLevel[] = ["none"];
  if (held.has(`${resource}:read`)) levels.push("read");
  if (held.has(`${resource}:write`)) levels.push("write");
  return levels;
}

/** The grants a create form asks for. */
export function grantsFor(choice: AccessChoice, levels: Partial<Record<Resource, ResourceLevel>>): string[] {
  if (choice !== "custom") return [choice];
  return RESOURCES.flatMap((r) => (levels[r] === "read" ? [`${r}:read`] : levels[r] === "write" ? [`${r}:write`] : []));
}

/** What a preset gives, for its description. */
export function presetScopes(preset: "read-only" | "voice-only"): readonly Scope[] {
  return PRESETS[preset]!;
}

/** The ready-to-paste curl line shown with a new key. */
export function curlLine(origin: string, key: string): string {
  return `curl ${origin}/v1/chat/agents -H "x-api-key: ${key}"`;
}

/** An environment variable name for a key: AGNTIX_API_KEY_<NAME>, made unique within `taken`. */
export function envVarName(name: string, taken: Set<string>): string {
  const stem = name
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .toUpperCase()
    .slice(0, 60);
  const base = stem ? `AGNTIX_API_KEY_${stem}` : "AGNTIX_API_KEY";
  let candidate = base;
  for (let i = 2; taken.has(candidate); i++) candidate = `${base}_${i}`;
  taken.add(candidate);
  return candidate;
}

/** A `.env` file of rotated keys, for a CI secret store: one commented variable per key. */
export function envFile(rotated: readonly Pick<RotatedKey, "id" | "name" | "key" | "old_id" | "old_key_expires_at">[], now: number): string {
  const taken = new Set<string>();
  const lines = [`# Agntix API keys, rotated ${new Date(now).toISOString()}. Each key is shown once: store it, then delete this file.`];
  for (const key of rotated) {
    const oldEnds =
      key.old_key_expires_at === null
        ? `old key ${key.old_id} could not be retired: delete it`
        : Date.parse(key.old_key_expires_at) <= now
          ? `old key ${key.old_id} no longer works`
          : `old key ${key.old_id} works until ${key.old_key_expires_at}`;
    lines.push("", `# ${key.name.replace(/[\r\n]+/g, " ")} (${key.id}; ${oldEnds})`, `${envVarName(key.name, taken)}=${key.key}`);
  }
  return `${lines.join("\n")}\n`;
}
