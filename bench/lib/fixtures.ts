// What the scenarios send: keys issued into the gateway's KV by the gateway's own code (`createKey`,
// so the layout is the store's, not a copy), unknown and malformed keys, and session tokens.
import type { Miniflare } from "miniflare";
import { BASE62, generateKey, issuePrefixFor } from "../../src/keys/format";
import { createKey } from "../../src/keys/service";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { expandScopes } from "../../src/scopes";
import { type BenchIdp, signSessionToken } from "./tokens";

/** The organisation every bench credential belongs to. */
export const BENCH_ORG = "org_bench0001";
export const BENCH_USER = "user_bench0001";

/** Credentials and facts the scenarios need. */
export interface Fixtures {
  /** A key with chat scopes, used again and again (the warm path). */
  readonly chatKey: string;
  readonly chatKeyId: string;
  /** A key allowed to list keys (`api-keys:read`). */
  readonly listKey: string;
  /** Keys in the organisation, as the list returns them. */
  readonly orgKeyCount: number;
  /** Well-formed keys (good checksum) that were never issued. */
  readonly unknownKeys: readonly string[];
  /** Keys whose checksum is wrong. */
  readonly malformedKeys: readonly string[];
  /** A fresh session token for the bench organisation (admin role). */
  sessionToken(): Promise<string>;
}

/** The gateway's KV namespace as Miniflare hands it to Node. */
export type MiniflareKv = Awaited<ReturnType<Miniflare["getKVNamespace"]>>;

export interface FixtureOptions {
  readonly kv: MiniflareKv;
  readonly environment: string;
  readonly pepper: string;
  readonly idp: BenchIdp;
  readonly issuer: string;
  readonly authorizedParty: string;
  readonly unknownKeyCount: number;
  /** Extra keys in the organisation, so the list returns a realistic page. */
  readonly extraOrgKeys: number;
  /** Lifetime of each session token minted; Clerk's are 60 s. */
  readonly tokenLifetimeSeconds: number;
}

/** A key whose checksum is wrong in its last character: well-shaped, refused before any lookup. */
export function withBadChecksum(key: string): string {
  const last = key.at(-1)!;
  const replacement = BASE62[(BASE62.indexOf(last) + 1) % BASE62.length]!;
  return key.slice(0, -1) + replacement;
}

/** Seed keys through the gateway's own issuance code (`createKey`) and make the scenario credentials. */
export async function createFixtures(options: FixtureOptions): Promise<Fixtures> {
  const prefix = issuePrefixFor(options.environment);
  const store = new KeyStore(kvFromBinding(options.kv as unknown as KVNamespace));
  const operator = { orgId: BENCH_ORG, scopes: expandScopes(["*"]), createdBy: { method: "operator" as const, id: "bench" } };
  let clock = Date.now() - 60_000;

  async function seedKey(name: string, scopes: string[]): Promise<{ key: string; id: string }> {
    // Distinct creation times keep the organisation index's order stable.
    const now = (clock += 1000);
    const created = await createKey({ store, pepper: options.pepper, prefix, now: () => now }, operator, { name, scopes });
    return { key: created.key, id: created.id };
  }

  const chat = await seedKey("bench chat", ["chat:write"]);
  const list = await seedKey("bench key admin", ["api-keys:read"]);
  for (let i = 0; i < options.extraOrgKeys; i++) await seedKey(`bench extra ${i}`, ["read-only"]);

  const unknownKeys = Array.from({ length: options.unknownKeyCount }, () => generateKey(prefix));
  const malformedKeys = unknownKeys.map(withBadChecksum);

  return {
    chatKey: chat.key,
    chatKeyId: chat.id,
    listKey: list.key,
    orgKeyCount: 2 + options.extraOrgKeys,
    unknownKeys,
    malformedKeys,
    sessionToken: () =>
      signSessionToken(options.idp, {
        issuer: options.issuer,
        authorizedParty: options.authorizedParty,
        userId: BENCH_USER,
        orgId: BENCH_ORG,
        role: "admin",
        lifetimeSeconds: options.tokenLifetimeSeconds,
      }),
  };
}
