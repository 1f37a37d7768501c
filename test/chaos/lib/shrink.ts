/**
 * Shrinking a failing run: the shortest failing prefix of the program (bisection), then
 * delta debugging (drop chunks of halving size while the run still fails). `fails` re-runs a
 * sub-program; runs are not perfectly deterministic (real I/O interleaves), so every candidate is
 * re-run and only a candidate that failed is kept.
 */

export interface ShrinkResult<T> {
  readonly ops: T[];
  /** Re-runs spent. */
  readonly runs: number;
}

/** Shrink `program` (which fails) to a shorter sequence that still fails, within `budget` re-runs. */
export async function shrink<T>(program: readonly T[], fails: (candidate: T[]) => Promise<boolean>, budget = 40): Promise<ShrinkResult<T>> {
  let runs = 0;
  const attempt = async (candidate: T[]) => {
    runs++;
    return fails(candidate);
  };

  // 1. Bisect the shortest failing prefix (failures are assumed to persist once they happen).
  let lo = 0;
  let hi = program.length;
  while (lo + 1 < hi && runs < budget / 2) {
    const mid = (lo + hi) >> 1;
    if (await attempt(program.slice(0, mid))) hi = mid;
    else lo = mid;
  }
  let current = program.slice(0, hi);

  // 2. Delta debugging: remove chunks, halving their size, keeping any removal that still fails.
  let chunk = Math.max(1, current.length >> 1);
  while (chunk >= 1 && runs < budget && current.length > 1) {
    let removedAny = false;
    for (let start = 0; start < current.length && runs < budget; ) {
      const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (candidate.length > 0 && (await attempt(candidate))) {
        current = candidate;
        removedAny = true;
      } else start += chunk;
    }
    if (!removedAny) chunk >>= 1;
  }
  return { ops: current, runs };
}
