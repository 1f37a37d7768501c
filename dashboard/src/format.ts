/**
 * What the page shows, as plain functions of the API's data (no DOM, no clock: callers pass `now`).
 * Unit-tested in test/unit/dashboard-format.test.ts.
 */
import type { AuditEntry, KeyView, RotatedKey, UsageSeries } from "./types";
import { expandScopes, PRESETS, RESOURCES, type Resource, type Scope, sortScopes } from "../../src/scopes";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** What "immediately" means for a delete or a rotation without grace (docs/api-keys.md, "Revocation and its bound"). */
export const REVOCATION_BOUND =
  "It is refused from the next request where this was handled, and at every location within 5 seconds.";

/** When a narrowed key loses its scopes (docs/api-keys.md, "Edit"): the same bound as a delete. */
export const NARROW_BOUND = "It loses the other scopes from the next request where this was handled, and at every location within 5 seconds.";

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

/** Hours the usage sparkline covers: the last 7 days. */
export const SPARKLINE_HOURS = 7 * 24;

/** The start of the hour `ms` falls in. */
export const hourStart = (ms: number) => ms - (ms % HOUR);

/** Requests per hour for `hours` hours from `from` (epoch ms, an hour's start): absent hours are 0. */
export function hourlyRequests(series: Pick<UsageSeries, "data">, from: number, hours: number): number[] {
  const counts = new Array<number>(hours).fill(0);
  for (const point of series.data) {
    const index = Math.floor((Date.parse(point.hour) - from) / HOUR);
    if (index >= 0 && index < hours) counts[index]! += point.requests;
  }
  return counts;
}

/** The `points` of an SVG polyline drawing `values` in a `width` × `height` box (0 at the bottom). */
export function sparklinePoints(values: readonly number[], width: number, height: number): string {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((v, i) => `${+(i * step).toFixed(1)},${+(height - 1 - (v / max) * (height - 2)).toFixed(1)}`).join(" ");
}

/** The sparkline in words (its accessible name): "12 requests in the last 7 days, at most 5 in one hour". */
export function usageSummary(values: readonly number[]): string {
  const total = values.reduce((a, b) => a + b, 0);
  if (total === 0) return "No requests in the last 7 days";
  return `${total} ${total === 1 ? "request" : "requests"} in the last 7 days, at most ${Math.max(...values)} in one hour`;
}

/** The concrete scopes `grants` give that `suggested` does not: what the key holds and did not use. */
export function unusedScopes(grants: readonly string[], suggested: readonly string[]): Scope[] {
  const keep = expandScopes(suggested);
  return sortScopes(expandScopes(grants)).filter((s) => !keep.has(s));
}

const AUDIT_ACTIONS: Readonly<Record<string, string>> = {
  "key.created": "Created",
  "key.updated": "Edited",
  "key.rotated": "Rotated",
  "key.bulk_rotated": "Rotated (bulk)",
  "key.deleted": "Deleted",
  "key.escalation_refused": "Refused: scopes not held",
  "key.leak_revoked": "Revoked: reported leaked",
  "org.keys_revoked": "Every key revoked (kill switch)",
};

/** An audit action as a person reads it. */
export function auditActionLabel(action: string): string {
  return AUDIT_ACTIONS[action] ?? action;
}

/** The key's name as the entry recorded it (for keys no longer listed). */
export function auditKeyName(entry: Pick<AuditEntry, "before" | "after">): string {
  const name = record(entry.after)["name"] ?? record(entry.before)["name"];
  return typeof name === "string" ? name : "";
}

/** Who acted, as in the list's "Created by". */
export function actorLabel(actor: AuditEntry["actor"]): string {
  return actor.method === "jwt" || actor.method === "api_key" || actor.method === "operator"
    ? createdByLabel(actor as KeyView["created_by"])
    : `${actor.method} ${actor.id}`;
}

const record = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {});
const list = (value: unknown) => (Array.isArray(value) ? value.join(" ") : String(value ?? "—"));

/** What an audit entry changed, in one line: "scopes: chat:* → chat:read", "new key key_…", "missing voice:read". */
export function auditDetail(entry: Pick<AuditEntry, "action" | "before" | "after" | "detail">): string {
  const before = record(entry.before);
  const after = record(entry.after);
  const detail = record(entry.detail);
  if (entry.action === "key.updated") {
    const changes = ["name", "scopes", "metadata"]
      .filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]))
      .map((field) => (field === "metadata" ? "metadata changed" : `${field}: ${list(before[field])} → ${list(after[field])}`));
    return changes.join("; ") || "no change";
  }
  if (entry.action === "key.escalation_refused") return `${String(detail["operation"] ?? "")} asked for ${list(detail["missing_scopes"])}`;
  if (typeof detail["new_key_id"] === "string") return `replaced by ${detail["new_key_id"]}`;
  if (typeof detail["rotated_from"] === "string") return `replaces ${detail["rotated_from"]}`;
  const shown = entry.action === "key.deleted" ? before : after;
  return typeof shown["name"] === "string" ? `“${shown["name"]}” ${list(shown["scopes"])}` : "";
}
