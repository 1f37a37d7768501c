/**
 * The workload as a program: a list of operations drawn from the seed, each assigned to one of
 * several concurrent clients. Targets are not key ids (unknown until run time) but random draws
 * (`pick`) resolved against the keys a client knows when it runs the operation, so that any
 * sub-sequence of a program is still a program (which shrinking needs).
 */
import type { OpKind } from "./history";
import { Random } from "./prng";

export const STREAM_PROGRAM = 1;
export const STREAM_FAULTS = 2;
export const STREAM_JWKS = 3;

/** One operation of the program. */
export interface ProgramOp {
  readonly index: number;
  readonly client: number;
  readonly kind: OpKind;
  /** Uniform draws for choosing targets at run time. */
  readonly pick: number;
  readonly pick2: number;
  /** Prefer a key believed live (else any key ever known, to exercise refusals). */
  readonly live: boolean;
  /** Management calls: act with the organisation's session token instead of its admin key. */
  readonly viaToken: boolean;
  /** Rotation grace in seconds (0: none). */
  readonly grace: number;
  /** Keys in a bulk rotation. */
  readonly count: number;
  /** Nemesis: what to do to the IdP (`jwks`) . */
  readonly jwksMode: "up" | "down" | "garbage" | "hang" | "rotate";
}

/** Relative weight of each kind of operation. */
export const OP_WEIGHTS: Readonly<Record<OpKind, number>> = {
  use: 26,
  stream: 5,
  token_use: 7,
  create: 13,
  list: 7,
  get: 5,
  rotate: 11,
  bulk_rotate: 3,
  delete: 10,
  edit: 6,
  cross_org: 3,
  jwks: 1.5,
  restart: 1,
  leak_revoke: 2,
  kill_switch: 0.25,
  template_use: 4,
  websocket: 3,
};

/** The program of `ops` operations for `seed`, spread over `clients` clients. */
export function generateProgram(seed: number, ops: number, clients: number): ProgramOp[] {
  const random = new Random(seed, STREAM_PROGRAM);
  const program: ProgramOp[] = [];
  for (let index = 0; index < ops; index++) {
    const kind = random.weighted(OP_WEIGHTS);
    program.push({
      index,
      client: random.int(clients),
      kind,
      pick: random.next(),
      pick2: random.next(),
      live: random.chance(0.8),
      viaToken: random.chance(0.35),
      grace: kind === "rotate" || kind === "bulk_rotate" ? (random.chance(0.5) ? 0 : random.between(1, 2)) : 0,
      count: random.between(2, 3),
      jwksMode: random.weighted({ up: 4, down: 2, garbage: 1, hang: 1, rotate: 1 }),
    });
  }
  return program;
}
