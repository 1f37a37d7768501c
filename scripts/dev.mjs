#!/usr/bin/env node
// `npm run dev`: the gateway on http://127.0.0.1:8787 with local KV and the example origins, plus a
// development API key and session token so that it can be tried with no Cloudflare or Clerk account.
// Everything here is local development machinery: none of it is part of the deployed worker.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";

/**
 * `--port N` / `--ip HOST` (as wrangler's own "address in use" message suggests) are taken out of
 * the arguments passed on to `wrangler dev`, so that the banner's curls use them too.
 */
function takeOption(argv, name) {
  let value;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}` && i + 1 < argv.length) value = argv[++i];
    else if (argv[i].startsWith(`--${name}=`)) value = argv[i].slice(name.length + 3);
    else rest.push(argv[i]);
  }
  return [value, rest];
}
const [portArg, afterPort] = takeOption(process.argv.slice(2), "port");
const [ipArg, wranglerArgs] = takeOption(afterPort, "ip");
const HOST = ipArg ?? "127.0.0.1";
const PORT = portArg ?? process.env.PORT ?? "8787";
const BASE = `http://${HOST}:${PORT}`;

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example (development secrets).");
}

/** Run one of the project's tsx scripts and parse its --json output; undefined if it fails. */
function runJson(script, args) {
  const result = spawnSync("tsx", [script, ...args, "--json"], { encoding: "utf8", env: { ...process.env, PORT }, shell: process.platform === "win32" });
  if (result.status !== 0) {
    process.stderr.write(result.stderr || result.stdout || `${script} failed\n`);
    return undefined;
  }
  try {
    return JSON.parse(result.stdout);
  } catch {
    process.stderr.write(`${script} did not print JSON\n`);
    return undefined;
  }
}

// The audit log's schema (migrations/) in local D1, as a deployment gets it with `--remote`.
const migrated = spawnSync("wrangler", ["d1", "migrations", "apply", "AUDIT_DB", "--local"], {
  encoding: "utf8",
  shell: process.platform === "win32",
  env: { ...process.env, CI: "1" }, // never prompt
});
if (migrated.status !== 0) {
  process.stderr.write(migrated.stderr || migrated.stdout || "wrangler d1 migrations apply failed\n");
  process.exit(1);
}

const devKey = existsSync("scripts/keys.ts") ? runJson("scripts/keys.ts", ["seed-dev"]) : undefined;
const devToken = existsSync("scripts/token.ts")
  ? runJson("scripts/token.ts", ["--org", "org_dev", "--role", "admin", "--ttl", "86400"])
  : undefined;
// A template token lives 10 minutes at most (CLERK_TEMPLATE_MAX_LIFETIME_SECONDS): mint more as needed.
const devTemplateToken = existsSync("scripts/token.ts")
  ? runJson("scripts/token.ts", ["--template", "agntix", "--org", "org_dev", "--role", "admin", "--ttl", "600"])
  : undefined;

function banner() {
  const lines = [
    "",
    "─".repeat(78),
    `Agntix gateway (development) on ${BASE}`,
    "",
    `  curl ${BASE}/healthz`,
    "",
    `Dashboard, Settings → API Keys (sign in as the development admin or member):`,
    `  ${BASE}/dashboard/api-keys`,
  ];
  if (devKey?.key) {
    lines.push(
      "",
      `Development API key (org ${devKey.org_id ?? "org_dev"}, all scopes):`,
      `  export AGNTIX_API_KEY=${devKey.key}`,
      `  curl ${BASE}/v1/chat/agents -H "x-api-key: $AGNTIX_API_KEY"`,
      `  curl ${BASE}/v1/chat/api-keys -H "x-api-key: $AGNTIX_API_KEY" \\`,
      `    -H "Content-Type: application/json" -d '{ "name": "CI/CD bot", "scopes": ["chat:write", "agents:read"] }'`,
    );
  }
  if (devToken?.token) {
    lines.push(
      "",
      "Development session token (org_dev admin, 24 h; mint more with `npm run -s token -- --org org_dev --role member`):",
      `  export AGNTIX_TOKEN=${devToken.token}`,
      `  curl ${BASE}/v1/chat/agents -H "Authorization: Bearer $AGNTIX_TOKEN"`,
    );
  }
  if (devTemplateToken?.token) {
    lines.push(
      "",
      'Development JWT-template token, as getToken({ template: "agntix" }) returns it (org_dev admin, 10 min;',
      "mint another with `npm run -s token -- --template agntix --ttl 600`):",
      `  export AGNTIX_TEMPLATE_TOKEN=${devTemplateToken.token}`,
      `  curl ${BASE}/v1/chat/agents -H "Authorization: Bearer $AGNTIX_TEMPLATE_TOKEN"`,
    );
  }
  lines.push(
    "",
    // Quoted: zsh would glob the `?` of an unquoted URL ("no matches found").
    `Streaming: curl -N "${BASE}/v1/chat/events?count=5" -H "x-api-key: $AGNTIX_API_KEY"`,
    "─".repeat(78),
    "",
  );
  console.log(lines.join("\n"));
}

const wrangler = spawn(
  "wrangler",
  [
    "dev",
    "-c", "wrangler.toml",
    "-c", "examples/origins/chat.toml",
    "-c", "examples/origins/voice.toml",
    "--ip", HOST,
    "--port", PORT,
    ...wranglerArgs,
  ],
  { stdio: ["inherit", "pipe", "inherit"] },
);

let shown = false;
wrangler.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  if (!shown && /Ready on/.test(String(chunk))) {
    shown = true;
    banner();
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => wrangler.kill(signal));
wrangler.on("exit", (code) => process.exit(code ?? 0));
