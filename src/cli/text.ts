/**
 * Pure pieces shared by the project's CLIs (the Node side is scripts/lib/cli.ts): the usage error,
 * "did you mean", and tables for people. No Node APIs, so the key CLI's core runs in workerd tests.
 */

/** A mistake in the command line: printed with a pointer to `--help`, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The known name nearest to `name` (a prefix of it, or at most two edits away), if any. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = name.length >= 2 && candidate.startsWith(name) ? 1 : editDistance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * Rows as an aligned text table under a header line (for people; `--json` is for scripts).
 * Cells are kept on one line: line breaks and tabs become spaces.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string) => cell.replace(/[\r\n\t]+/g, " ");
  const all = [headers, ...rows].map((row) => row.map(clean));
  const widths = headers.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? "")].length)));
  const line = (row: string[]) => row.map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length)).join("  ").trimEnd();
  return `${all.map(line).join("\n")}\n`;
}
