/**
 * Runs a chaos program inside workerd: the gateway's own `fetch` (src/index.ts) called with its
 * bindings wrapped by the fault injector, several clients at once, every operation recorded;
 * then faults off, the stores settle, every organisation is listed and every known key used, the
 * KV namespace is read directly, and the six invariants are checked over the history.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import app from "../../../src/index";
import { ERRORS } from "../../../src/errors";
import { resetKeyCaches } from "../../../src/keys/cache";
import { coldStart, newSigningKey, newTenant, sign, type SigningKey, TEMPLATE_HEADER, templateClaims, type Tenant, v2Claims } from "../../helpers/jwt";
import { seedKey } from "../../helpers/keys";
import { DEFAULT_FAULTS, FaultCounts, type FaultOptions, FaultScope, faultyBindings, faultyCacheApi, faultyJwksFetch, faultyRateLimit, INTERNAL_MARKER } from "./faults";
import type { AuditRecord, Credential, Echo, History, Minted, OpKind, OpRecord, Shown, StoreSnapshot } from "./history";
import { expandScopes } from "../../../src/scopes";
import { type CheckResult, checkAll, type CheckOptions, leaks, type Violation } from "./invariants";
import { generateProgram, type ProgramOp, STREAM_FAULTS, STREAM_JWKS } from "./program";
import { Random } from "./prng";
import { shrink } from "./shrink";

const BASE = "https://api.agntix.test";
const KEYS_API = "/v1/chat/api-keys";

export interface RunOptions {
  readonly seed: number;
  /** Operations in the program (ignored when `program` is given). */
  readonly ops: number;
  readonly clients?: number;
  readonly faults?: Partial<FaultOptions>;
  /** Run this (sub-)program instead of generating one: shrinking re-runs parts of a program. */
  readonly program?: readonly ProgramOp[];
  /** The gateway's origin timeout in the run (ms); short, so hanging origins cost little. */
  readonly originTimeoutMs?: number;
  /** Scan each body for leaks on arrival and keep only its first bytes (long runs: bounded memory). */
  readonly compactBodies?: boolean;
}

export interface RunReport {
  readonly seed: number;
  readonly program: readonly ProgramOp[];
  /** Operations recorded (program and settle). */
  readonly operations: number;
  readonly requests: number;
  readonly durationMs: number;
  /** Binding calls seen by the injector, and the faults it injected by kind. */
  readonly bindingCalls: number;
  readonly faults: Record<string, number>;
  readonly faultTotal: number;
  readonly results: CheckResult[];
  readonly violations: Violation[];
  readonly history: History;
}

export const CHECK_OPTIONS: CheckOptions = { revocationBoundMs: 0, knownCodes: new Set(Object.keys(ERRORS)) };

interface KnownKey {
  readonly id: string;
  readonly key: string;
  readonly org: string;
  alive: boolean;
  /** Every scope it was ever granted (expanded): creation, rotation, edits (even refused ones). */
  readonly grants: Set<string>;
}

interface Org {
  readonly id: string;
  readonly userId: string;
  /** Replaced after a kill switch (which revokes it with every other key of the organisation). */
  admin: { id: string; key: string };
  token: { value: string; at: number; kid: string } | undefined;
  template: { value: string; at: number; kid: string } | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run one chaos program and check it. */
export async function runChaos(options: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const clients = options.clients ?? 4;
  const faults: FaultOptions = { ...DEFAULT_FAULTS, ...options.faults };
  const program = options.program ?? generateProgram(options.seed, options.ops, clients);
  const seed = options.seed;
  const nonce = crypto.randomUUID().slice(0, 8);

  // The world: two organisations with an admin key and a session user each, and an IdP tenant.
  let signing: SigningKey = await newSigningKey();
  let previous: SigningKey | undefined;
  const tenant: Tenant = await newTenant(signing);
  const orgs: Org[] = [];
  for (const suffix of ["a", "b"]) {
    // Clerk-shaped ids (`org_` + letters and digits): session and template tokens carry them.
    const id = `org_chaos${seed}${nonce}${suffix}`;
    const admin = await seedKey(id, ["*"], "chaos admin");
    orgs.push({ id, userId: `user_chaos${suffix.toUpperCase()}`, admin: { id: admin.id, key: admin.key }, token: undefined, template: undefined });
  }
  const otherOrg = orgs[1]!.id;
  const planted = { ...faults, otherOrg: faults.otherOrg ?? otherOrg };
  const baseEnv = { ...env, CLERK_JWKS_URL: tenant.jwksUrl, ORIGIN_TIMEOUT_MS: String(options.originTimeoutMs ?? 100) };
  const counts = new FaultCounts();
  const scopes = Array.from({ length: clients }, (_, c) => new FaultScope(seed, STREAM_FAULTS * 1000 + c, planted, counts));
  const envs = scopes.map((scope) => faultyBindings(baseEnv, scope));
  /** The client's next request lands on another isolate: no key caches, its own revocation feed. */
  const anotherIsolate = (client: number) => {
    resetKeyCaches();
    envs[client] = faultyBindings(baseEnv, scopes[client]!);
  };
  const globalScope = new FaultScope(seed, STREAM_JWKS, planted, counts);
  // Settle-phase calls: no faults, and rate limiters that always allow (as in the run, the real
  // local bindings are never asked: their limit is per binding, not per key).
  const quiet = new FaultScope(seed, STREAM_JWKS, { ...planted, rate: 0 }, new FaultCounts());
  quiet.enabled = false;
  const settleEnv = { ...baseEnv, ...Object.fromEntries(Object.keys(baseEnv).filter((n) => n.startsWith("RL_")).map((n) => [n, faultyRateLimit(n, quiet)])) };
  const known = new Map<string, KnownKey[]>(orgs.map((o) => [o.id, []]));
  const history: History = {
    seed,
    ops: [],
    logs: [],
    secrets: [env.API_KEY_PEPPER ?? ""].filter((s) => s.length > 0),
    internalMarkers: [INTERNAL_MARKER, "db-01.internal"],
  };
  let clock = 0;
  let requests = 0;
  let latestEnd = 0;

  // Log lines: captured (and checked), not printed.
  const consoleMethods = ["log", "info", "warn", "error", "debug"] as const;
  const saved = consoleMethods.map((m) => console[m]);
  for (const m of consoleMethods) console[m] = (...args: unknown[]) => void history.logs.push(args.map(String).join(" "));
  const restoreFetch = faultyJwksFetch(tenant.jwksUrl, globalScope);
  const restoreCache = faultyCacheApi(globalScope);

  async function tokenFor(org: Org): Promise<string> {
    const now = Date.now();
    if (!org.token || org.token.kid !== signing.kid || now - org.token.at > 5 * 60_000) {
      const claims = v2Claims({ sub: org.userId, sid: `sess_${nonce}`, o: { id: org.id, rol: "admin", slg: "chaos" }, exp: Math.floor(now / 1000) + 900 });
      org.token = { value: await sign(claims, signing), at: now, kid: signing.kid };
    }
    return org.token.value;
  }

  /** An `agntix` JWT-template token (aud agntix, no sid), re-minted every 20 s or after an IdP key rotation. */
  async function templateFor(org: Org): Promise<string> {
    const now = Date.now();
    if (!org.template || org.template.kid !== signing.kid || now - org.template.at > 20_000) {
      const claims = templateClaims({ sub: org.userId, org_id: org.id, org_slug: "chaos", org_role: "org:admin", exp: Math.floor(now / 1000) + 120 });
      org.template = { value: await sign(claims, signing, TEMPLATE_HEADER), at: now, kid: signing.kid };
    }
    return org.template.value;
  }

  function newRecord(op: ProgramOp, org: Org, kind: OpKind, phase: "run" | "settle", extra: Partial<OpRecord> = {}): OpRecord {
    return { index: op.index, client: op.client, org: org.id, kind, phase, invoke: 0, complete: 0, startMs: 0, endMs: 0, status: 0, body: "", headers: {}, ...extra };
  }

  /** One HTTP exchange with the gateway, recorded into `rec`. */
  async function call(target: object, rec: OpRecord, path: string, init: RequestInit, onSocket?: (socket: WebSocket) => Promise<string>): Promise<unknown> {
    const ctx = createExecutionContext();
    requests++;
    rec.invoke = ++clock;
    rec.startMs = Date.now();
    let response: Response | undefined;
    try {
      response = await app.fetch(new Request(BASE + path, init), target, ctx);
    } catch (error) {
      rec.body = String(error);
    }
    if (response) {
      rec.status = response.status;
      rec.contentType = response.headers.get("content-type") ?? undefined;
      for (const name of ["x-request-id", "www-authenticate", "location", "retry-after"]) {
        const value = response.headers.get(name);
        if (value !== null) rec.headers[name] = value;
      }
      if (response.webSocket && onSocket) {
        rec.body = await onSocket(response.webSocket).catch((error: unknown) => String(error));
        rec.contentType = "application/json";
      } else {
        try {
          rec.body = await response.text();
        } catch (error) {
          rec.streamError = error instanceof Error ? error.name : "unknown";
        }
      }
    }
    rec.complete = ++clock;
    rec.endMs = Date.now();
    try {
      await waitOnExecutionContext(ctx);
    } catch {
      // Work behind the response failing is the gateway's to log; the history has the answer.
    }
    let json: unknown;
    if (rec.contentType?.includes("json") && rec.body) {
      try {
        json = JSON.parse(rec.body);
      } catch {
        json = undefined;
      }
    }
    const code = (json as { code?: unknown } | undefined)?.code;
    if (rec.status >= 400 && typeof code === "string") rec.code = code;
    if (options.compactBodies) {
      // The keys this response mints are the only secrets it may carry (what `minted` will hold).
      const j = json as { key?: unknown; data?: { key?: unknown }[] } | undefined;
      const own = rec.status >= 200 && rec.status < 300 ? [j?.key, ...(Array.isArray(j?.data) ? j.data.map((d) => d?.key) : [])] : [];
      rec.bodyLeaks = leaks(rec.body, new Set(own.filter((k): k is string => typeof k === "string")), history);
      if (rec.body.length > 256) rec.body = rec.body.slice(0, 256);
    }
    history.ops.push(rec);
    return json;
  }

  const asAdmin = async (org: Org, viaToken: boolean): Promise<{ headers: Record<string, string>; credential: Credential }> =>
    viaToken
      ? { headers: { authorization: `Bearer ${await tokenFor(org)}` }, credential: { method: "jwt", org: org.id, subject: org.userId } }
      : { headers: { "x-api-key": org.admin.key }, credential: { method: "api_key", org: org.id, subject: org.admin.id } };

  const choose = (org: Org, pick: number, live: boolean, exclude: ReadonlySet<string> = new Set()): KnownKey | undefined => {
    const all = (known.get(org.id) ?? []).filter((k) => !exclude.has(k.id));
    const alive = all.filter((k) => k.alive);
    const pool = live && alive.length ? alive : all;
    return pool.length ? pool[Math.floor(pick * pool.length)] : undefined;
  };

  const minted = (json: unknown, org: Org, rotatedFrom?: string): Minted | undefined => {
    const j = json as { id?: unknown; key?: unknown; name?: unknown } | undefined;
    if (typeof j?.id !== "string" || typeof j.key !== "string") return undefined;
    return { id: j.id, key: j.key, org: org.id, name: String(j.name), ...(rotatedFrom ? { rotatedFrom } : {}) };
  };

  const grantsOf = new Map<string, Set<string>>();
  const remember = (m: Minted, scopes: Iterable<string>) => {
    const grants = new Set<string>(expandScopes(scopes));
    grantsOf.set(m.id, grants);
    known.get(m.org)!.push({ id: m.id, key: m.key, org: m.org, alive: true, grants });
  };
  const scopesIn = (json: unknown): string[] => {
    const scopes = (json as { scopes?: unknown } | undefined)?.scopes;
    return Array.isArray(scopes) ? scopes.filter((x): x is string => typeof x === "string") : [];
  };
  const forget = (org: Org, id: string) => {
    const k = known.get(org.id)!.find((x) => x.id === id);
    if (k) k.alive = false;
  };

  const shownOf = (items: unknown): Shown[] =>
    (Array.isArray(items) ? items : []).flatMap((item) => {
      const r = item as { id?: unknown; name?: unknown; expires_at?: unknown; rotated_from?: unknown };
      if (typeof r.id !== "string") return [];
      return [{ id: r.id, name: String(r.name), expiresAt: typeof r.expires_at === "string" ? r.expires_at : null, ...(typeof r.rotated_from === "string" ? { rotatedFrom: r.rotated_from } : {}) }];
    });

  const echoOf = (json: unknown): Echo | undefined => {
    const headers = (json as { headers?: Record<string, string> } | undefined)?.headers;
    if (!headers || typeof headers !== "object") return undefined;
    return {
      orgId: headers["x-agntix-org-id"] ?? null,
      principalId: headers["x-agntix-principal-id"] ?? null,
      method: headers["x-agntix-auth-method"] ?? null,
      credentialForwarded: "x-api-key" in headers || "authorization" in headers || "cookie" in headers,
      scopes: headers["x-agntix-scopes"] ?? null,
    };
  };

  async function useKey(target: object, op: ProgramOp, org: Org, key: KnownKey, phase: "run" | "settle", kind: "use" | "stream" = "use"): Promise<void> {
    const headers = { "x-api-key": key.key, cookie: "session=chaos-cookie" };
    const path = kind === "stream" ? `/v1/chat/s${op.index}/events?count=3&interval_ms=1` : op.pick2 < 0.5 ? `/v1/chat/u${op.index}` : `/v1/voice/u${op.index}`;
    const needs = kind === "stream" ? "chat:read" : op.pick2 < 0.5 ? "chat:read" : "voice:write";
    const rec = newRecord(op, org, kind, phase, { keyId: key.id, needs, grants: [...key.grants], credential: { method: "api_key", org: key.org, subject: key.id } });
    const init: RequestInit = kind === "use" && op.pick2 >= 0.5 ? { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: `{"op":${op.index}}` } : { headers };
    const json = await call(target, rec, path, init);
    if (kind === "use") rec.echo = echoOf(json);
    if (kind === "stream" && rec.status === 200) rec.echo = undefined;
  }

  /** Run one program operation as client `op.client`. */
  /** Management calls answered 5xx: the API says "retry the same call", and the client will, once faults stop. */
  const toRetry: { op: ProgramOp; rec: OpRecord }[] = [];

  async function execute(op: ProgramOp, retry?: OpRecord): Promise<void> {
    const target = envs[op.client]!; // read once: a planted "other isolate" applies from the next operation
    const org = orgs[op.client % orgs.length]!;
    const other = orgs[(op.client + 1) % orgs.length]!;
    // A retry acts on exactly the keys of the call it repeats.
    const retryKey = retry?.keyId ? known.get(org.id)!.find((k) => k.id === retry.keyId) : undefined;
    const pickKey = () => retryKey ?? choose(org, op.pick, op.live)!;
    let kind = op.kind;
    const needsKey = ["use", "stream", "get", "rotate", "delete", "bulk_rotate", "edit", "leak_revoke", "websocket"].includes(kind);
    if (retry) kind = retry.kind;
    else if (needsKey && !choose(org, op.pick, op.live)) kind = "create";
    if (kind === "cross_org" && !choose(other, op.pick, true)) kind = "list";

    switch (kind) {
      case "use":
      case "stream":
        return useKey(target, op, org, choose(org, op.pick, op.live)!, "run", kind);
      case "template_use": {
        const token = await templateFor(org);
        const rec = newRecord(op, org, kind, "run", { credential: { method: "jwt", org: org.id, subject: org.userId } });
        rec.echo = echoOf(await call(target, rec, `/v1/chat/agents/tt${op.index}`, { headers: { authorization: `Bearer ${token}` } }));
        return;
      }
      case "websocket": {
        const key = choose(org, op.pick, op.live)!;
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, needs: "chat:read", grants: [...key.grants], credential: { method: "api_key", org: key.org, subject: key.id } });
        const headers = { "x-api-key": key.key, upgrade: "websocket", cookie: "session=chaos-cookie" };
        // Open it, ask the origin for the headers it received, close it.
        const json = await call(target, rec, `/v1/chat/w${op.index}/ws`, { headers }, async (socket) => {
          socket.accept();
          const reply = new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve(""), 1000);
            socket.addEventListener("message", (event) => {
              clearTimeout(timer);
              resolve(typeof event.data === "string" ? event.data : "");
            });
            socket.addEventListener("close", () => {
              clearTimeout(timer);
              resolve("");
            });
          });
          socket.send("headers");
          const text = await reply;
          try {
            socket.close(1000, "done");
          } catch {
            // already closed
          }
          return text ? JSON.stringify({ headers: JSON.parse(text) as Record<string, string> }) : "";
        });
        if (rec.status === 101) rec.echo = echoOf(json);
        return;
      }
      case "leak_revoke": {
        // Anyone holding a key may report it (no credential); the answer is 202 whatever happens.
        const key = choose(org, op.pick, op.live)!;
        const rec = newRecord(op, org, kind, "run", { keyId: key.id });
        const logsBefore = history.logs.length;
        await call(target, rec, `${KEYS_API}/revoke`, {
          method: "POST",
          headers: { "content-type": "application/json", "cf-connecting-ip": `198.51.100.${op.client + 1}` },
          body: JSON.stringify({ keys: [key.key] }),
        });
        // `call` waited for the work behind the response: did it revoke the key?
        rec.complete = ++clock;
        rec.endMs = Date.now();
        const requestId = rec.headers["x-request-id"];
        const lines = history.logs.slice(logsBefore);
        const reported = lines.some((l) => l.includes('"leaked_keys_reported"') && l.includes(`"revoked":1`) && requestId !== undefined && l.includes(requestId));
        const failed = (event: string) => lines.some((l) => l.includes(`"${event}"`) && l.includes(key.id));
        rec.leakTookEffect = rec.status === 202 && reported && !(failed("leaked_key_log_failed") && failed("leaked_key_cleanup_failed"));
        if (rec.leakTookEffect) forget(org, key.id);
        if (faults.planted === "lose-revocation") anotherIsolate(op.client);
        return;
      }
      case "kill_switch": {
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { credential: as.credential });
        await call(target, rec, `${KEYS_API}/revoke-all`, {
          method: "POST",
          headers: { ...as.headers, "content-type": "application/json" },
          body: JSON.stringify({ org_id: org.id }),
        });
        if (rec.status === 200) for (const k of known.get(org.id)!) k.alive = false;
        if (faults.planted === "lose-revocation") anotherIsolate(op.client);
        if (rec.status === 200 || rec.status >= 500) {
          // The admin key went with the others: the organisation's operator makes a new one.
          await sleep(2);
          const admin = await seedKey(org.id, ["*"], "chaos admin");
          org.admin = { id: admin.id, key: admin.key };
        }
        return;
      }
      case "token_use": {
        const token = await tokenFor(org);
        const rec = newRecord(op, org, kind, "run", { credential: { method: "jwt", org: org.id, subject: org.userId } });
        rec.echo = echoOf(await call(target, rec, `/v1/chat/agents/t${op.index}`, { headers: { authorization: `Bearer ${token}` } }));
        return;
      }
      case "create": {
        const as = await asAdmin(org, op.viaToken);
        const name = `chaos ${seed} ${nonce} #${op.index}`;
        const scopes = op.pick2 < 0.7 ? ["chat:*", "voice:*"] : ["*"];
        const rec = newRecord(op, org, kind, "run", { name, credential: as.credential });
        const json = await call(target, rec, KEYS_API, { method: "POST", headers: { ...as.headers, "content-type": "application/json" }, body: JSON.stringify({ name, scopes }) });
        const m = rec.status === 201 ? minted(json, org) : undefined;
        if (m) {
          rec.minted = [m];
          remember(m, scopes);
        }
        return;
      }
      case "list": {
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { credential: as.credential });
        const json = (await call(target, rec, `${KEYS_API}?limit=25`, { headers: as.headers })) as { data?: unknown; next_cursor?: unknown } | undefined;
        if (rec.status === 200) {
          rec.shown = shownOf(json?.data);
          rec.listComplete = json?.next_cursor === null;
        }
        return;
      }
      case "get": {
        const key = pickKey();
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, credential: as.credential });
        const json = await call(target, rec, `${KEYS_API}/${key.id}`, { headers: as.headers });
        if (rec.status === 200) rec.shown = shownOf([json]);
        return;
      }
      case "delete": {
        const key = pickKey();
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, credential: as.credential });
        await call(target, rec, `${KEYS_API}/${key.id}`, { method: "DELETE", headers: as.headers });
        if (rec.status === 204) {
          forget(org, key.id);
          if (faults.planted === "lose-revocation") anotherIsolate(op.client); // the next request lands on another isolate
        }
        return;
      }
      case "rotate": {
        const key = pickKey();
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, grace: op.grace, credential: as.credential });
        const body = op.pick2 < 0.2 && op.grace === 0 ? undefined : JSON.stringify({ grace_period_seconds: op.grace });
        const json = await call(target, rec, `${KEYS_API}/${key.id}/rotate`, {
          method: "POST",
          headers: body ? { ...as.headers, "content-type": "application/json" } : as.headers,
          ...(body ? { body } : {}),
        });
        const m = rec.status === 201 ? minted(json, org, key.id) : undefined;
        if (m) {
          const expires = (json as { old_key_expires_at?: unknown }).old_key_expires_at;
          rec.minted = [m];
          rec.retired = [{ oldId: key.id, newId: m.id, grace: op.grace, oldExpiresAt: typeof expires === "string" ? expires : null }];
          remember(m, scopesIn(json));
          forget(org, key.id);
          if (typeof expires === "string") latestEnd = Math.max(latestEnd, Date.parse(expires));
          if (faults.planted === "lose-revocation") anotherIsolate(op.client);
        }
        return;
      }
      case "bulk_rotate": {
        const picked = new Set<string>();
        const r = new Random(seed, 7, op.index);
        for (let i = 0; i < op.count; i++) {
          const k = choose(org, r.next(), op.live, picked);
          if (k) picked.add(k.id);
        }
        const ids = retry?.keyIds ? [...retry.keyIds] : [...picked];
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { keyIds: ids, grace: op.grace, credential: as.credential });
        const json = (await call(target, rec, `${KEYS_API}/rotate`, {
          method: "POST",
          headers: { ...as.headers, "content-type": "application/json" },
          body: JSON.stringify({ ids, grace_period_seconds: op.grace }),
        })) as { data?: unknown } | undefined;
        if (rec.status === 200 && Array.isArray(json?.data)) {
          rec.minted = [];
          rec.retired = [];
          for (const item of json.data as { old_id?: unknown; old_key_expires_at?: unknown }[]) {
            const oldId = String(item.old_id);
            const m = minted(item, org, oldId);
            if (!m) continue;
            rec.minted.push(m);
            rec.retired.push({ oldId, newId: m.id, grace: op.grace, oldExpiresAt: typeof item.old_key_expires_at === "string" ? item.old_key_expires_at : null });
            remember(m, scopesIn(item));
            forget(org, oldId);
            if (typeof item.old_key_expires_at === "string") latestEnd = Math.max(latestEnd, Date.parse(item.old_key_expires_at));
          }
        }
        return;
      }
      case "edit": {
        const key = pickKey();
        const as = await asAdmin(org, op.viaToken);
        // Narrow to voice only, widen back to chat and voice, or rename.
        const scopes = op.pick2 < 0.4 ? ["voice:*"] : op.pick2 < 0.8 ? ["chat:*", "voice:*"] : undefined;
        const body = scopes ? { scopes } : { name: `chaos ${seed} ${nonce} #${op.index} (renamed)` };
        // A grant attempted may have landed even if refused: the key may hold it from now on.
        if (scopes) for (const s of expandScopes(scopes)) key.grants.add(s);
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, credential: as.credential, ...(scopes ? { scopes } : {}) });
        const json = await call(target, rec, `${KEYS_API}/${key.id}`, { method: "PATCH", headers: { ...as.headers, "content-type": "application/json" }, body: JSON.stringify(body) });
        if (rec.status === 200) rec.shown = shownOf([json]);
        return;
      }
      case "cross_org": {
        const key = choose(other, op.pick, true)!;
        const as = await asAdmin(org, op.viaToken);
        const rec = newRecord(op, org, kind, "run", { keyId: key.id, credential: as.credential });
        const how = op.pick2 < 0.4 ? "get" : op.pick2 < 0.7 ? "delete" : "rotate";
        const init: RequestInit =
          how === "get" ? { headers: as.headers } : how === "delete" ? { method: "DELETE", headers: as.headers } : { method: "POST", headers: as.headers };
        const json = await call(target, rec, `${KEYS_API}/${key.id}${how === "rotate" ? "/rotate" : ""}`, init);
        if (rec.status === 200) rec.shown = shownOf([json]);
        if (rec.status === 201) {
          const m = minted(json, org, key.id);
          if (m) rec.minted = [m];
        }
        return;
      }
      case "jwks": {
        const rec = newRecord(op, org, kind, "run", { note: op.jwksMode });
        rec.invoke = ++clock;
        rec.startMs = Date.now();
        if (op.jwksMode === "rotate") {
          // Publish a new key beside the current one, sign with it from now on, drop the oldest.
          const next = await newSigningKey();
          await tenant.publish(...[previous, signing, next].filter((k): k is SigningKey => k !== undefined).slice(-2));
          previous = signing;
          signing = next;
        } else await tenant.mode(op.jwksMode, 50);
        rec.status = 200;
        rec.complete = ++clock;
        rec.endMs = Date.now();
        history.ops.push(rec);
        return;
      }
      case "restart": {
        const rec = newRecord(op, org, kind, "run", { note: "isolate restart: in-memory caches dropped" });
        rec.invoke = ++clock;
        rec.startMs = Date.now();
        resetKeyCaches();
        coldStart();
        rec.status = 200;
        rec.complete = ++clock;
        rec.endMs = Date.now();
        history.ops.push(rec);
        return;
      }
    }
  }

  async function run(op: ProgramOp, retry?: OpRecord): Promise<void> {
    const before = history.ops.length;
    await execute(op, retry);
    const injected = scopes[op.client]!.injected;
    for (const rec of history.ops.slice(before)) {
      if (rec.client === op.client && rec.index === op.index && injected.length) rec.faults = [...injected];
      if (rec.status >= 500 && (rec.kind === "delete" || rec.kind === "rotate" || rec.kind === "bulk_rotate" || rec.kind === "edit" || rec.kind === "kill_switch")) toRetry.push({ op, rec });
    }
  }

  try {
    // The clients, each running its own operations in program order, all at once.
    const byClient = Array.from({ length: clients }, (_, c) => program.filter((op) => op.client === c));
    await Promise.all(
      byClient.map(async (ops, c) => {
        for (const op of ops) {
          scopes[c]!.begin(op.index);
          await run(op);
        }
      }),
    );

    // Settle: faults off, the IdP up, every grace period over.
    for (const scope of [...scopes, globalScope]) scope.enabled = false;
    await tenant.mode("up");
    // A limiter fault answered "limited" is remembered by the isolate for a second (REFUSAL_MEMO_MS).
    await sleep(1100);
    // Each client retries, once the faults are over, the changes that were answered 5xx (as the
    // API tells it to): a 5xx may have taken effect in part (a revocation logged, KV unchanged).
    for (let i = 0; i < toRetry.length; i++) {
      const { op, rec } = toRetry[i]!;
      if (i > 10_000) break;
      scopes[op.client]!.begin(op.index); // (faults are off: this only clears what the last operation met)
      await run(op, rec);
    }
    const wait = latestEnd - Date.now() + 20;
    if (wait > 0) await sleep(wait);
    // Settle operations are numbered after the whole program, so they never share an index with it.
    const settleBase = program.reduce((max, op) => Math.max(max, op.index), -1) + 1;
    const settleOp = (org: Org, i: number): ProgramOp => ({ ...program[0]!, index: settleBase + i, client: orgs.indexOf(org) });
    let s = 0;
    for (const org of orgs) {
      const rec = newRecord(settleOp(org, s++), org, "list", "settle", { credential: { method: "api_key", org: org.id, subject: org.admin.id } });
      rec.shown = [];
      rec.listComplete = false;
      let cursor: string | null = null;
      const pages: string[] = [];
      for (let page = 0; page < 1000; page++) {
        const probe = newRecord(settleOp(org, s), org, "list", "settle");
        const json = (await call(settleEnv, probe, `${KEYS_API}?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { headers: { "x-api-key": org.admin.key } })) as
          | { data?: unknown; next_cursor?: string | null }
          | undefined;
        history.ops.pop(); // pages are folded into one list operation
        pages.push(probe.body);
        if (probe.bodyLeaks) rec.bodyLeaks = [...(rec.bodyLeaks ?? []), ...probe.bodyLeaks];
        if (probe.status !== 200) {
          Object.assign(rec, { status: probe.status, code: probe.code, headers: probe.headers, contentType: probe.contentType });
          break;
        }
        rec.shown.push(...shownOf(json?.data));
        Object.assign(rec, { status: 200, headers: probe.headers, contentType: probe.contentType, invoke: rec.invoke || probe.invoke, startMs: rec.startMs || probe.startMs });
        Object.assign(rec, { complete: probe.complete, endMs: probe.endMs });
        cursor = json?.next_cursor ?? null;
        if (!cursor) {
          rec.listComplete = true;
          break;
        }
      }
      rec.body = pages.join("\n");
      history.ops.push(rec);
    }
    for (const org of orgs) {
      // A voice call: every grant the workload gives or edits to includes voice.
      for (const key of known.get(org.id)!) await useKey(settleEnv, { ...settleOp(org, s++), pick2: 0.9 }, org, key, "settle");
    }
    (history as { snapshot?: StoreSnapshot }).snapshot = await readSnapshot(new Set(orgs.map((o) => o.id)));
    // The audit log, as each organisation reads it through the API (all pages).
    const audit: AuditRecord[] = [];
    let auditAvailable = true;
    for (const org of orgs) {
      let cursor: string | null = null;
      for (let page = 0; page < 10_000; page++) {
        const probe = newRecord(settleOp(org, s), org, "list", "settle");
        const json = (await call(settleEnv, probe, `${KEYS_API}/audit?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers: { "x-api-key": org.admin.key } })) as
          | { data?: { org_id?: string; action?: string; key_id?: string | null }[]; next_cursor?: string | null }
          | undefined;
        history.ops.pop();
        if (probe.status !== 200 || !Array.isArray(json?.data)) {
          auditAvailable = false;
          break;
        }
        for (const e of json.data) audit.push({ readBy: org.id, org: String(e.org_id), action: String(e.action), keyId: e.key_id ?? null });
        cursor = json.next_cursor ?? null;
        if (!cursor) break;
      }
    }
    if (auditAvailable) (history as { audit?: AuditRecord[] }).audit = audit;
  } finally {
    for (const [i, m] of consoleMethods.entries()) console[m] = saved[i]!;
    restoreFetch();
    restoreCache();
    await tenant.mode("up").catch(() => undefined);
  }

  const results = checkAll(history, CHECK_OPTIONS);
  return {
    seed,
    program,
    operations: history.ops.length,
    requests,
    durationMs: Date.now() - started,
    bindingCalls: counts.calls,
    faults: counts.toJSON(),
    faultTotal: counts.total,
    results,
    violations: results.flatMap((r) => r.violations),
    history,
  };
}

/** Every `h:` and `k:` entry of these organisations, read straight from KV (no injector). */
async function readSnapshot(orgIds: ReadonlySet<string>): Promise<StoreSnapshot> {
  const kv = env.API_KEYS;
  const names = async (prefix: string) => {
    const out: string[] = [];
    let cursor: string | undefined;
    do {
      const page: KVNamespaceListResult<unknown> = await kv.list({ prefix, ...(cursor ? { cursor } : {}) });
      out.push(...page.keys.map((k) => k.name));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return out;
  };
  const values = async (keys: string[]) => {
    const out = new Map<string, string | null>();
    for (let i = 0; i < keys.length; i += 100) for (const [k, v] of await kv.get(keys.slice(i, i + 100), "text")) out.set(k, v);
    return out;
  };
  type Stored = { id: string; org_id: string; expires_at?: string; hash?: string };
  const parse = (text: string | null | undefined): Stored | undefined => {
    try {
      return text ? (JSON.parse(text) as Stored) : undefined;
    } catch {
      return undefined;
    }
  };
  const hashValues = await values(await names("h:"));
  const hashEntries = [...hashValues.values()].flatMap((text) => {
    const r = parse(text);
    return r && orgIds.has(r.org_id) ? [{ id: r.id, org: r.org_id, expiresAt: r.expires_at ?? null }] : [];
  });
  const idValues = await values(await names("k:"));
  const idEntries = [...idValues.values()].flatMap((text) => {
    const r = parse(text);
    if (!r || !orgIds.has(r.org_id)) return [];
    return [{ id: r.id, org: r.org_id, hashPresent: r.hash !== undefined && hashValues.get(`h:${r.hash}`) != null, expiresAt: r.expires_at ?? null }];
  });
  return { atMs: Date.now(), hashEntries, idEntries };
}

/** One line per operation: what a shrunk sequence says to a reader. */
export function describeProgram(ops: readonly ProgramOp[]): string {
  return ops
    .map((op) => {
      const extra = [
        op.kind === "rotate" || op.kind === "bulk_rotate" ? `grace=${op.grace}s` : "",
        op.kind === "bulk_rotate" ? `keys=${op.count}` : "",
        op.kind === "jwks" ? `idp=${op.jwksMode}` : "",
        ["create", "list", "get", "rotate", "bulk_rotate", "delete", "cross_org"].includes(op.kind) ? (op.viaToken ? "as session" : "as admin key") : "",
        ["use", "stream", "get", "rotate", "delete"].includes(op.kind) ? (op.live ? "a live key" : "any known key") : "",
      ].filter(Boolean);
      return `  #${op.index} client ${op.client}: ${op.kind}${extra.length ? ` (${extra.join(", ")})` : ""}`;
    })
    .join("\n");
}

export interface ShrunkFailure {
  readonly invariants: number[];
  readonly ops: ProgramOp[];
  readonly runs: number;
  /** The command that re-runs exactly this sequence. */
  readonly command: string;
}

/**
 * Shrink a failing run to a short sub-program that still violates one of the same invariants
 * (re-running candidates with the same seed, so each operation meets the same faults).
 */
export async function shrinkFailure(report: RunReport, options: Omit<RunOptions, "program">, budget = 24): Promise<ShrunkFailure> {
  // Shrink towards the first violation's invariant: one story, not whichever fails first.
  const invariants = [report.violations[0]!.invariant as number];
  const fails = async (candidate: ProgramOp[]) => {
    const rerun = await runChaos({ ...options, program: candidate });
    return rerun.violations.some((v) => invariants.includes(v.invariant));
  };
  const { ops, runs } = await shrink(report.program, fails, budget);
  const rate = options.faults?.rate;
  const command = `npm run chaos -- --seed ${report.seed} --ops ${report.program.length}${rate !== undefined ? ` --rate ${rate}` : ""}${
    options.faults?.planted ? ` --plant ${options.faults.planted}` : ""
  }${options.faults?.retentionMs ? ` --retention-ms ${options.faults.retentionMs}` : ""} --only ${ops.map((op) => op.index).join(",")}`;
  return { invariants, ops, runs, command };
}

/** The report of a failure: seed, violations, and the shrunk sequence that reproduces it. */
export function describeFailure(report: RunReport, shrunk: ShrunkFailure): string {
  return [
    summarise(report),
    `shortest reproducing sequence found (${shrunk.ops.length} of ${report.program.length} operations, ${shrunk.runs} re-runs), seed ${report.seed}:`,
    describeProgram(shrunk.ops),
    `re-run it: ${shrunk.command}`,
  ].join("\n");
}

/** A short human summary of a report (figures and violations). */
export function summarise(report: RunReport, maxViolations = 10): string {
  const lines = [
    `seed ${report.seed}: ${report.program.length} program ops, ${report.operations} recorded, ${report.requests} requests, ${report.durationMs} ms`,
    `binding calls ${report.bindingCalls}, faults injected ${report.faultTotal}: ${JSON.stringify(report.faults)}`,
    ...report.results.map((r) => `  invariant ${r.invariant} (${r.name}): ${r.checks} checks, ${r.violations.length} violations`),
    ...report.violations.slice(0, maxViolations).map((v) => `  ✗ [${v.invariant}] ${v.message}`),
  ];
  return lines.join("\n");
}
