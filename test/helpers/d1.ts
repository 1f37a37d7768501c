// A D1 binding that counts its calls (each one is I/O, or prepares a statement that does I/O) and
// fails every one of them when told to.
import { env } from "cloudflare:workers";

export interface D1Counts {
  prepare: number;
  batch: number;
  exec: number;
}

/** Wrap a D1 binding: counted calls; `fail(true)` makes each of them throw as an outage would. */
export function countingD1(inner: D1Database = env.AUDIT_DB): { db: D1Database; counts: D1Counts; fail: (on: boolean) => void } {
  const counts: D1Counts = { prepare: 0, batch: 0, exec: 0 };
  let failing = false;
  const down = () => new Error("D1 is down (test)");
  const db = {
    prepare(sql: string) {
      counts.prepare++;
      if (failing) throw down();
      return inner.prepare(sql);
    },
    batch(statements: D1PreparedStatement[]) {
      counts.batch++;
      return failing ? Promise.reject(down()) : inner.batch(statements);
    },
    exec(sql: string) {
      counts.exec++;
      return failing ? Promise.reject(down()) : inner.exec(sql);
    },
  } as unknown as D1Database;
  return { db, counts, fail: (on) => void (failing = on) };
}

/** Total D1 calls counted. */
export const d1Calls = (counts: D1Counts) => counts.prepare + counts.batch + counts.exec;
