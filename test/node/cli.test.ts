// The two CLIs as operators run them: real processes through tsx, as `npm run keys`/`npm run token`
// do. Help exits 0; a wrong command line exits 2 with a message that says what to type instead,
// and never a stack trace. (What the key commands do to KV is tested in workerd:
// test/integration/api-keys-cli.test.ts.)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { KEYS_OPTIONS } from "../../src/keys/cli";
import { parseCommandLine, UsageError } from "../../scripts/lib/cli";

const root = fileURLToPath(new URL("../../", import.meta.url));

function run(script: "keys" | "token", ...args: string[]) {
  const result = spawnSync(`${root}node_modules/.bin/tsx`, [`scripts/${script}.ts`, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", DEBUG: "" },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const STACK_FRAME = /^\s+at .+[:(]/m;

describe.each(["keys", "token"] as const)("npm run %s", (script) => {
  it.each([["-h"], ["--help"]])("%s prints the usage on stdout and exits 0", (flag) => {
    const result = run(script, flag);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: npm run -s ${script} --`));
    expect(result.stderr).toBe("");
  });

  it("an unknown option exits 2 with the option named, the help hint, and no stack trace", () => {
    const result = run(script, "--bogus");
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`${script}: unknown option --bogus\nRun \`npm run -s ${script} -- --help\` for usage.\n`);
  });
});

describe("npm run keys: mistakes answered without a stack trace", () => {
  it.each([
    [[], /^keys: a command is needed, e\.g\. `list --org org_123`\n/],
    [["lst", "--org", "o"], /^keys: unknown command "lst" \(did you mean list\?\); commands: create, list, get, revoke, revoke-all, rotate, /],
    [["list", "--orgg", "o"], /^keys: unknown option --orgg \(did you mean --org\?\)\n/],
    [["list", "--org"], /^keys: --org needs a value: --org <value>\n/],
    [["list", "--org", "--all"], /^keys: --org needs a value/],
    [["list", "--all=yes", "--org", "o"], /^keys: --all is a switch and takes no value: write --all alone\n/],
    [["create", "--org", "o", "--name", "n", "--grace", "5"], /^keys: create does not take --grace \(it takes --org, --name, --scopes, --rate-limit\)\nRun `npm run -s keys -- create --help`/],
    [["get", "--env", "prod"], /^keys: --env must be staging or production \(got "prod"\); leave it out for local KV\n/],
  ])("%j → exit 2", (argv, message) => {
    const result = run("keys", ...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });

  it("a command's --help shows that command only", () => {
    const result = run("keys", "rotate", "--help");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run -s keys -- rotate ID \[ID…\] \[--grace SECONDS\]/);
    expect(result.stdout).toMatch(/--older-than 90d/);
  });
});

describe("npm run token", () => {
  it.each([
    [["--ttl", "soon"], /^token: --ttl must be a number of seconds from 1 to 604800 \(got "soon"\)\n/],
    [["--org", "acme"], /^token: --org must look like org_abc123/],
    [["--v1=true"], /^token: --v1 is a switch and takes no value/],
    [["member"], /^token: unexpected argument "member": this command takes only --options\n/],
  ])("%j → exit 2, no stack trace", (argv, message) => {
    const result = run("token", ...argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });

  it("prints only the token, so that $(…) captures exactly it", () => {
    const result = run("token", "--org", "org_abc", "--role", "member");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
});

describe("parseCommandLine (the shared parser)", () => {
  it("returns positionals and values, and knows -h", () => {
    expect(parseCommandLine(["get", "key_1", "--json"], KEYS_OPTIONS)).toEqual({ positionals: ["get", "key_1"], values: { json: true } });
    expect(parseCommandLine(["-h"], KEYS_OPTIONS).values).toEqual({ help: true });
    expect(parseCommandLine(["list", "--org=org_1"], KEYS_OPTIONS).values).toEqual({ org: "org_1" });
  });

  it("throws UsageError, never Node's own error", () => {
    expect(() => parseCommandLine(["--nope"], KEYS_OPTIONS)).toThrow(UsageError);
    expect(() => parseCommandLine(["x"], {}, { positionals: false })).toThrow(/unexpected argument "x"/);
  });
});
