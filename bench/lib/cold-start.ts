// Cold start: the first request of a fresh isolate, with the key already in KV and the JWKS
// already in the Cache API (as a deployment's location has them), timed from the client. Each
// sample is a new workerd process over the same persisted KV and cache, so nothing of the isolate
// survives between samples; the median over samples is reported.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GatewayBuild, GATEWAY, startCluster } from "./cluster";
import { createFixtures } from "./fixtures";
import { median, quantile } from "./stats";
import { CHAT_PATH } from "./scenarios";
import { createIdp } from "./tokens";

export interface ColdStartReport {
  readonly samples: readonly { scenario: string; firstMs: number; status: number; startMs: number }[];
  readonly scenarios: readonly { name: string; medianMs: number; p90Ms: number }[];
  /** Median time for Miniflare to start workerd and report ready (not part of the request). */
  readonly startMedianMs: number;
}

export async function measureColdStarts(options: { build: GatewayBuild; count: number; log: (m: string) => void }): Promise<ColdStartReport> {
  const { build, count, log } = options;
  const persistDir = mkdtempSync(join(tmpdir(), "agntix-cold-"));
  const pepper = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  const idp = await createIdp();
  const base = { build, extraBindings: { API_KEY_PEPPER: pepper }, jwks: idp.jwks, persistDir };
  try {
    // Seed the key and warm the JWKS into the persisted Cache API with one token request.
    const seed = await startCluster(base);
    let credentials: { key: string; token: () => Promise<string> };
    try {
      const fixtures = await createFixtures({
        kv: await seed.mf.getKVNamespace("API_KEYS", GATEWAY),
        environment: build.vars["ENVIRONMENT"] ?? build.env,
        pepper,
        idp,
        issuer: build.vars["CLERK_ISSUER"] ?? "",
        authorizedParty: (build.vars["CLERK_AUTHORIZED_PARTIES"] ?? "").split(",")[0]!.trim(),
        unknownKeyCount: 0,
        extraOrgKeys: 0,
        tokenLifetimeSeconds: 600,
      });
      credentials = { key: fixtures.chatKey, token: fixtures.sessionToken };
      const warm = await fetch(seed.gatewayUrl + CHAT_PATH, { headers: { authorization: `Bearer ${await credentials.token()}` } });
      await warm.arrayBuffer();
      if (warm.status !== 200) throw new Error(`cold-start seeding: token request answered ${warm.status}`);
    } finally {
      await seed.dispose();
    }

    const samples: { scenario: string; firstMs: number; status: number; startMs: number }[] = [];
    const kinds = [
      { scenario: "warm-key", headers: async () => ({ "x-api-key": credentials.key }) },
      { scenario: "warm-token", headers: async () => ({ authorization: `Bearer ${await credentials.token()}` }) },
    ];
    for (let i = 0; i < count; i++) {
      for (const kind of kinds) {
        const headers = await kind.headers();
        const started = performance.now();
        const cluster = await startCluster(base);
        const ready = performance.now();
        try {
          const t0 = performance.now();
          const response = await fetch(cluster.gatewayUrl + CHAT_PATH, { headers });
          await response.arrayBuffer();
          samples.push({ scenario: kind.scenario, firstMs: performance.now() - t0, status: response.status, startMs: ready - started });
        } finally {
          await cluster.dispose();
        }
      }
    }
    const wrong = samples.filter((s) => s.status !== 200);
    if (wrong.length > 0) throw new Error(`cold start: ${wrong.length} first requests were not 200 (${wrong[0]!.status})`);
    log(`cold start: ${count} fresh workerd processes per credential kind`);
    return {
      samples,
      scenarios: kinds.map((k) => {
        const ms = samples.filter((s) => s.scenario === k.scenario).map((s) => s.firstMs);
        return { name: k.scenario, medianMs: median(ms), p90Ms: quantile(ms, 0.9) };
      }),
      startMedianMs: median(samples.map((s) => s.startMs)),
    };
  } finally {
    rmSync(persistDir, { recursive: true, force: true });
  }
}
