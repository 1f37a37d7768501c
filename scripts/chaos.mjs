#!/usr/bin/env node
// npm run chaos -- --seed N --ops 5000 [--rate 0.05] [--clients 4] [--shrink [--budget 20]]
//                  [--only 3,17,42] [--plant lose-revocation|drop-index|cross-org-list|wrong-identity|no-rollback]
//                  [--retention-ms 4000] [--out report.json]
//
// Runs test/chaos/long-run.chaos.ts inside workerd (the vitest plugin, the same runtime and
// bindings as `npm test`), with every binding of the gateway behind the fault injector.
// See docs/reliability.md.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

const PLANTS = ["lose-revocation", "drop-index", "cross-org-list", "wrong-identity", "no-rollback"];
const argv = process.argv.slice(2);
const args = { seed: 1, ops: 5000, rate: 0.05, clients: 4, shrink: false, budget: 20 };
let out;

function fail(message) {
  console.error(`chaos: ${message}`);
  process.exit(2);
}
const number = (flag, value, min, max) => {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n < min || n > max) fail(`${flag} needs a number from ${min} to ${max}`);
  return n;
};

for (let i = 0; i < argv.length; i++) {
  const flag = argv[i];
  const value = argv[i + 1];
  switch (flag) {
    case "--seed": args.seed = number(flag, value, 0, 2 ** 32 - 1); i++; break;
    case "--ops": args.ops = number(flag, value, 1, 1_000_000); i++; break;
    case "--rate": args.rate = number(flag, value, 0, 1); i++; break;
    case "--clients": args.clients = number(flag, value, 1, 32); i++; break;
    case "--retention-ms": args.retentionMs = number(flag, value, 100, 3_600_000); i++; break;
    case "--budget": args.budget = number(flag, value, 1, 1000); i++; break;
    case "--shrink": args.shrink = true; break;
    case "--only":
      if (!value || !/^\d+(,\d+)*$/.test(value)) fail("--only needs operation indices, e.g. 3,17,42");
      args.only = value.split(",").map(Number);
      i++;
      break;
    case "--plant":
      if (!PLANTS.includes(value)) fail(`--plant is one of ${PLANTS.join(", ")}`);
      args.plant = value;
      i++;
      break;
    case "--out": out = value ?? fail("--out needs a file"); i++; break;
    case "-h":
    case "--help":
      console.log("npm run chaos -- --seed N --ops N [--rate 0.05] [--clients 4] [--shrink] [--only i,j,…] [--plant name] [--retention-ms ms] [--out file.json]");
      process.exit(0);
    default:
      fail(`unknown argument ${flag} (see --help)`);
  }
}

const child = spawn("vitest", ["run", "--reporter", "default"], {
  env: { ...process.env, CHAOS_ARGS: JSON.stringify(args) },
  stdio: ["ignore", "pipe", "inherit"],
});
let buffer = "";
child.stdout.on("data", (chunk) => {
  const text = chunk.toString();
  buffer += text;
  // The JSON report line is for --out; everything else is shown as it comes.
  process.stdout.write(text.split("\n").filter((line) => !line.includes("CHAOS_REPORT ")).join("\n"));
});
child.on("close", (code) => {
  const line = buffer.split("\n").find((l) => l.includes("CHAOS_REPORT "));
  if (out && line) {
    writeFileSync(out, JSON.stringify(JSON.parse(line.slice(line.indexOf("CHAOS_REPORT ") + 13)), null, 2) + "\n");
    console.log(`chaos: report written to ${out}`);
  }
  process.exit(code ?? 1);
});
