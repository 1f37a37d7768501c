/**
 * The operator CLI's core (`npm run keys -- …`): runs a parsed command line against any KV
 * (`KvLike`) with the worker's own services, and returns what to print. No Node APIs here, so it
 * runs in workerd tests against a real KV binding; `scripts/keys.ts` parses argv with the shared
 * parser (scripts/lib/cli.ts, `node:util` parseArgs) against `KEYS_OPTIONS` and connects a KV.
 */
import { closest, table, UsageError } from "../cli/text";
import { GatewayError } from "../errors";
import { ALL_SCOPES, isValidGrant, VALID_GRANTS } from "../scopes";
import { checkKeyFormat, type KeyPrefix } from "./format";
import { hashKey } from "./hash";
import { checkPepper } from "./pepper";
import {
  type Actor,
  createKey,
  deleteKey,
  getKey,
  type KeyServiceDeps,
  type KeyView,
  listKeys,
  type RevocationSink,
  revokeOrganization,
  type RotatedKey,
  rotateKeys,
} from "./service";
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
  /**
   * The revocation log, reached through the gateway (src/revocation/operator.ts): revoke, rotate
   * and revoke-all write to it before KV, so their bound is the feed's (5 s), not KV's.
   */
  readonly revocations?: RevocationSink;
  readonly now?: () => number;
  /** Rate-limit tiers of the target's config (`RATE_LIMIT_TIERS`), lowest first. */
  readonly rateLimitTiers?: readonly string[];
}

/** What to print and the exit code: 0 ok, 1 the command failed, 2 bad usage. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A parsed command line: the command and its ids as positionals, options by name. */
export interface KeysCommandLine {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

/** The development key's organisation and name (`seed-dev`). */
export const DEV_ORG = "org_dev";
export const DEV_KEY_NAME = "Development key";

/** Every option of `npm run keys` (for `node:util` parseArgs); each command accepts a subset. */
export const KEYS_OPTIONS = {
  org: { type: "string" },
  name: { type: "string" },
  scopes: { type: "string" },
  grace: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  "older-than": { type: "string" },
  "rate-limit": { type: "string" },
  all: { type: "boolean" },
  "dry-run": { type: "boolean" },
  yes: { type: "boolean" },
  json: { type: "boolean" },
  env: { type: "string" },
} as const;

/** Options every command accepts (handled by the core or by scripts/keys.ts). */
const GLOBAL_OPTIONS = ["json", "env", "help"];

interface CommandSpec {
  /** The synopsis after `npm run keys --`. */
  readonly usage: string;
  readonly about: string;
  readonly options: readonly (keyof typeof KEYS_OPTIONS)[];
  readonly run: Command;
}

const HOW_TO_RUN = "npm run -s keys --";

/** The whole help text, or one command's. */
export function keysUsage(command?: string): string {
  const spec = command && Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (spec) return `Usage: ${HOW_TO_RUN} ${spec.usage} [--env staging|production] [--json]\n\n${spec.about}\n`;
  const rows = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(54)} ${c.about.split("\n")[0]}`);
  return `Usage: ${HOW_TO_RUN} <command> [options] [--env staging|production] [--json]

Commands:
${rows.join("\n")}

Options for every command:
  --env staging|production   act on that deployment's KV (default: local KV, the state \`wrangler dev\` uses)
  --json                     machine-readable output on stdout (for scripts)
  -h, --help                 this help; \`${HOW_TO_RUN} <command> --help\` for one command

Scopes: ${VALID_GRANTS.join(" ")}
`;
}

/**
 * What is wrong with the command's name or options, if anything (help counts as "nothing to run").
 * Pure: hosts call it to answer help and usage mistakes before connecting to any KV.
 */
export function keysCommandLineError(line: KeysCommandLine): UsageError | "help" | undefined {
  const [name] = line.positionals;
  if (line.values["help"] === true || name === "help") return "help";
  if (!name) return new UsageError("a command is needed, e.g. `list --org org_123`");
  const spec = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!spec) {
    const guess = closest(name, Object.keys(COMMANDS));
    return new UsageError(`unknown command ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ""}; commands: ${Object.keys(COMMANDS).join(", ")}`);
  }
  for (const [option, value] of Object.entries(line.values)) {
    if (value === undefined || GLOBAL_OPTIONS.includes(option) || (spec.options as readonly string[]).includes(option)) continue;
    const takes = spec.options.length ? `it takes ${spec.options.map((o) => `--${o}`).join(", ")}` : "it takes no options";
    return new UsageError(`${name} does not take --${option} (${takes})`);
  }
  return undefined;
}

/** Run one parsed command line; never throws. */
export async function runKeysCommand(line: KeysCommandLine, deps: CliDeps): Promise<CliResult> {
  const [name, ...positionals] = line.positionals;
  const json = line.values["json"] === true;
  try {
    const problem = keysCommandLineError(line);
    if (problem === "help") return { code: 0, stdout: keysUsage(name === "help" ? positionals[0] : name), stderr: "" };
    if (problem) throw problem;
    const spec = COMMANDS[name!]!;
    const output = await spec.run(new Args(name!, positionals, line.values), deps);
    return { code: 0, stdout: json ? `${JSON.stringify(output.json, null, 2)}\n` : output.text, stderr: output.note && !json ? output.note : "" };
  } catch (error) {
    if (error instanceof UsageError) {
      return { code: 2, stdout: "", stderr: `keys: ${error.message}\nRun \`${HOW_TO_RUN} ${name && Object.hasOwn(COMMANDS, name) ? `${name} ` : ""}--help\` for usage.\n` };
    }
    if (error instanceof GatewayError) {
      const fields = Array.isArray(error.extra?.["errors"]) ? (error.extra["errors"] as { field: string; message: string }[]) : [];
      // Operators may see the underlying cause (a Cloudflare API status, a network error); callers of the API never do.
      const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
      const lines = [`keys: ${error.code}: ${error.detail}${cause}`, ...fields.map((e) => `  ${e.field} ${e.message}`)];
      if (error.code === "key_issuance_unavailable") lines.push(PEPPER_MISMATCH_HINT(deps.target));
      return { code: 1, stdout: json ? `${JSON.stringify({ error: { code: error.code, detail: error.detail, errors: fields } })}\n` : "", stderr: `${lines.join("\n")}\n` };
    }
    return { code: 1, stdout: "", stderr: `keys: ${error instanceof Error ? error.message : String(error)}\n` };
  }
}

/** One command's view of the command line, with typed accessors that explain what is wrong. */
class Args {
  constructor(
    readonly command: string,
    readonly positionals: readonly string[],
    private readonly values: KeysCommandLine["values"],
  ) {}

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  required(name: string, example: string): string {
    const value = this.string(name)?.trim();
    if (!value) throw new UsageError(`${this.command} needs --${name}, e.g. --${name} ${example}`);
    return value;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return n;
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
  return {
    store: new KeyStore(deps.kv),
    pepper: deps.pepper,
    prefix: deps.prefix,
    ...(deps.revocations ? { revocations: deps.revocations } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.rateLimitTiers ? { rateLimitTiers: deps.rateLimitTiers } : {}),
  };
}

function operatorActor(deps: CliDeps, orgId: string, id = deps.operator): Actor {
  // Operators set any tier (`rateLimitCeiling: null`).
  return { orgId, scopes: new Set(ALL_SCOPES), createdBy: { method: "operator", id }, rateLimitCeiling: null };
}

/** `--scopes a,b`: each grant checked here so the message names the bad one and lists the valid ones. */
function scopesOption(args: Args): string[] {
  const scopes = args
    .required("scopes", "chat:write,agents:read")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = scopes.filter((s) => !isValidGrant(s));
  if (bad.length) {
    const guesses = bad.map((b) => closest(b, VALID_GRANTS)).filter(Boolean);
    throw new UsageError(
      `--scopes: ${bad.map((b) => JSON.stringify(b)).join(", ")} ${bad.length === 1 ? "is not a scope" : "are not scopes"}` +
        `${guesses.length ? ` (did you mean ${guesses.join(", ")}?)` : ""}; valid: ${VALID_GRANTS.join(" ")}`,
    );
  }
  return scopes;
}

/** `90d`, `12h`, `30m` or seconds, as milliseconds. */
function duration(value: string): number {
  const m = /^(\d+)([dhms]?)$/.exec(value);
  if (!m) throw new UsageError(`--older-than must look like 90d, 12h, 30m or a number of seconds (got ${JSON.stringify(value)})`);
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, "": 1000 }[m[2] as "d" | "h" | "m" | "s" | ""];
  return Number(m[1]) * unit;
}

const when = (iso: string | null) => (iso ? iso.replace(/\.\d{3}Z$/, "Z") : "-");

/** Keys as a table, one row each (never the key itself). */
function keyTable(keys: readonly KeyView[]): string {
  return table(
    ["ID", "NAME", "SCOPES", "HINT", "CREATED", "BY", "LAST USED", "EXPIRES"],
    keys.map((k) => [k.id, k.name, k.scopes.join(","), k.hint, when(k.created_at), `${k.created_by.method}:${k.created_by.id}`, when(k.last_used_at), when(k.expires_at)]),
  );
}

/** One key as `field  value` lines. */
function keyRecord(key: KeyView & { org_id?: string }, extra: [string, string][] = []): string {
  return table(
    ["FIELD", "VALUE"],
    [
      ["id", key.id],
      ...(key.org_id ? [["org", key.org_id] as [string, string]] : []),
      ["name", key.name],
      ["scopes", key.scopes.join(",")],
      ["hint", key.hint],
      ["rate limit", key.rate_limit],
      ["created", `${when(key.created_at)} by ${key.created_by.method}:${key.created_by.id}`],
      ["last used", when(key.last_used_at)],
      ["expires", when(key.expires_at)],
      ...(key.rotated_from ? [["rotated from", key.rotated_from] as [string, string]] : []),
      ...extra,
    ],
  );
}

const PEPPER_MISMATCH_HINT = (target: string) =>
  `  The pepper in use is not the one the keys in ${target} KV are hashed under, so a key issued now would never verify.\n` +
  `  Check API_KEY_PEPPER (\`${HOW_TO_RUN} pepper-check${target === "local" ? "" : ` --env ${target}`}\`). After a deliberate pepper rotation, record the new one with pepper-set.`;

const SHOWN_ONCE = "The key is shown only now: store it in a secret manager.\n";

async function findOrg(deps: CliDeps, id: string): Promise<string> {
  const stored = await new KeyStore(deps.kv).findById(id);
  if (!stored) throw new GatewayError("key_not_found", { detail: `No API key ${id} in ${deps.target} KV.` });
  return stored.org_id;
}

const create: Command = async (args, deps) => {
  const orgId = args.required("org", "org_123");
  const rateLimit = args.string("rate-limit");
  const input = checkCreateInput({
    name: args.required("name", '"CI bot"'),
    scopes: scopesOption(args),
    ...(rateLimit !== undefined ? { rate_limit: rateLimit } : {}),
  });
  if (!input.ok) throw new GatewayError("validation_failed", { detail: "Invalid options.", extra: { errors: input.errors } });
  const created = await createKey(serviceDeps(deps), operatorActor(deps, orgId), input.value);
  return {
    json: { ...created, org_id: orgId },
    text: `Created in ${deps.target}:\n${keyRecord({ ...created, org_id: orgId }, [["key", created.key]])}`,
    note: SHOWN_ONCE,
  };
};

const list: Command = async (args, deps) => {
  const orgId = args.required("org", "org_123");
  const limit = args.integer("limit", 1, MAX_LIST_LIMIT) ?? MAX_LIST_LIMIT;
  const keys: KeyView[] = [];
  let cursor = args.string("cursor");
  do {
    const page = await listKeys(serviceDeps(deps), orgId, { limit, cursor });
    keys.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && args.flag("all"));
  const more = cursor ? `\nMore: add --cursor ${cursor} (or --all)\n` : "";
  return {
    json: { data: keys, next_cursor: cursor ?? null },
    text: keys.length ? `${keyTable(keys)}${more}` : `No keys for ${orgId} in ${deps.target}.\n`,
  };
};

const get: Command = async (args, deps) => {
  const [id, ...extra] = args.positionals;
  if (!id || extra.length) throw new UsageError("get takes one key id, e.g. get key_0123456789abcdefABCDEFGH");
  const orgId = await findOrg(deps, id);
  const key = await getKey(serviceDeps(deps), orgId, id);
  return { json: key, text: keyRecord({ ...key, org_id: orgId }) };
};

const BOUND_NOTE = (deps: CliDeps) =>
  deps.revocations
    ? "Refused by every gateway location within 5 s (the revocation log has it).\n"
    : "The revocation log was not reached: gateways refuse it within the KV bound, about two minutes (docs/api-keys.md).\n";

/** A key value (`pk_…`) → its id, without ever printing the key (only its hint). */
async function idOfKeyValue(deps: CliDeps, key: string): Promise<string> {
  const hint = `${key.slice(0, 8)}...${key.slice(-4)}`;
  if (!checkKeyFormat(key, deps.prefix).ok) throw new UsageError(`${hint} is not a well-formed ${deps.prefix} key (checksum or environment)`);
  const record = await new KeyStore(deps.kv).findByHash(await hashKey(key, deps.pepper));
  if (!record) throw new GatewayError("key_not_found", { detail: `No API key ${hint} in ${deps.target} KV.` });
  return record.id;
}

const revoke: Command = async (args, deps) => {
  if (args.positionals.length === 0) throw new UsageError("revoke needs key ids or key values, e.g. revoke key_0123456789abcdefABCDEFGH");
  const revoked: string[] = [];
  for (const arg of args.positionals) {
    const id = arg.startsWith("pk_") ? await idOfKeyValue(deps, arg) : arg;
    await deleteKey(serviceDeps(deps), await findOrg(deps, id), id);
    revoked.push(id);
  }
  return {
    json: { revoked },
    text: revoked.map((id) => `Revoked ${id}\n`).join(""),
    note: BOUND_NOTE(deps),
  };
};

const revokeAll: Command = async (args, deps) => {
  const orgId = args.required("org", "org_123");
  const result = await revokeOrganization(serviceDeps(deps), operatorActor(deps, orgId));
  return {
    json: result,
    text: `Revoked every key of ${orgId} created before ${result.revoked_before}: ${result.keys_deleted} deleted.\n`,
    note: BOUND_NOTE(deps),
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
  const grace = args.integer("grace", 0, MAX_GRACE_PERIOD_SECONDS) ?? 0;
  let ids = args.positionals;
  const olderThan = args.string("older-than");
  if (olderThan !== undefined) {
    if (ids.length) throw new UsageError("rotate takes either key ids or --org with --older-than, not both");
    const orgId = args.required("org", "org_123");
    const cutoff = (deps.now ?? Date.now)() - duration(olderThan);
    const keys: KeyView[] = [];
    let cursor: string | undefined;
    do {
      const page = await listKeys(serviceDeps(deps), orgId, { limit: MAX_LIST_LIMIT, cursor });
      keys.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    // Keys already in a grace period are on their way out: rotating them again would mint duplicates.
    ids = keys.filter((k) => Date.parse(k.created_at) < cutoff && k.expires_at === null).map((k) => k.id);
    if (args.flag("dry-run")) {
      return { json: { would_rotate: ids }, text: ids.length ? ids.map((id) => `Would rotate ${id}\n`).join("") : "Nothing to rotate.\n" };
    }
    if (ids.length === 0) return { json: { data: [] }, text: `No key of ${orgId} was created before the cutoff.\n` };
  } else if (ids.length === 0) {
    throw new UsageError("rotate needs key ids (rotate key_… [key_…]) or --org ORG --older-than 90d");
  } else if (args.flag("dry-run") || args.string("org") !== undefined) {
    throw new UsageError("--org and --dry-run go with --older-than; to rotate given keys, list their ids only");
  }
  const rotated = await rotateIds(deps, ids, grace);
  const text = table(
    ["OLD ID", "NEW ID", "NAME", "OLD KEY STOPS", "NEW KEY"],
    rotated.map((r) => [r.old_id, r.id, r.name, r.old_key_expires_at ? when(r.old_key_expires_at) : "NOT RETIRED: revoke it", r.key]),
  );
  return { json: { data: rotated }, text, note: SHOWN_ONCE };
};

const seedDev: Command = async (args, deps) => {
  if (args.positionals.length) throw new UsageError("seed-dev takes no arguments");
  if (!deps.devKeyFile) throw new UsageError("seed-dev works on local KV only (drop --env)");
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

const pepperCheck: Command = async (args, deps) => {
  if (args.positionals.length) throw new UsageError("pepper-check takes no arguments");
  const { verdict, fingerprint } = await checkPepper(new KeyStore(deps.kv), deps.pepper);
  const json = { verdict, fingerprint };
  if (verdict === "mismatch") {
    throw new GatewayError("key_issuance_unavailable", { detail: `The pepper's fingerprint ${fingerprint.slice(0, 12)}… is not the one recorded in ${deps.target} KV.` });
  }
  const text =
    verdict === "match"
      ? `The pepper matches the fingerprint recorded in ${deps.target} KV (${fingerprint.slice(0, 12)}…).\n`
      : `No pepper fingerprint is recorded in ${deps.target} KV yet; the first key issued records this pepper's (${fingerprint.slice(0, 12)}…).\n`;
  return { json, text };
};

const pepperSet: Command = async (args, deps) => {
  if (args.positionals.length) throw new UsageError("pepper-set takes no arguments");
  if (!args.flag("yes")) {
    throw new UsageError(
      `pepper-set records the current pepper as the one ${deps.target}'s keys are hashed under; only after a pepper rotation. Add --yes to do it`,
    );
  }
  const store = new KeyStore(deps.kv);
  const { verdict, fingerprint } = await checkPepper(store, deps.pepper);
  if (verdict !== "match") await store.setPepperFingerprint(fingerprint, new Date((deps.now ?? Date.now)()).toISOString(), `operator:${deps.operator}`.slice(0, 64));
  return {
    json: { fingerprint, previous: verdict },
    text: verdict === "match" ? "The fingerprint already matches; nothing changed.\n" : `Recorded the pepper fingerprint ${fingerprint.slice(0, 12)}… in ${deps.target} KV.\n`,
  };
};

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  create: {
    usage: "create --org ORG --name NAME --scopes S1,S2 [--rate-limit TIER]",
    about: "Create a key; it is printed once. Bootstrap an organisation with --scopes '*'.\nTIER: any tier of RATE_LIMIT_TIERS (default standard).",
    options: ["org", "name", "scopes", "rate-limit"],
    run: create,
  },
  list: {
    usage: "list --org ORG [--limit N] [--cursor C] [--all]",
    about: "List an organisation's keys, newest first (never the keys themselves).",
    options: ["org", "limit", "cursor", "all"],
    run: list,
  },
  get: { usage: "get ID", about: "Show one key's record (never the key).", options: [], run: get },
  revoke: {
    usage: "revoke ID|KEY [ID|KEY…]",
    about: "Delete keys, by id or by the key itself (a leaked key; never printed back).",
    options: [],
    run: revoke,
  },
  "revoke-all": {
    usage: "revoke-all --org ORG",
    about: "The organisation kill switch: every key of ORG stops, everywhere within 5 s.",
    options: ["org"],
    run: revokeAll,
  },
  rotate: {
    usage: "rotate ID [ID…] [--grace SECONDS]",
    about:
      "Replace keys by new ones with the same name and scopes; the old ones work --grace seconds more.\n" +
      "Scheduled rotation: rotate --org ORG --older-than 90d [--grace SECONDS] [--dry-run]\n" +
      "rotates every key of ORG created before the cutoff (--dry-run only lists them).",
    options: ["grace", "org", "older-than", "dry-run"],
    run: rotate,
  },
  "pepper-check": {
    usage: "pepper-check",
    about: "Does this pepper match the fingerprint recorded in KV? Exit 1 if not (no key can be issued under it).",
    options: [],
    run: pepperCheck,
  },
  "pepper-set": {
    usage: "pepper-set --yes",
    about: "Record this pepper's fingerprint in KV: the last step of a pepper rotation (docs/operations.md).",
    options: ["yes"],
    run: pepperSet,
  },
  "seed-dev": { usage: "seed-dev", about: "Create (once) the local development key and print it.", options: [], run: seedDev },
};
