/**
 * `npm run bench:micro`: µs per call of the gateway's hot functions, in Node (tinybench).
 *
 * The gateway's own modules, unbundled, with the Workers platform stubbed where Node lacks it:
 * KV is an in-memory map (a resolved promise per read), `caches.default` (revocation markers,
 * JWKS persistence) always misses, and `fetch` serves the bench's JWKS. So these figures are the
 * JavaScript and WebCrypto cost of each step; what the platform's I/O costs shows in
 * `npm run bench`, which runs the deployed bundle on workerd.
 *
 *   npm run bench:micro                 # ~15 s
 *   npm run bench:micro -- --quick      # ~4 s
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Bench } from "tinybench";
import { verifyApiKey } from "../src/auth/api-key";
import { requireScopes } from "../src/auth/authenticate";
import { readCredential } from "../src/auth/credentials";
import type { VerifierDeps } from "../src/auth/deps";
import { resetJwksCacheForTests } from "../src/auth/jwks-cache";
import { resetVerifiedTokensForTests, verifySessionToken } from "../src/auth/session-token";
import { tokenDigest } from "../src/auth/verified-tokens";
import { type Bindings, parseConfig } from "../src/env";
import { resetKeyCaches } from "../src/keys/cache";
import { checkKeyFormat, generateKey } from "../src/keys/format";
import { hashKey } from "../src/keys/hash";
import { createKey } from "../src/keys/service";
import { KeyStore, kvFromBinding } from "../src/keys/store";
import { upstreamHeaders } from "../src/proxy/forward";
import { expandScopes } from "../src/scopes";
import { ROOT } from "./lib/cluster";
import { BENCH_ORG, BENCH_USER } from "./lib/fixtures";
import { markdownTable } from "./lib/stats";
import { createIdp, signSessionToken } from "./lib/tokens";

const { values: flags } = parseArgs({
  options: { quick: { type: "boolean", default: false }, out: { type: "string" } },
  strict: true,
});

// ----------------------------------------------------------------------------------------------
// The platform, stubbed

/** An in-memory KV namespace: what the key store calls, each read a resolved promise. */
function memoryKv(): KVNamespace {
  const data = new Map<string, { value: string; metadata?: unknown }>();
  const kv = {
    async get(key: string | string[]) {
      if (Array.isArray(key)) return new Map(key.map((k) => [k, data.get(k)?.value ?? null]));
      return data.get(key)?.value ?? null;
    },
    async put(key: string, value: string, options?: { metadata?: unknown }) {
      data.set(key, { value, metadata: options?.metadata });
    },
    async delete(key: string) {
      data.delete(key);
    },
    async list({ prefix = "", limit = 1000 }: { prefix?: string; limit?: number } = {}) {
      const keys = [...data.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, limit);
      return { keys: keys.map((name) => ({ name, metadata: data.get(name)?.metadata })), list_complete: true, cacheStatus: null };
    },
  };
  return kv as unknown as KVNamespace;
}

// `caches.default` always misses: no revocation marker, no persisted JWKS.
(globalThis as unknown as { caches: unknown }).caches = {
  default: { match: async () => undefined, put: async () => undefined, delete: async () => false },
};

const idp = await createIdp("micro-kid");
const issuer = "https://clerk.micro.agntix.test";
const party = "https://app.micro.agntix.test";
const jwksUrl = `${issuer}/.well-known/jwks.json`;
let jwksFetches = 0;
globalThis.fetch = (async (input: RequestInfo | URL) => {
  const url = input instanceof Request ? input.url : String(input);
  if (url !== jwksUrl) throw new Error(`unexpected fetch ${url}`);
  jwksFetches++;
  return new Response(idp.jwks, { headers: { "content-type": "application/json" } });
}) as typeof fetch;

const kv = memoryKv();
const env = {
  ENVIRONMENT: "production",
  CLERK_ISSUER: issuer,
  CLERK_AUTHORIZED_PARTIES: party,
  API_KEY_PEPPER: "micro-pepper-0123456789abcdef0123456789abcdef",
  API_KEYS: kv,
  CHAT: {} as Fetcher,
  VOICE: {} as Fetcher,
} as Bindings;
const config = parseConfig(env);
const deps: VerifierDeps = { env, config, ctx: { waitUntil: () => undefined } };

const store = new KeyStore(kvFromBinding(kv));
const operator = { orgId: BENCH_ORG, scopes: expandScopes(["*"]), createdBy: { method: "operator" as const, id: "micro" } };
const { key } = await createKey({ store, pepper: config.apiKeys.pepper, prefix: config.apiKeys.issuePrefix }, operator, {
  name: "micro",
  scopes: ["chat:write"],
});
const unknownKey = generateKey(config.apiKeys.issuePrefix);
const token = await signSessionToken(idp, { issuer, authorizedParty: party, userId: BENCH_USER, orgId: BENCH_ORG, role: "admin", lifetimeSeconds: 3600 });
const headers = new Headers({ "x-api-key": key, accept: "application/json", "user-agent": "micro", "content-type": "application/json" });
const principal = await verifyApiKey(key, deps);

// ----------------------------------------------------------------------------------------------
// Tasks

const bench = new Bench({ time: flags.quick ? 150 : 600, warmupTime: flags.quick ? 30 : 100, throws: true });
const notes = new Map<string, string>();
function task(name: string, note: string, fn: () => unknown, hooks: { beforeEach?: () => void } = {}) {
  notes.set(name, note);
  bench.add(name, fn, hooks);
}

task("key format + checksum", "checkKeyFormat: prefix, shape, CRC32 (no I/O)", () => checkKeyFormat(key, config.apiKeys.issuePrefix));
task("credential parsing", "readCredential on a request's headers", () => readCredential(headers));
task("key HMAC", "hashKey: HMAC-SHA256(pepper, key) → hex, imported key cached", () => hashKey(key, config.apiKeys.pepper));
task("key verification, warm", "verifyApiKey, record in the isolate cache (marker lookup stubbed)", () => verifyApiKey(key, deps));
task("key verification, cold", "verifyApiKey after a cache reset: HMAC + one KV read + record parse", () => verifyApiKey(key, deps), {
  beforeEach: resetKeyCaches,
});
task("unknown key, negative-cached", "verifyApiKey of an unknown key already in the negative cache", () =>
  verifyApiKey(unknownKey, deps).then(
    () => {
      throw new Error("unknown key accepted");
    },
    () => undefined,
  ),
);
task("token digest", "tokenDigest: SHA-256 of the token (the verified-token cache key)", () => tokenDigest(token));
task("token verification, warm", "verifySessionToken, token in the verified-token cache", () => verifySessionToken(token, deps));
task("token verification, cold", "after a verified-token reset: header, RS256 signature, claims (JWKS key cached)", () => verifySessionToken(token, deps), {
  beforeEach: resetVerifiedTokensForTests,
});
task(
  "token verification, cold isolate",
  "after resetting the JWKS cache too: JWKS fetch (stubbed) + parse + key import + signature + claims",
  () => verifySessionToken(token, deps),
  {
    beforeEach: () => {
      resetVerifiedTokensForTests();
      resetJwksCacheForTests();
    },
  },
);
task("scope check", "requireScopes(principal, [chat:write])", () => requireScopes(principal, ["chat:write"]));
task("upstream headers", "upstreamHeaders: copy, strip credentials and hop-by-hop, add identity", () =>
  upstreamHeaders(headers, principal, "req-1"),
);

// ----------------------------------------------------------------------------------------------
// Run and report

await verifyApiKey(unknownKey, deps).catch(() => undefined); // fill the negative cache once
const started = Date.now();
await bench.run();
const rows = bench.tasks.map((t) => {
  const result = t.result;
  if (result.state !== "completed") throw new Error(`${t.name}: ${result.state}`);
  return {
    name: t.name,
    what: notes.get(t.name) ?? "",
    meanUs: result.latency.mean * 1000,
    p50Us: result.latency.p50 * 1000,
    p99Us: result.latency.p99 * 1000,
    samples: result.latency.samples?.length ?? Math.round(result.totalTime / result.latency.mean),
  };
});
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
console.log(
  `\n${markdownTable(
    ["function", "p50 µs", "mean µs", "p99 µs", "what it covers"],
    rows.map((r) => [r.name, fmt(r.p50Us), fmt(r.meanUs), fmt(r.p99Us), r.what]),
    new Set([4]),
  )}\n`,
);
console.log(`Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}; ${((Date.now() - started) / 1000).toFixed(0)} s; JWKS fetches (stubbed): ${jwksFetches}`);
const out = flags.out ?? join(ROOT, "bench", "results", `micro-${new Date(started).toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(join(out, ".."), { recursive: true });
writeFileSync(out, `${JSON.stringify({ schema: 1, startedAt: new Date(started).toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, rows }, null, 2)}\n`);
console.log(`results written to ${out}`);
