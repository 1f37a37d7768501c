#!/usr/bin/env tsx
/**
 * `npm run check-config [-- --config path] [--env name…]`: every environment of wrangler.toml
 * parsed by the gateway's own config parser (`parseConfig`, src/env.ts), as a deployment would
 * parse it, so that a bad var fails CI instead of answering 503 after the deploy. Also refused:
 * an ENVIRONMENT var that is not the environment's own name, a staging/production environment
 * without the required secrets declared, and placeholder resource ids in staging/production.
 * Secrets cannot be read here: each required one is given a stand-in value (wrangler refuses to
 * deploy without the real one, wrangler.toml [secrets]).
 */
import { unstable_readConfig } from "wrangler";
import { type Bindings, ConfigError, parseConfig } from "../src/env";
import { main, parseCommandLine, UsageError } from "./lib/cli";

/** What a staging or production environment must declare in `secrets.required`. */
export const REQUIRED_SECRETS = ["API_KEY_PEPPER"];

const ENVIRONMENTS = ["development", "staging", "production"] as const;

/** An id committed as a stand-in: all zeros (plus a digit), or saying so. */
export function isPlaceholderId(id: string): boolean {
  return /^0+[0-9a-f]?$/i.test(id.replaceAll("-", "")) || /placeholder|changeme|todo|xxx/i.test(id);
}

type WranglerConfig = ReturnType<typeof unstable_readConfig>;

/** The bindings a deployment of this environment would get, with stand-ins for resources and secrets. */
export function bindingsOf(config: WranglerConfig): Record<string, unknown> {
  const bindings: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config.vars ?? {})) bindings[name] = typeof value === "string" ? value : JSON.stringify(value);
  const named = (list: readonly { binding?: string; name?: string }[] | undefined) => {
    for (const b of list ?? []) bindings[b.binding ?? b.name ?? ""] = { standIn: true };
  };
  named(config.kv_namespaces);
  named(config.d1_databases);
  named(config.services);
  named(config.r2_buckets);
  named(config.durable_objects?.bindings);
  // The gateway checks that each rate limit it names is a binding with `limit` (src/env.ts).
  for (const r of config.ratelimits ?? []) bindings[r.name] = { standIn: true, limit: async () => ({ success: true }) };
  named(config.analytics_engine_datasets);
  if (config.assets?.binding) bindings[config.assets.binding] = { standIn: true };
  if (config.version_metadata?.binding) bindings[config.version_metadata.binding] = { id: "", tag: "", timestamp: "" };
  for (const secret of config.secrets?.required ?? []) bindings[secret] = "stand-in-secret-".padEnd(64, "0");
  return bindings;
}

/** Every problem with one environment's configuration (empty when it would deploy and parse). */
export function problemsOf(environment: string, config: WranglerConfig): string[] {
  const problems: string[] = [];
  const bindings = bindingsOf(config);
  try {
    parseConfig(bindings as unknown as Bindings);
  } catch (error) {
    problems.push(error instanceof ConfigError ? error.message : `the configuration does not parse (${String(error)})`);
  }
  if (bindings["ENVIRONMENT"] !== environment) problems.push(`ENVIRONMENT is ${JSON.stringify(bindings["ENVIRONMENT"])}, not ${JSON.stringify(environment)}`);
  if (environment !== "development") {
    const declared = config.secrets?.required ?? [];
    for (const secret of REQUIRED_SECRETS) {
      if (!declared.includes(secret)) problems.push(`[secrets] required does not list ${secret}, so wrangler would deploy without it`);
    }
    for (const kv of config.kv_namespaces ?? []) {
      if (kv.id !== undefined && isPlaceholderId(kv.id)) problems.push(`KV ${kv.binding} has the placeholder id ${kv.id}: remove it (provisioned on first deploy) or use the real one`);
    }
    for (const d1 of config.d1_databases ?? []) {
      if (d1.database_id !== undefined && isPlaceholderId(d1.database_id)) {
        problems.push(`D1 ${d1.binding} has the placeholder database_id ${d1.database_id}: remove it (provisioned on first deploy) or use the real one`);
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main("check-config", async () => {
    const { values } = parseCommandLine(process.argv.slice(2), { config: { type: "string" }, env: { type: "string", multiple: true } }, { positionals: false });
    if (values["help"]) {
      process.stdout.write("Usage: npm run -s check-config -- [--config wrangler.toml] [--env staging …]\n\nParse every environment's configuration with the gateway's own parser.\n");
      return 0;
    }
    const path = typeof values["config"] === "string" ? values["config"] : "wrangler.toml";
    const envs = Array.isArray(values["env"]) ? values["env"] : [...ENVIRONMENTS];
    let failed = 0;
    for (const environment of envs) {
      if (!(ENVIRONMENTS as readonly string[]).includes(environment)) throw new UsageError(`--env must be one of ${ENVIRONMENTS.join(", ")}`);
      const config = unstable_readConfig({ config: path, ...(environment === "development" ? {} : { env: environment }) }, { hideWarnings: true });
      const problems = problemsOf(environment, config);
      for (const problem of problems) process.stderr.write(`check-config: ${path} [${environment}]: ${problem}\n`);
      if (problems.length) failed++;
      else process.stdout.write(`config ok: ${environment}\n`);
    }
    return failed ? 1 : 0;
  });
}
