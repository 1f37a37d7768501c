#!/usr/bin/env node
// The deploy smoke check (plain Node, no build step): /healthz, /readyz and one authenticated call
// with the dedicated smoke key. Exit 0 when all pass; 1 with the failing check named otherwise.
//
//   SMOKE_API_KEY=pk_… node scripts/smoke.mjs --url https://api.agntix.ai
//        [--pin agntix-gateway-production=<version id>]   every request pinned to that version
//        [--expect-version <version id>]                   /healthz must report it (after 100 %)
//        [--path /v1/chat/api-keys?limit=1]                the authenticated call (needs api-keys:read)
//        [--attempts 10] [--interval-ms 3000]              retries while a deployment propagates
//
// The key is read from the environment only and never printed.
import { parseArgs } from "node:util";

const USAGE = `Usage: SMOKE_API_KEY=pk_… node scripts/smoke.mjs --url URL [--pin WORKER=VERSION] [--expect-version VERSION]
       [--path /v1/chat/api-keys?limit=1] [--attempts 10] [--interval-ms 3000]
`;

/** One check's verdict: null when it passed, else what was wrong (never a secret). */
async function check(name, url, init, judge) {
  let res;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    return `${name}: no answer (${error instanceof Error ? error.name : "error"})`;
  }
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const problem = judge(res, body);
  return problem ? `${name}: ${problem}` : null;
}

/** All checks once; the list of problems (empty when the deployment is good). */
export async function smokeOnce({ url, key, path, pin, expectVersion }) {
  const headers = pin ? { "cloudflare-workers-version-overrides": `${pin.worker}="${pin.version}"` } : {};
  const versionProblem = (body) =>
    expectVersion && body?.version?.id !== expectVersion ? `serves version ${body?.version?.id ?? "unknown"}, not ${expectVersion}` : null;
  const results = await Promise.all([
    check("/healthz", `${url}/healthz`, { headers }, (res, body) => {
      if (res.status !== 200) return `HTTP ${res.status}`;
      if (body?.status !== "ok") return `status ${JSON.stringify(body?.status)} (dependencies: ${JSON.stringify(body?.dependencies ?? null)})`;
      return versionProblem(body);
    }),
    check("/readyz", `${url}/readyz`, { headers }, (res, body) => {
      if (res.status !== 200 || body?.status !== "ready") return `HTTP ${res.status}, checks ${JSON.stringify(body?.checks ?? null)}`;
      return versionProblem(body);
    }),
    check(`GET ${path} with the smoke key`, `${url}${path}`, { headers: { ...headers, "x-api-key": key } }, (res, body) =>
      res.status === 200 ? null : `HTTP ${res.status}${body?.code ? ` ${body.code}` : ""}`,
    ),
  ]);
  return results.filter(Boolean);
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: "string" },
        pin: { type: "string" },
        "expect-version": { type: "string" },
        path: { type: "string", default: "/v1/chat/api-keys?limit=1" },
        attempts: { type: "string", default: "10" },
        "interval-ms": { type: "string", default: "3000" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`smoke: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const key = process.env.SMOKE_API_KEY;
  const attempts = Number(values.attempts);
  const interval = Number(values["interval-ms"]);
  const pinMatch = values.pin ? /^([^=]+)=(.+)$/.exec(values.pin) : null;
  const problems = [];
  if (!values.url || !/^https?:\/\/[^/]+$/.test(values.url)) problems.push("--url must be an origin like https://api.agntix.ai");
  if (!key) problems.push("SMOKE_API_KEY must be set to the smoke key (docs/operations.md)");
  if (values.pin && !pinMatch) problems.push("--pin must be WORKER=VERSION_ID");
  if (!(attempts >= 1) || !(interval >= 0)) problems.push("--attempts must be ≥ 1 and --interval-ms ≥ 0");
  if (problems.length) {
    process.stderr.write(`smoke: ${problems.join("; ")}\n${USAGE}`);
    return 2;
  }
  const options = {
    url: values.url,
    key,
    path: values.path,
    pin: pinMatch ? { worker: pinMatch[1], version: pinMatch[2] } : undefined,
    expectVersion: values["expect-version"],
  };
  let failures = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    failures = await smokeOnce(options);
    if (failures.length === 0) {
      process.stdout.write(`smoke: ok (${values.url}${options.pin ? `, pinned to ${options.pin.version}` : ""}; /healthz, /readyz, ${values.path})\n`);
      return 0;
    }
    if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, interval));
  }
  for (const failure of failures) process.stderr.write(`smoke: FAILED ${failure}\n`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
