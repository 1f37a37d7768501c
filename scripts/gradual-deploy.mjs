#!/usr/bin/env node
// Gradual deploy with smoke checks and automatic rollback, as CI runs it (docs/operations.md):
//
//   1. note the version serving 100 % now (the rollback target; a split in progress stops here);
//   2. `wrangler versions upload` the new version (tagged with the commit);
//   3. `wrangler versions deploy new@P% old@(100-P)%`, for each percentage P of --steps below 100,
//      then the smoke check pinned to the new version (Cloudflare-Workers-Version-Overrides);
//   4. `wrangler versions deploy new@100%`, then the smoke check expecting the new version id;
//   5. any failure after step 2: `wrangler versions deploy old@100%` (rollback) and exit 1.
//
//   node scripts/gradual-deploy.mjs --env production --url https://api.agntix.ai [--steps 10,100]
//        [--tag <git sha>] [--message "…"]       (SMOKE_API_KEY in the environment, for the smoke check)
//
// GRADUAL_DEPLOY_WRANGLER / GRADUAL_DEPLOY_SMOKE replace the wrangler and smoke commands (tests).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const USAGE = `Usage: node scripts/gradual-deploy.mjs --env staging|production --url https://… [--steps 10,100] [--tag SHA] [--message TEXT]
`;

const log = (line) => process.stdout.write(`gradual-deploy: ${line}\n`);

/** The command line of a replaceable tool: its override (a shell-style word list) or the default. */
function tool(variable, fallback) {
  const override = process.env[variable];
  return override ? override.split(" ").filter(Boolean) : fallback;
}

/** Run wrangler; returns its stdout, or throws with its stderr. `output` collects wrangler's ND-JSON output file. */
function wrangler(args, { output = false } = {}) {
  const [command, ...prefix] = tool("GRADUAL_DEPLOY_WRANGLER", ["npx", "wrangler"]);
  const dir = output ? mkdtempSync(join(tmpdir(), "gradual-deploy-")) : undefined;
  const file = dir ? join(dir, "output.ndjson") : undefined;
  const run = spawnSync(command, [...prefix, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...(file ? { WRANGLER_OUTPUT_FILE_PATH: file } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    if (run.status !== 0) throw new Error(`wrangler ${args.slice(0, 2).join(" ")} failed (exit ${run.status}):\n${run.stderr || run.stdout}`);
    const entries = file
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line))
      : [];
    return { stdout: run.stdout, entries };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Run the smoke check; true when it passed. Its own output goes straight to the log. */
function smoke(args) {
  const [command, ...prefix] = tool("GRADUAL_DEPLOY_SMOKE", [process.execPath, "scripts/smoke.mjs"]);
  return spawnSync(command, [...prefix, ...args], { stdio: "inherit", env: process.env }).status === 0;
}

/** Pure: the percentages of a `--steps` list, ending at 100, each higher than the last. */
export function parseSteps(text) {
  const steps = text.split(",").map((s) => Number(s.trim()));
  const valid = steps.length > 0 && steps.every((p, i) => Number.isInteger(p) && p > 0 && p <= 100 && (i === 0 || p > steps[i - 1]));
  if (!valid || steps.at(-1) !== 100) throw new Error("--steps must be rising percentages ending at 100, e.g. 10,50,100");
  return steps;
}

/** Pure: the single version serving all traffic in a `deployments status --json` answer, or why there is none. */
export function currentVersion(deployment) {
  const versions = deployment?.versions ?? [];
  if (versions.length !== 1 || versions[0].percentage !== 100) {
    return { error: `the current deployment splits traffic (${JSON.stringify(versions)}): finish or roll back that rollout first` };
  }
  return { id: versions[0].version_id };
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        env: { type: "string" },
        url: { type: "string" },
        steps: { type: "string", default: "10,100" },
        tag: { type: "string" },
        message: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`gradual-deploy: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!["staging", "production"].includes(values.env ?? "") || !values.url) {
    process.stderr.write(`gradual-deploy: --env staging|production and --url are required\n${USAGE}`);
    return 2;
  }
  let steps;
  try {
    steps = parseSteps(values.steps);
  } catch (error) {
    process.stderr.write(`gradual-deploy: ${error.message}\n`);
    return 2;
  }
  const env = ["--env", values.env];

  const status = JSON.parse(wrangler(["deployments", "status", "--json", ...env]).stdout);
  const current = currentVersion(status);
  if (current.error) {
    process.stderr.write(`gradual-deploy: ${current.error}\n`);
    return 1;
  }
  const worker = status.worker_name ?? (values.env === "production" ? "agntix-gateway-production" : "agntix-gateway-staging");
  log(`serving now: ${current.id} (rollback target)`);

  const upload = wrangler(["versions", "upload", ...env, ...(values.tag ? ["--tag", values.tag] : []), ...(values.message ? ["--message", values.message] : [])], {
    output: true,
  });
  const uploaded = upload.entries.find((e) => e.type === "version-upload");
  if (!uploaded?.version_id) {
    process.stderr.write("gradual-deploy: wrangler versions upload reported no version id\n");
    return 1;
  }
  const next = uploaded.version_id;
  const workerName = uploaded.worker_name ?? worker;
  log(`uploaded: ${next}`);

  const deploy = (specs, why) => wrangler(["versions", "deploy", ...specs, "--yes", "--message", why, ...env]);
  const rollback = (reason) => {
    process.stderr.write(`gradual-deploy: ${reason}: rolling back to ${current.id}\n`);
    try {
      deploy([`${current.id}@100%`], `rollback: ${reason}`.slice(0, 100));
      process.stderr.write(`gradual-deploy: rolled back; ${current.id} serves 100 %\n`);
    } catch (error) {
      process.stderr.write(`gradual-deploy: ROLLBACK FAILED, act by hand (docs/operations.md, rollback): ${error.message}\n`);
    }
    return 1;
  };

  for (const percentage of steps) {
    try {
      if (percentage < 100) deploy([`${next}@${percentage}%`, `${current.id}@${100 - percentage}%`], `gradual ${percentage}%`);
      else deploy([`${next}@100%`], "gradual 100%");
    } catch (error) {
      return rollback(`deploying ${percentage} % failed (${error.message.split("\n")[0]})`);
    }
    log(`${next} serves ${percentage} %`);
    const smokeArgs = ["--url", values.url, ...(percentage < 100 ? ["--pin", `${workerName}=${next}`] : ["--expect-version", next])];
    if (!smoke(smokeArgs)) return rollback(`smoke check failed at ${percentage} %`);
  }
  log(`done: ${next} serves 100 %`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = main();
  } catch (error) {
    process.stderr.write(`gradual-deploy: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
