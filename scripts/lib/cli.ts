/**
 * The one argument parser of the project's CLIs (`npm run keys`, `npm run token`): `node:util`'s
 * `parseArgs` in strict mode, with errors rewritten to say what to type instead, `-h/--help` on
 * every command, and a `main` wrapper that never lets a stack trace reach the terminal.
 *
 * Exit codes: 0 done (and help), 1 the command failed, 2 the command line is wrong.
 */
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { closest, UsageError } from "../../src/cli/text";

export { closest, table, UsageError } from "../../src/cli/text";

/** One option: `--name value` (`string`) or `--name` (`boolean`). */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** Repeatable (`--scopes a --scopes b`); values arrive as an array. */
  readonly multiple?: boolean;
  readonly default?: string | boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** What the command line said: positionals in order, option values by name (absent when not given). */
export interface CommandLine {
  readonly positionals: string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

/** `-h` and `--help`, accepted by every CLI. */
export const HELP_OPTION: OptionSpecs = { help: { type: "boolean", short: "h" } };

/**
 * Parse argv against `options` (plus `-h/--help`). Throws `UsageError` naming the bad argument and,
 * for a misspelt option, the closest known one.
 */
export function parseCommandLine(argv: readonly string[], options: OptionSpecs, { positionals = true } = {}): CommandLine {
  const all = { ...options, ...HELP_OPTION };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: all as ParseArgsOptionsConfig, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError(explainParseError(error, all));
  }
  // `--org --name x` would take "--name" as the org: an option's value never starts with "--".
  for (const [name, value] of Object.entries(parsed.values)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === "string" && v.startsWith("--")) throw new UsageError(`--${name} needs a value (got the option ${v})`);
    }
  }
  return { positionals: parsed.positionals, values: parsed.values as CommandLine["values"] };
}

function explainParseError(error: unknown, options: OptionSpecs): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const arg = /'([^']+)'/.exec(message)?.[1] ?? "";
  const flag = arg.split(" ")[0] ?? arg;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const guess = closest(flag.replace(/^-+/, ""), Object.keys(options));
      return `unknown option ${flag}${guess ? ` (did you mean --${guess}?)` : ""}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return options[flag.replace(/^-+/, "")]?.type === "boolean" || /does not take/.test(message)
        ? `${flag} is a switch and takes no value: write ${flag} alone`
        : `${flag} needs a value: ${flag} <value>`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${JSON.stringify(arg)}: this command takes only --options`;
    default:
      return message;
  }
}

/**
 * Run a CLI's body: a `UsageError` prints `name: message` and the help hint (exit 2); any other
 * error prints `name: message` (exit 1). Never a stack trace (set `DEBUG=1` to see one).
 */
export async function main(name: string, body: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await body()) ?? 0;
  } catch (error) {
    if (process.env["DEBUG"]) console.error(error);
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError) {
      process.stderr.write(`${name}: ${message}\nRun \`npm run -s ${name} -- --help\` for usage.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${name}: ${message}\n`);
      process.exitCode = 1;
    }
  }
}
