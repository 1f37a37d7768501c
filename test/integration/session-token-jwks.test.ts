/**
 * The JWKS cache, against a real JWKS served over HTTP by the stand-in IdP (one tenant per test):
 * fetches counted, single flight, the verified-token cache, rotation at the IdP and the unknown-kid
 * cooldown, the IdP down with warm and with cold caches, stale-while-revalidate, and keys that
 * survive a cold start through the Cache API. Time is moved with fake `Date`s only.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resetJwksCacheForTests } from "../../src/auth/jwks-cache";
import {
  bearer,
  coldStart,
  gatewayWith,
  newSigningKey,
  newTenant,
  problem,
  sign,
  type SigningKey,
  type Tenant,
  unique,
  v2Claims,
} from "../helpers/jwt";

const MINUTE = 60_000;
let clock = Date.UTC(2026, 10, 27, 12, 0, 0);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  clock += 24 * 60 * MINUTE; // each test starts on a fresh day: no cooldown or staleness carries over
  vi.setSystemTime(clock);
});
afterEach(() => {
  vi.useRealTimers();
});

const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);

/** A token for `key` that is valid now (fake time), unique so the verified-token cache never answers. */
const tokenFor = (key: SigningKey, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  sign(v2Claims({ sid: unique("sess_"), ...overrides }), key, header);

async function setup(options: { keys?: SigningKey[]; bindings?: Record<string, string> } = {}) {
  const keys = options.keys ?? [await newSigningKey()];
  const tenant = await newTenant(...keys);
  const gateway = gatewayWith({ CLERK_JWKS_URL: tenant.jwksUrl, ...options.bindings });
  return { keys, key: keys[0]!, tenant, gateway };
}

async function expectStatus(res: Response, status: number, code?: string): Promise<void> {
  expect(res.status).toBe(status);
  if (code) expect((await problem(res)).code).toBe(code);
}

async function expectJwksUnavailable(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("www-authenticate")).toBeNull();
  expect(res.headers.get("retry-after")).toBe("5");
  const body = await problem(res);
  expect(body.code).toBe("jwks_unavailable");
  expect(body.detail).toBe("The session-token signing keys are unavailable; retry shortly.");
  expect(JSON.stringify(body)).not.toContain("jwks.json");
}

describe("fetching the JWKS", () => {
  it("many concurrent requests on a cold isolate → one fetch; later requests → none", async () => {
    const { key, tenant, gateway } = await setup();
    const tokens = await Promise.all(Array.from({ length: 25 }, () => tokenFor(key)));
    const responses = await Promise.all(tokens.map((t) => gateway.fetch("/v1/chat", bearer(t))));
    expect(responses.map((r) => r.status)).toEqual(tokens.map(() => 200));
    expect(await tenant.fetches()).toBe(1);

    for (let i = 0; i < 5; i++) await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(1);
  });

  it("a token reused across requests is verified once (verified-token cache)", async () => {
    const { key, gateway } = await setup();
    const token = await tokenFor(key);
    const verify = vi.spyOn(crypto.subtle, "verify");
    try {
      for (let i = 0; i < 5; i++) await expectStatus(await gateway.fetch("/v1/chat", bearer(token)), 200);
      expect(verify).toHaveBeenCalledTimes(1);
      // Another token is verified on its own.
      await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
      expect(verify).toHaveBeenCalledTimes(2);
    } finally {
      verify.mockRestore();
    }
  });

  it("a cached verdict ends at the token's exp and never crosses configs", async () => {
    const { key, tenant, gateway } = await setup();
    const token = await tokenFor(key, { exp: Math.floor(Date.now() / 1000) + 30 });
    await expectStatus(await gateway.fetch("/v1/chat", bearer(token)), 200);
    // Another config (no such azp) must judge the same token itself.
    const strict = gatewayWith({ CLERK_JWKS_URL: tenant.jwksUrl, CLERK_AUTHORIZED_PARTIES: "https://other.test" });
    await expectStatus(await strict.fetch("/v1/chat", bearer(token)), 401, "invalid_token");
    advance(36_000);
    const expired = await gateway.fetch("/v1/chat", bearer(token));
    expect(expired.status).toBe(401);
    expect((await problem(expired)).detail).toBe("The token has expired.");
  });

  it("IdP answers that are not a usable JWKS, on a cold cache → 503 jwks_unavailable", async () => {
    for (const mode of ["down", "error", "garbage", "empty"] as const) {
      const { key, tenant, gateway } = await setup();
      await tenant.mode(mode);
      await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));
      expect(await tenant.fetches()).toBe(1);
    }
  });

  it("a JWKS whose key is for another algorithm → 401", async () => {
    const key = await newSigningKey();
    const tenant = await newTenant();
    await tenant.publishRaw([{ ...key.publicJwk, alg: "RS512" }]);
    const gateway = gatewayWith({ CLERK_JWKS_URL: tenant.jwksUrl });
    const res = await gateway.fetch("/v1/chat", bearer(await tokenFor(key)));
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe("The token's algorithm does not match its key.");
  });

  it("an IdP that hangs is given up after about 2 s → 503", async () => {
    const { key, tenant, gateway } = await setup();
    await tenant.mode("hang", 8_000);
    const token = await tokenFor(key);
    const started = performance.now();
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(token)));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(4_000);
  });
});

describe("rotation at the IdP", () => {
  it("a newly published kid is accepted within the 30 s cooldown; random kids cannot flood the IdP", async () => {
    const old = await newSigningKey();
    const { tenant, gateway } = await setup({ keys: [old] });
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(old))), 200);
    expect(await tenant.fetches()).toBe(1);

    // The IdP publishes a new key; tokens signed with it arrive at once.
    const fresh = await newSigningKey();
    await tenant.publish(old, fresh);
    const early = await gateway.fetch("/v1/chat", bearer(await tokenFor(fresh)));
    expect(early.status).toBe(401);
    expect((await problem(early)).detail).toBe("The token is signed by an unknown key.");
    // Random kids inside the cooldown: refused without a fetch.
    for (let i = 0; i < 20; i++) {
      await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(old, {}, { kid: unique("ins_") }))), 401, "invalid_token");
    }
    expect(await tenant.fetches()).toBe(1);

    advance(30_000);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(fresh))), 200);
    expect(await tenant.fetches()).toBe(2);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(old))), 200);

    // A burst of random kids after the cooldown costs exactly one fetch.
    advance(30_000);
    await Promise.all(
      Array.from({ length: 20 }, async () =>
        expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(old, {}, { kid: unique("ins_") }))), 401),
      ),
    );
    expect(await tenant.fetches()).toBe(3);
  });

  it("a key withdrawn by the IdP stops working after the next refresh", async () => {
    const old = await newSigningKey();
    const fresh = await newSigningKey();
    const { tenant, gateway } = await setup({ keys: [old, fresh] });
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(old))), 200);
    await tenant.publish(fresh);
    advance(6 * MINUTE); // past the fresh window: this request triggers the refresh behind it
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(fresh))), 200);
    expect(await tenant.fetches()).toBe(2);
    const res = await gateway.fetch("/v1/chat", bearer(await tokenFor(old)));
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe("The token is signed by an unknown key.");
  });
});

describe("stale-while-revalidate", () => {
  it("after 5 minutes keys are still served at once while one refresh runs behind the response", async () => {
    const { key, tenant, gateway } = await setup();
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    advance(6 * MINUTE);
    await tenant.mode("hang", 1_500);
    const token = await tokenFor(key);
    const started = performance.now();
    const res = await gateway.fetch("/v1/chat", bearer(token), { settle: false });
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Other requests meanwhile do not start a second refresh.
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key)), { settle: false }), 200);
    await vi.waitFor(async () => expect(await tenant.fetches()).toBe(2), { timeout: 4_000, interval: 100 });
    await new Promise((resolve) => setTimeout(resolve, 1_700));
    expect(await tenant.fetches()).toBe(2);
  });
});

describe("the IdP down", () => {
  it("warm cache: keys keep working up to the maximum staleness (1 h), then 503; unknown kids → 401", async () => {
    const { key, tenant, gateway } = await setup();
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    await tenant.mode("down");

    advance(10 * MINUTE);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(2); // the refresh behind the response failed
    // Failed refreshes are retried at most every 5 s, not on every request.
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(2);

    const stranger = await newSigningKey();
    advance(30_000);
    const unknown = await gateway.fetch("/v1/chat", bearer(await tokenFor(stranger)));
    expect(unknown.status).toBe(401);
    expect((await problem(unknown)).detail).toBe("The token is signed by an unknown key.");

    advance(49 * MINUTE); // 59.5 minutes after the last good fetch
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    advance(1 * MINUTE); // past the maximum staleness
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));

    // Back up: the next attempt (after the 5 s backoff) recovers.
    await tenant.mode("up");
    advance(5_000);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
  });

  it("the maximum staleness is configurable (CLERK_JWKS_MAX_STALENESS_SECONDS)", async () => {
    const { key, tenant, gateway } = await setup({ bindings: { CLERK_JWKS_MAX_STALENESS_SECONDS: "600" } });
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    await tenant.mode("down");
    advance(9 * MINUTE);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    advance(2 * MINUTE);
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));
  });

  it("cold cache: 503 jwks_unavailable, and a down IdP is not retried on every request", async () => {
    const { key, tenant, gateway } = await setup();
    await tenant.mode("down");
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));
    expect(await tenant.fetches()).toBe(1);
    advance(5_000);
    await tenant.mode("up");
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(2);
  });
});

describe("keys that survive the edge (Cache API)", () => {
  it("a cold start finds the keys persisted by an earlier isolate: no fetch, even with the IdP down", async () => {
    const { key, tenant, gateway } = await setup();
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(1);

    coldStart();
    await tenant.mode("down");
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(1);

    // Persisted keys age from their original fetch: past the maximum staleness they are not used.
    resetJwksCacheForTests();
    advance(61 * MINUTE);
    await expectJwksUnavailable(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))));
  });

  it("persisted keys older than 5 minutes are used at once and refreshed behind the response", async () => {
    const { key, tenant, gateway } = await setup();
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    coldStart();
    advance(6 * MINUTE);
    await expectStatus(await gateway.fetch("/v1/chat", bearer(await tokenFor(key))), 200);
    expect(await tenant.fetches()).toBe(2);
  });
});
