/**
 * The operator CLI's core (`npm run keys -- …`): parses arguments and runs them against any KV
 * (`KvLike`) with the worker's own services, and returns what to print. No Node APIs here, so it
 * runs in workerd tests against a real KV binding; `scripts/keys.ts` is the thin Node entry.
 */
import { GatewayError } from "../errors";
import { ALL_SCOPES } from "../scopes";
import { checkKeyFormat, type KeyPrefix } from "./format";
import { hashKey } from "./hash";
import { type Actor, createKey, deleteKey, getKey, type KeyServiceDeps, type KeyView, listKeys, type RotatedKey, rotateKeys } from "./service";
import { KeyStore, type KvLike } from "./store";
import { checkCreateInput, MAX_BULK_ROTATE, MAX_GRACE_PERIOD_SECONDS, MAX_LIST_LIMIT } from "./validate";

/** What the CLI core needs from its host. */
export interface CliDeps {
  readonly kv: KvLike;
  readonly pepper: string;
  readonly prefix: KeyPrefix;
  /** Where the command acts, for messages: `local`, `staging` or `production`. */
  readonly target: string;
  /** Recorded as `created_by.id` of keys the CLI creates. */
  readonly operator: string;
  /** Where `seed-dev` keeps the development key's plaintext (local only). */
  readonly devKeyFile?: { read(): Promise<string | null>; write(text: string): Promise<void> };
  /** Base URL printed in `seed-dev`'s curl. */
  readonly gatewayUrl?: string;
  readonly now?: () => number;
}

/** What to print and the exit code: 0 ok, 1 the command failed, 2 bad usage. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The development key's organisation and name (`seed-dev`). */
export const DEV_ORG = "org_dev";
export const DEV_KEY_NAME = "Development key";

export const USAGE = `Usage: npm run keys -- <command> [options] [--env staging|production] [--json]

Commands:
  create --org ORG --name NAME --scopes S1,S2   Create a key (printed once). Bootstrap an org: --scopes '*'
  list --org ORG [--limit N] [--cursor C] [--all]
  get ID                                       Show a key's record (never the key)
  revoke ID [ID…]                              Delete keys
  rotate ID [ID…] [--grace SECONDS]            Replace keys by new ones with the same name and scopes
  rotate --org ORG --older-than 90d [--grace SECONDS] [--dry-run]
                                               Scheduled rotation: every key of ORG created before the cutoff
  seed-dev                                     Create (once) the local development key and print it

Without --env the command acts on local KV (the state \`wrangler dev\` uses).
With --env it acts on that deployment's KV: needs API_KEY_PEPPER, CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID.
`;

class UsageError extends Error {}

interface Args {
  readonly command: string | undefined;
  readonly positionals: string[];
  readonly options: Map<string, string>;
  readonly flags: Set<string>;
}

const VALUE_OPTIONS = ["org", "name", "scopes", "grace", "limit", "cursor", "older-than"];
const FLAG_OPTIONS = ["json", "all", "dry-run", "help"];

/** Split argv into a command, positionals, `--name value` options and boolean flags. */
export function parseCliArgs(argv: readonly string[]): Args {
  const positionals: string[] = [];
  const options = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (FLAG_OPTIONS.includes(name) && eq < 0) flags.add(name);
    else if (VALUE_OPTIONS.includes(name)) {
      const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`--${name} needs a value`);
      options.set(name, value);
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return { command: positionals.shift(), positionals, options, flags };
}

/** Run one CLI command; never throws. */
export async function runKeysCommand(argv: readonly string[], deps: CliDeps): Promise<CliResult> {
  let args: Args;
  try {
    args = parseCliArgs(argv);
  } catch (error) {
    return { code: 2, stdout: "", stderr: `error: ${(error as Error).message}\n\n${USAGE}` };
  }
  const json = args.flags.has("json");
  if (!args.command) return { code: 2, stdout: "", stderr: USAGE };
  if (args.command === "help" || args.flags.has("help")) return { code: 0, stdout: USAGE, stderr: "" };
  const command = Object.hasOwn(COMMANDS, args.command) ? COMMANDS[args.command] : undefined;
  if (!command) return { code: 2, stdout: "", stderr: `error: unknown command ${args.command}\n\n${USAGE}` };
  try {
    const output = await command(args, deps);
    return { code: 0, stdout: json ? `${JSON.stringify(output.json, null, 2)}\n` : output.text, stderr: output.note && !json ? output.note : "" };
  } catch (error) {
    if (error instanceof UsageError) return { code: 2, stdout: "", stderr: `error: ${error.message}\n\n${USAGE}` };
    if (error instanceof GatewayError) {
      const fields = Array.isArray(error.extra?.["errors"]) ? (error.extra["errors"] as { field: string; message: string }[]) : [];
      // Operators may see the underlying cause (a Cloudflare API status, a network error); callers of the API never do.
      const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
      const lines = [`error: ${error.code}: ${error.detail}${cause}`, ...fields.map((e) => `  ${e.field} ${e.message}`)];
      return { code: 1, stdout: json ? `${JSON.stringify({ error: { code: error.code, detail: error.detail, errors: fields } })}\n` : "", stderr: `${lines.join("\n")}\n` };
    }
    return { code: 1, stdout: "", stderr: `error: ${error instanceof Error ? error.message : String(error)}\n` };
  }
}

interface Output {
  readonly json: unknown;
  readonly text: string;
  /** Printed to stderr in human mode (warnings, hints). */
  readonly note?: string;
}

type Command = (args: Args, deps: CliDeps) => Promise<Output>;

function serviceDeps(deps: CliDeps): KeyServiceDeps {
  // No revocation markers: they live in a location's Cache API, which only the worker reaches.
  return { store: new KeyStore(deps.kv), pepper: deps.pepper, prefix: deps.prefix, ...(deps.now ? { now: deps.now } : {}) };
}

function operatorActor(deps: CliDeps, orgId: string, id = deps.operator): Actor {
  return { orgId, scopes: new Set(ALL_SCOPES), createdBy: { method: "operator", id } };
}

function required(args: Args, name: string): string {
  const value = args.options.get(name);
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

function integer(args: Args, name: string, min: number, max: number): number | undefined {
  const value = args.options.get(name);
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** `90d`, `12h`, `30m` or seconds, as milliseconds. */
function duration(value: string): number {
  const m = /^(\d+)([dhms]?)$/.exec(value);
  if (!m) throw new UsageError("--older-than must look like 90d, 12h, 30m or a number of seconds");
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, "": 1000 }[m[2] as "d" | "h" | "m" | "s" | ""];
  return Number(m[1]) * unit;
}

function describeKey(key: KeyView): string {
  return [
    `${key.id}  ${key.name}`,
    `  scopes:     ${key.scopes.join(" ")}`,
    `  hint:       ${key.hint}`,
    `  created:    ${key.created_at} by ${key.created_by.method} ${key.created_by.id}`,
    `  last used:  ${key.last_used_at ?? "never"}`,
    ...(key.expires_at ? [`  expires:    ${key.expires_at}`] : []),
  ].join("\n");
}

const SHOWN_ONCE = "The key is shown only now: store it in a secret manager.\n";

async function findOrg(deps: CliDeps, id: string): Promise<string> {
  const stored = await new KeyStore(deps.kv).findById(id);
  if (!stored) throw new GatewayError("key_not_found", { detail: `No API key ${id} in ${deps.target} KV.` });
  return stored.org_id;
}

const create: Command = async (args, deps) => {
  const orgId = required(args, "org");
  const input = checkCreateInput({ name: required(args, "name"), scopes: required(args, "scopes").split(",").map((s) => s.trim()) });
  if (!input.ok) throw new GatewayError("validation_failed", { detail: "Invalid options.", extra: { errors: input.errors } });
  const created = await createKey(serviceDeps(deps), operatorActor(deps, orgId), input.value);
  return {
    json: { ...created, org_id: orgId },
    text: `Created in ${deps.target} for ${orgId}:\n${describeKey(created)}\n\n  key:        ${created.key}\n`,
    note: SHOWN_ONCE,
  };
};

const list: Command = async (args, deps) => {
  const orgId = required(args, "org");
  const limit = integer(args, "limit", 1, MAX_LIST_LIMIT) ?? MAX_LIST_LIMIT;
  const keys: KeyView[] = [];
  let cursor = args.options.get("cursor");
  do {
    const page = await listKeys(serviceDeps(deps), orgId, { limit, cursor });
    keys.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && args.flags.has("all"));
  const more = cursor ? `\nMore: --cursor ${cursor} (or --all)\n` : "";
  return {
    json: { data: keys, next_cursor: cursor ?? null },
    text: keys.length ? `${keys.map(describeKey).join("\n\n")}\n${more}` : `No keys for ${orgId} in ${deps.target}.\n`,
  };
};

const get: Command = async (args, deps) => {
  const id = args.positionals[0];
  if (!id) throw new UsageError("get needs a key id");
  const key = await getKey(serviceDeps(deps), await findOrg(deps, id), id);
  return { json: key, text: `${describeKey(key)}\n` };
};

const revoke: Command = async (args, deps) => {
  if (args.positionals.length === 0) throw new UsageError("revoke needs at least one key id");
  const revoked: string[] = [];
  for (const id of args.positionals) {
    await deleteKey(serviceDeps(deps), await findOrg(deps, id), id);
    revoked.push(id);
  }
  return {
    json: { revoked },
    text: revoked.map((id) => `Revoked ${id}\n`).join(""),
    note: "Gateways refuse a revoked key once their cached copy expires: within about two minutes everywhere (docs/api-keys.md). The management API's DELETE is immediate at the location that serves it.\n",
  };
};

async function rotateIds(deps: CliDeps, ids: readonly string[], grace: number): Promise<RotatedKey[]> {
  const byOrg = new Map<string, string[]>();
  for (const id of ids) {
    const org = await findOrg(deps, id);
    byOrg.set(org, [...(byOrg.get(org) ?? []), id]);
  }
  const rotated: RotatedKey[] = [];
  for (const [org, orgIds] of byOrg) {
    for (let i = 0; i < orgIds.length; i += MAX_BULK_ROTATE) {
      rotated.push(...(await rotateKeys(serviceDeps(deps), operatorActor(deps, org), orgIds.slice(i, i + MAX_BULK_ROTATE), grace)));
    }
  }
  return rotated;
}

const rotate: Command = async (args, deps) => {
  const grace = integer(args, "grace", 0, MAX_GRACE_PERIOD_SECONDS) ?? 0;
  let ids = args.positionals;
  if (args.options.has("older-than")) {
    if (ids.length) throw new UsageError("rotate takes either key ids or --org with --older-than, not both");
    const orgId = required(args, "org");
    const cutoff = (deps.now ?? Date.now)() - duration(args.options.get("older-than")!);
    const keys: KeyView[] = [];
    let cursor: string | undefined;
    do {
      const page = await listKeys(serviceDeps(deps), orgId, { limit: MAX_LIST_LIMIT, cursor });
      keys.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    // Keys already in a grace period are on their way out: rotating them again would mint duplicates.
    ids = keys.filter((k) => Date.parse(k.created_at) < cutoff && k.expires_at === null).map((k) => k.id);
    if (args.flags.has("dry-run")) {
      return { json: { would_rotate: ids }, text: ids.length ? ids.map((id) => `Would rotate ${id}\n`).join("") : "Nothing to rotate.\n" };
    }
    if (ids.length === 0) return { json: { data: [] }, text: `No key of ${orgId} was created before the cutoff.\n` };
  } else if (ids.length === 0) throw new UsageError("rotate needs key ids, or --org with --older-than");
  const rotated = await rotateIds(deps, ids, grace);
  const lines = rotated.map(
    (r) => `${r.old_id} → ${r.id}  ${r.name}\n  key:        ${r.key}\n  old key:    ${r.old_key_expires_at ? `stops at ${r.old_key_expires_at}` : "COULD NOT BE RETIRED: revoke it"}\n`,
  );
  return { json: { data: rotated }, text: lines.join("\n"), note: SHOWN_ONCE };
};

const seedDev: Command = async (_args, deps) => {
  if (!deps.devKeyFile) throw new UsageError("seed-dev works on local KV only");
  const service = serviceDeps(deps);
  const saved = (await deps.devKeyFile.read())?.trim();
  let key: string | undefined;
  let id: string | undefined;
  if (saved && checkKeyFormat(saved, deps.prefix).ok) {
    const record = await service.store.findByHash(await hashKey(saved, deps.pepper));
    if (record && record.org_id === DEV_ORG && record.expires_at === undefined) [key, id] = [saved, record.id];
  }
  if (!key || !id) {
    const created = await createKey(service, operatorActor(deps, DEV_ORG, "seed-dev"), { name: DEV_KEY_NAME, scopes: ["*"] });
    [key, id] = [created.key, created.id];
    await deps.devKeyFile.write(`${key}\n`);
    // Earlier development keys whose plaintext was lost can never be used again: remove them.
    const page = await listKeys(service, DEV_ORG, { limit: MAX_LIST_LIMIT, cursor: undefined });
    for (const old of page.data) {
      if (old.id !== id && old.name === DEV_KEY_NAME && old.created_by.id === "seed-dev") await deleteKey(service, DEV_ORG, old.id);
    }
  }
  const base = deps.gatewayUrl ?? "http://127.0.0.1:8787";
  return {
    json: { key, id, org_id: DEV_ORG },
    text: `Development key (${DEV_ORG}, all scopes): ${key}\n\n  curl ${base}/v1/chat/agents -H "x-api-key: ${key}"\n`,
  };
};

const COMMANDS: Readonly<Record<string, Command>> = { create, list, get, revoke, rotate, "seed-dev": seedDev };
