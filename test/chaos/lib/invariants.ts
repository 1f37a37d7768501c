/**
 * The six invariants of issue 16, each a pure function of a recorded history. Each returns how
 * many judgements it made (an invariant that judged nothing proved nothing) and its violations.
 */
import { expandScopes } from "../../../src/scopes";
import { type History, isAccepted, isOk, isRefused, MANAGEMENT, type OpRecord, type Shown } from "./history";

export type InvariantId = 1 | 2 | 3 | 4 | 5 | 6;

export interface Violation {
  readonly invariant: InvariantId;
  /** Program indices of the operations involved (for shrinking and the report). */
  readonly ops: readonly number[];
  readonly message: string;
}

export interface CheckResult {
  readonly invariant: InvariantId;
  readonly name: string;
  readonly checks: number;
  readonly violations: Violation[];
}

export interface CheckOptions {
  /**
   * How long after a revoking answer (or a grace period's end) a key may still be accepted, in ms.
   * The chaos run is one isolate at one location, where docs/api-keys.md promises "at once"
   * (the serving isolate forgets the key before it answers): 0.
   */
  readonly revocationBoundMs: number;
  /** Every documented error code (src/errors.ts). */
  readonly knownCodes: ReadonlySet<string>;
}

export const INVARIANT_NAMES: Record<InvariantId, string> = {
  1: "revoked keys stay revoked, narrowed keys stay narrowed",
  2: "no hidden keys, no ghost keys",
  3: "every change audited, every audit record true",
  4: "no cross-organisation data, identity headers match the credential",
  5: "refused operations leave nothing half done",
  6: "no 500, no stack trace, no secret in responses or logs",
};

const result = (invariant: InvariantId, checks: number, violations: Violation[]): CheckResult => ({
  invariant,
  name: INVARIANT_NAMES[invariant],
  checks,
  violations,
});

/** A use the gateway let through to the origin with this key as the principal. */
const USES: ReadonlySet<OpRecord["kind"]> = new Set(["use", "stream", "websocket"]);
const acceptedUse = (op: OpRecord) => USES.has(op.kind) && op.keyId !== undefined && isAccepted(op) && op.status !== 204;

interface End {
  /** Wall time from which the key must be refused (plus the bound). */
  readonly ms: number;
  /** Logical time after which the key must be refused (revocations that take effect on answer). */
  readonly after: number;
  readonly by: number;
  readonly what: string;
}

/**
 * When each key was promised to stop: the earliest delete, rotation without grace, grace end,
 * organisation kill switch (every key of the organisation whose minting answer came before the
 * switch was invoked) answered 2xx, or leaked-key report that took effect.
 */
export function revocationEnds(ops: readonly OpRecord[]): Map<string, End> {
  const ends = new Map<string, End>();
  const add = (id: string, end: End) => {
    const known = ends.get(id);
    if (!known || end.ms < known.ms) ends.set(id, end);
  };
  const mintedAt: { id: string; org: string; complete: number }[] = [];
  for (const op of ops) if (isOk(op)) for (const m of op.minted ?? []) mintedAt.push({ id: m.id, org: m.org, complete: op.complete });
  for (const op of ops) {
    if (op.kind === "leak_revoke" && op.leakTookEffect && op.keyId) add(op.keyId, { ms: op.endMs, after: op.complete, by: op.index, what: "revoked as leaked" });
    if (op.kind === "kill_switch" && isOk(op)) {
      for (const m of mintedAt) if (m.org === op.org && m.complete < op.invoke) add(m.id, { ms: op.endMs, after: op.complete, by: op.index, what: "revoked by the organisation kill switch" });
    }
    if (!isOk(op)) continue;
    if (op.kind === "delete" && op.keyId) add(op.keyId, { ms: op.endMs, after: op.complete, by: op.index, what: "deleted" });
    for (const r of op.retired ?? []) {
      if (r.oldExpiresAt === null) continue;
      if (r.grace === 0) add(r.oldId, { ms: op.endMs, after: op.complete, by: op.index, what: "rotated without grace" });
      else add(r.oldId, { ms: Date.parse(r.oldExpiresAt), after: Number.NEGATIVE_INFINITY, by: op.index, what: `grace ended ${r.oldExpiresAt}` });
    }
  }
  return ends;
}

/** 1. A key whose delete / rotation without grace answered 2xx (or whose grace ended) is never accepted after the bound. */
export function checkRevocation(history: History, options: CheckOptions): CheckResult {
  const ends = revocationEnds(history.ops);
  const violations: Violation[] = [];
  let checks = 0;
  for (const op of history.ops) {
    if (!USES.has(op.kind) || !op.keyId) continue;
    const end = ends.get(op.keyId);
    if (!end || op.invoke <= end.after || op.startMs < end.ms + options.revocationBoundMs) continue;
    checks++;
    if (acceptedUse(op)) {
      violations.push({
        invariant: 1,
        ops: [end.by, op.index],
        message: `key ${op.keyId} (${end.what} by op ${end.by}) was accepted by op ${op.index} ${op.startMs - end.ms} ms later`,
      });
    }
  }
  // Narrowed grants: a use that began after a 2xx edit took its route's scope away, with no other
  // edit of that key attempted since, must not reach the origin.
  const edits = new Map<string, OpRecord[]>();
  for (const op of history.ops) {
    if (op.kind !== "edit" || !op.keyId) continue;
    let list = edits.get(op.keyId);
    if (!list) edits.set(op.keyId, (list = []));
    list.push(op);
  }
  for (const op of history.ops) {
    if (op.kind !== "use" || !op.keyId || !op.needs) continue;
    const attempts = edits.get(op.keyId);
    if (!attempts) continue;
    const before = attempts.filter((e) => e.complete < op.invoke && e.scopes);
    const last = before.reduce<OpRecord | undefined>((latest, e) => (!latest || e.invoke > latest.invoke ? e : latest), undefined);
    if (!last || !isOk(last) || op.startMs < last.endMs + options.revocationBoundMs) continue;
    if (attempts.some((e) => e !== last && e.invoke > last.invoke - 0.5 && e.invoke < op.complete)) continue;
    if (attempts.some((e) => e !== last && e.complete > last.invoke && e.invoke < last.invoke)) continue;
    const granted = expandScopes(last.scopes!);
    checks++;
    if (!granted.has(op.needs as never) && acceptedUse(op)) {
      violations.push({ invariant: 1, ops: [last.index, op.index], message: `key ${op.keyId} lost ${op.needs} by edit op ${last.index}, yet op ${op.index} reached the origin with it` });
    }
  }
  return result(1, checks, violations);
}

/** The settled list of each organisation (settle-phase list ops that read every page). */
function settledLists(ops: readonly OpRecord[]): Map<string, Map<string, Shown>> {
  const lists = new Map<string, Map<string, Shown>>();
  for (const op of ops) {
    if (op.phase !== "settle" || op.kind !== "list" || !isOk(op) || !op.listComplete) continue;
    lists.set(op.org, new Map((op.shown ?? []).map((s) => [s.id, s])));
  }
  return lists;
}

/**
 * 2. Once the stores settle: every key that works is listed (no hidden keys), and every listed
 * key works or is shown as expired (no ghosts). Judged with the known secrets, and against the
 * store itself for keys whose secret no client ever saw.
 */
export function checkListedMeansUsable(history: History): CheckResult {
  const lists = settledLists(history.ops);
  const violations: Violation[] = [];
  let checks = 0;
  const mintedBy = new Map<string, number>();
  for (const op of history.ops) for (const m of op.minted ?? []) if (isOk(op)) mintedBy.set(m.id, op.index);
  for (const op of history.ops) {
    if (op.phase !== "settle" || op.kind !== "use" || !op.keyId) continue;
    const listed = lists.get(op.org);
    if (!listed) continue;
    checks++;
    const shown = listed.get(op.keyId);
    // A key refused only for its scope was recognised: it works.
    const usable = acceptedUse(op) || op.code === "insufficient_scope";
    const at = mintedBy.get(op.keyId);
    const ops = at === undefined ? [op.index] : [at, op.index];
    if (usable && !shown) violations.push({ invariant: 2, ops, message: `key ${op.keyId} works but its organisation's list does not show it` });
    if (!usable && shown && !(shown.expiresAt !== null && Date.parse(shown.expiresAt) <= op.startMs)) {
      violations.push({ invariant: 2, ops, message: `key ${op.keyId} is listed (not expired) but refused: ${op.status} ${op.code ?? ""}` });
    }
  }
  const snapshot = history.snapshot;
  if (snapshot) {
    // Listed keys no client holds the secret of: usable only if their id entry still leads to a hash entry.
    const byId = new Map(snapshot.idEntries.map((e) => [e.id, e]));
    const judged = new Set(history.ops.filter((op) => op.phase === "settle" && op.kind === "use").map((op) => op.keyId));
    for (const [org, listed] of lists) {
      for (const shown of listed.values()) {
        if (judged.has(shown.id)) continue;
        checks++;
        const entry = byId.get(shown.id);
        if (!entry || entry.org !== org || !entry.hashPresent) {
          const at = mintedBy.get(shown.id);
          violations.push({
            invariant: 2,
            ops: at === undefined ? [] : [at],
            message: `key ${shown.id} (${shown.name}) is listed for ${org} but cannot work: ${entry ? "its hash entry is gone" : "it has no record"}`,
          });
        }
      }
    }
    for (const entry of snapshot.hashEntries) {
      const listed = lists.get(entry.org);
      if (!listed) continue;
      if (entry.expiresAt !== null && Date.parse(entry.expiresAt) <= snapshot.atMs) continue;
      checks++;
      if (!listed.has(entry.id)) {
        const at = mintedBy.get(entry.id);
        violations.push({
          invariant: 2,
          ops: at === undefined ? [] : [at],
          message: `the store holds a working hash entry for key ${entry.id} that its organisation's list does not show`,
        });
      }
    }
  }
  return result(2, checks, violations);
}

/** The audit rows a 2xx management operation must have left (docs/api-keys.md, "Audit log"). */
export function expectedAudit(op: OpRecord): { action: string; keyId: string }[] {
  if (!isOk(op)) return [];
  switch (op.kind) {
    case "create":
      return (op.minted ?? []).map((m) => ({ action: "key.created", keyId: m.id }));
    case "rotate":
    case "bulk_rotate": {
      const action = op.kind === "rotate" ? "key.rotated" : "key.bulk_rotated";
      return (op.retired ?? []).flatMap((r) => [
        { action, keyId: r.oldId },
        { action: "key.created", keyId: r.newId },
      ]);
    }
    case "delete":
      return op.keyId ? [{ action: "key.deleted", keyId: op.keyId }] : [];
    case "edit":
      return op.keyId ? [{ action: "key.updated", keyId: op.keyId }] : [];
    case "kill_switch":
      return [{ action: "org.keys_revoked", keyId: "null" }];
    default:
      return [];
  }
}

const ACTION_OF: Partial<Record<OpRecord["kind"], string>> = { delete: "key.deleted", rotate: "key.rotated", bulk_rotate: "key.bulk_rotated", edit: "key.updated" };

/**
 * 3. Every management change answered 2xx has its audit rows, and every row names a change that
 * happened: a 2xx; or a 5xx (indeterminate) on that key — a `key.created` row from a 5xx only for
 * a key that exists whole; or, for `key.escalation_refused`, a refusal with `scope_escalation`.
 * Judges nothing when the history has no audit log (`history.audit` undefined).
 */
export function checkAudit(history: History): CheckResult {
  const audit = history.audit;
  if (!audit) return result(3, 0, []);
  const violations: Violation[] = [];
  let checks = 0;
  const own = audit.filter((r) => r.readBy === r.org);
  const recorded = new Set(own.map((r) => `${r.org} ${r.action} ${r.keyId}`));
  const required = new Set<string>();
  const possible = new Set<string>();
  const indeterminateCreates = new Set<string>();
  const escalations = new Set<string>();
  for (const op of history.ops) {
    if (!MANAGEMENT.has(op.kind)) continue;
    for (const e of expectedAudit(op)) {
      checks++;
      const key = `${op.org} ${e.action} ${e.keyId}`;
      required.add(key);
      if (!recorded.has(key)) violations.push({ invariant: 3, ops: [op.index], message: `op ${op.index} (${op.kind}) answered ${op.status} but the audit log has no ${e.action} for ${e.keyId}` });
    }
    if (op.status >= 500) {
      const action = ACTION_OF[op.kind];
      for (const id of op.keyIds ?? (op.keyId ? [op.keyId] : [])) if (action) possible.add(`${op.org} ${action} ${id}`);
      if (op.kind === "create" || op.kind === "rotate" || op.kind === "bulk_rotate") indeterminateCreates.add(op.org);
    }
    if (op.code === "scope_escalation") escalations.add(op.org);
  }
  // A kill switch (2xx or 5xx) deletes every key its organisation had; a leaked-key report
  // revokes the key it names (its audit row is written behind the 202, when it can be).
  const killed = new Set<string>();
  const orgOfKey = new Map<string, string>();
  for (const op of history.ops) for (const m of op.minted ?? []) orgOfKey.set(m.id, m.org);
  for (const op of history.ops) {
    if (op.kind === "kill_switch" && (isOk(op) || op.status >= 500)) {
      killed.add(op.org);
      possible.add(`${op.org} org.keys_revoked null`);
    }
    if (op.kind === "leak_revoke" && op.keyId) possible.add(`${orgOfKey.get(op.keyId) ?? op.org} key.leak_revoked ${op.keyId}`);
  }
  const whole = new Set((history.snapshot?.idEntries ?? []).filter((e) => e.hashPresent).map((e) => e.id));
  for (const r of own) {
    checks++;
    const key = `${r.org} ${r.action} ${r.keyId}`;
    if (required.has(key) || possible.has(key)) continue;
    if (r.action === "key.created" && r.keyId && indeterminateCreates.has(r.org) && whole.has(r.keyId)) continue;
    if (r.action === "key.escalation_refused" && escalations.has(r.org)) continue;
    if (r.action === "key.deleted" && killed.has(r.org)) continue;
    violations.push({ invariant: 3, ops: [], message: `audit record "${r.action} ${r.keyId}" (${r.org}) claims a change no operation made` });
  }
  return result(3, checks, violations);
}

/** 4. No answer carries another organisation's data; every forwarded request carries exactly its credential's identity. */
export function checkIsolation(history: History): CheckResult {
  const violations: Violation[] = [];
  let checks = 0;
  const orgOf = new Map<string, string>();
  for (const op of history.ops) for (const m of op.minted ?? []) orgOf.set(m.id, m.org);
  for (const e of history.snapshot?.idEntries ?? []) if (!orgOf.has(e.id)) orgOf.set(e.id, e.org);
  for (const op of history.ops) {
    if (op.echo && op.credential) {
      checks++;
      const { echo, credential } = op;
      const wrong: string[] = [];
      if (echo.orgId !== credential.org) wrong.push(`org ${echo.orgId} (expected ${credential.org})`);
      if (echo.principalId !== credential.subject) wrong.push(`principal ${echo.principalId} (expected ${credential.subject})`);
      if (echo.method !== credential.method) wrong.push(`method ${echo.method} (expected ${credential.method})`);
      if (echo.credentialForwarded) wrong.push("the caller's credential");
      if (wrong.length) violations.push({ invariant: 4, ops: [op.index], message: `op ${op.index}: the origin received ${wrong.join(", ")}` });
    }
    if (op.shown && isOk(op)) {
      for (const s of op.shown) {
        const owner = orgOf.get(s.id);
        if (owner === undefined) continue;
        checks++;
        if (owner !== op.org) violations.push({ invariant: 4, ops: [op.index], message: `op ${op.index} (${op.kind} by ${op.org}) showed key ${s.id} of ${owner}` });
      }
    }
    if (op.echo?.scopes != null && op.grants) {
      checks++;
      const extra = op.echo.scopes.split(" ").filter((scope) => scope && !op.grants!.includes(scope));
      if (extra.length) violations.push({ invariant: 4, ops: [op.index], message: `op ${op.index}: the origin was told the key holds ${extra.join(", ")}, which it was never granted` });
    }
    if (op.kind === "cross_org") {
      checks++;
      if (isOk(op)) violations.push({ invariant: 4, ops: [op.index], message: `op ${op.index}: ${op.org} acted on another organisation's key ${op.keyId} (${op.status})` });
    }
  }
  for (const r of history.audit ?? []) {
    checks++;
    if (r.org !== r.readBy) violations.push({ invariant: 4, ops: [], message: `${r.readBy}'s audit log shows a record of ${r.org} (${r.action} ${r.keyId})` });
  }
  return result(4, checks, violations);
}

/**
 * 5. A refused operation left nothing half done that a later read can see. A 4xx must have had
 * no effect at all. A 5xx is indeterminate ("nothing is assumed", docs/api-keys.md): it may have
 * taken effect, but wholly — a key it left behind must be whole (its record leads to a working
 * hash entry), and a key it half deleted must not be listed while refused.
 */
export function checkNothingHalfDone(history: History): CheckResult {
  const violations: Violation[] = [];
  let checks = 0;
  const ops = history.ops;
  const mintedOk = new Set<string>();
  for (const op of ops) if (isOk(op)) for (const m of op.minted ?? []) mintedOk.add(m.id);
  const reads = ops.filter((op) => op.kind === "list" && isOk(op));
  const whole = new Map((history.snapshot?.idEntries ?? []).map((e) => [e.id, e.hashPresent]));
  const isWhole = (id: string) => whole.get(id) === true;

  // Keys named by a refused create (reads indexed by the names they show, in invoke order).
  const readsByName = new Map<string, { read: OpRecord; id: string }[]>();
  for (const r of reads) {
    for (const s of r.shown ?? []) {
      if (s.rotatedFrom) continue;
      let list = readsByName.get(s.name);
      if (!list) readsByName.set(s.name, (list = []));
      list.push({ read: r, id: s.id });
    }
  }
  for (const refused of ops) {
    if (refused.kind !== "create" || !isRefused(refused) || !refused.name) continue;
    checks++;
    const seen = readsByName.get(refused.name)?.find((x) => x.read.invoke > refused.complete);
    if (!seen) continue;
    if (refused.status < 500 || !isWhole(seen.id)) {
      violations.push({
        invariant: 5,
        ops: [refused.index, seen.read.index],
        message: `create op ${refused.index} answered ${refused.status} ${refused.code ?? ""}, yet op ${seen.read.index} lists ${seen.id} named ${refused.name}${refused.status >= 500 ? ", and it is not whole" : ""}`,
      });
    }
  }

  // Successors no client was given: a refused rotation of their old key, finished before the
  // read began, must account for them (a read overlapping the rotation may see it in flight).
  const refusedRotations = ops.filter((op) => (op.kind === "rotate" || op.kind === "bulk_rotate") && isRefused(op));
  const rotationsOf = (old: string) => refusedRotations.filter((op) => op.keyId === old || op.keyIds?.includes(old));
  checks += refusedRotations.length;
  const judgedOrphans = new Set<string>();
  for (const read of reads) {
    for (const s of read.shown ?? []) {
      if (!s.rotatedFrom || mintedOk.has(s.id) || judgedOrphans.has(s.id)) continue;
      const candidates = rotationsOf(s.rotatedFrom);
      if (candidates.some((op) => op.invoke < read.complete && op.complete > read.invoke)) continue;
      judgedOrphans.add(s.id);
      const before = candidates.filter((op) => op.complete < read.invoke);
      const indeterminate = before.filter((op) => op.status >= 500);
      if (indeterminate.length && isWhole(s.id)) continue;
      violations.push({
        invariant: 5,
        ops: [...before.map((op) => op.index), read.index],
        message: indeterminate.length
          ? `rotation of ${s.rotatedFrom} answered ${indeterminate[0]!.status} (op ${indeterminate[0]!.index}) and left successor ${s.id}, listed by op ${read.index} but not whole`
          : `op ${read.index} lists ${s.id}, a successor of ${s.rotatedFrom} that no successful rotation returned${before.length ? ` (refused rotations: ${before.map((c) => `${c.index} ${c.status}`).join(", ")})` : ""}`,
      });
    }
  }

  // Keys half deleted: listed by a later read while a later use is refused, with no successful change between.
  const touching = new Map<string, OpRecord[]>();
  const touch = (id: string, op: OpRecord) => {
    let list = touching.get(id);
    if (!list) touching.set(id, (list = []));
    list.push(op);
  };
  for (const op of ops) {
    if (op.keyId) touch(op.keyId, op);
    for (const id of op.keyIds ?? []) touch(id, op);
    if (op.kind === "list") for (const s of op.shown ?? []) if (s.id !== op.keyId) touch(s.id, op);
  }
  const killSwitches = new Map<string, OpRecord[]>();
  for (const op of ops) {
    if (op.kind !== "kill_switch" || (!isOk(op) && op.status < 500)) continue;
    let list = killSwitches.get(op.org);
    if (!list) killSwitches.set(op.org, (list = []));
    list.push(op);
  }
  for (const refused of ops) {
    if (refused.kind !== "delete" || refused.status < 500 || !refused.keyId) continue;
    // A 503 that said the revocation may have been recorded told its caller exactly this state
    // ("the key may already be refused while still listed; retry the same call").
    if (refused.body.includes("may have been recorded")) continue;
    // A key already refused as unknown before this delete was tried (a kill switch answered 503
    // part-way, say: refused everywhere, still listed) was not half deleted by it.
    if ((touching.get(refused.keyId) ?? []).some((o) => o.kind === "use" && o.status === 401 && o.complete < refused.invoke)) continue;
    const id = refused.keyId;
    checks++;
    const related = touching.get(id) ?? [];
    // Until the next change of the key that succeeded, or that may have revoked it by other
    // means: a leaked-key report naming it (whatever its 202 did), its organisation's kill switch.
    const revokers = [...related.filter((o) => o.kind === "leak_revoke"), ...(killSwitches.get(refused.org) ?? [])];
    const horizon = [...related.filter((o) => isOk(o) && MANAGEMENT.has(o.kind)), ...revokers]
      .filter((o) => o.invoke > refused.complete)
      .reduce((min, o) => Math.min(min, o.invoke), Number.POSITIVE_INFINITY);
    const within = (o: OpRecord) => o.invoke > refused.complete && o.complete < horizon;
    const listedBy = related.find((o) => within(o) && o.kind === "list" && isOk(o) && o.shown?.some((s) => s.id === id && s.expiresAt === null));
    const refusedUse = related.find((o) => within(o) && o.kind === "use" && o.status === 401);
    // A kill switch of its organisation, or a leaked-key report naming it, under way before that
    // refusal may be what refused it (a switch answered 503 part-way leaves keys refused and listed).
    if (refusedUse && revokers.some((o) => o.invoke < refusedUse.complete)) continue;
    if (listedBy && refusedUse) {
      violations.push({
        invariant: 5,
        ops: [refused.index, listedBy.index, refusedUse.index],
        message: `delete op ${refused.index} answered ${refused.status} ${refused.code ?? ""}, yet key ${id} is then listed (op ${listedBy.index}) and refused (op ${refusedUse.index}): half deleted${
          refused.faults ? ` (the delete met: ${refused.faults.join(", ")})` : ""
        }`,
      });
    }
  }
  return result(5, checks, violations);
}

const API_KEY = /pk_(?:live|test)_[0-9A-Za-z]{36}/g;
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}/g;
const STACK = /\n\s+at\s|\bat\s+\S+\s+\([^)]*:\d+:\d+\)|^\s*at\s.*:\d+:\d+/m;

/** Where a text leaks: secrets other than `allowedKeys`, tokens, stack traces, internal markers. */
export function leaks(text: string, allowedKeys: ReadonlySet<string>, history: History): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(API_KEY)) if (!allowedKeys.has(m[0])) found.push(`an API key (${m[0].slice(0, 12)}…)`);
  if (JWT.test(text)) found.push("a session token");
  JWT.lastIndex = 0;
  if (STACK.test(text)) found.push("a stack trace");
  for (const s of history.secrets) if (s && text.includes(s)) found.push("a configured secret");
  for (const m of history.internalMarkers) if (m && text.includes(m)) found.push("an internal error message");
  return found;
}

/** 6. No 500, no undocumented error code, no response without `x-request-id`, no secret or stack trace in any response or log line. */
export function checkNoLeaks(history: History, options: CheckOptions): CheckResult {
  const violations: Violation[] = [];
  let checks = 0;
  const none = new Set<string>();
  for (const op of history.ops) {
    if (op.kind === "jwks" || op.kind === "restart") continue;
    checks++;
    const problems: string[] = [];
    if (op.status === 500) problems.push("status 500");
    if (op.status === 0) problems.push("no response at all");
    if (op.contentType?.startsWith("application/problem+json") && (!op.code || !options.knownCodes.has(op.code))) {
      problems.push(`undocumented error code ${op.code}`);
    }
    if (op.status !== 0 && !op.headers["x-request-id"]) problems.push("no x-request-id");
    const allowed = new Set((op.minted ?? []).map((m) => m.key));
    // A long run scans each body as it arrives and keeps only the verdict (`bodyLeaks`).
    problems.push(...(op.bodyLeaks ?? leaks(op.body, isOk(op) ? allowed : none, history)));
    for (const value of Object.values(op.headers)) problems.push(...leaks(value, none, history).map((p) => `${p} in a header`));
    if (problems.length) violations.push({ invariant: 6, ops: [op.index], message: `op ${op.index} (${op.kind}, ${op.status}): ${problems.join(", ")}` });
  }
  for (const line of history.logs) {
    checks++;
    const problems = leaks(line, none, history);
    if (problems.length) violations.push({ invariant: 6, ops: [], message: `a log line carries ${problems.join(", ")}: ${line.slice(0, 120)}` });
  }
  return result(6, checks, violations);
}

/** Every invariant over one history. */
export function checkAll(history: History, options: CheckOptions): CheckResult[] {
  return [
    checkRevocation(history, options),
    checkListedMeansUsable(history),
    checkAudit(history),
    checkIsolation(history),
    checkNothingHalfDone(history),
    checkNoLeaks(history, options),
  ];
}
