import { describe, expect, it } from "vitest";
import { parseJwks } from "../../src/auth/jwks-cache";
import { DEVELOPMENT_PUBLIC_KEY_SPKI, isDevelopmentPublicKey } from "../../src/env";
import { tokenDigest } from "../../src/auth/verified-tokens";
import { TtlLru } from "../../src/ttl-lru";
import devPublicPem from "../../examples/dev-keys/development-only.public.pem?raw";

describe("TtlLru with a per-entry expiry (verified session tokens)", () => {
  it("returns an entry until its expiry, then forgets it", () => {
    const cache = new TtlLru<string, string>(10, 60_000);
    cache.set("a", "A", 1_000, 1_000 + 30_000);
    expect(cache.get("a", 1_000)).toBe("A");
    expect(cache.get("a", 30_999)).toBe("A");
    expect(cache.get("a", 31_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
  it("caps an entry's life at maxTtl whatever the token's exp", () => {
    const cache = new TtlLru<string, string>(10, 60_000);
    cache.set("a", "A", 0, 10_000_000);
    expect(cache.get("a", 59_999)).toBe("A");
    expect(cache.get("a", 60_000)).toBeUndefined();
  });
  it("does not store what has already expired", () => {
    const cache = new TtlLru<string, string>(10, 60_000);
    cache.set("a", "A", 1_000, 1_000);
    expect(cache.size).toBe(0);
  });
  it("holds at most maxEntries, evicting the least recently used", () => {
    const cache = new TtlLru<string, string>(3, 60_000);
    for (const k of ["a", "b", "c"]) cache.set(k, k.toUpperCase(), 0, 50_000);
    expect(cache.get("a", 1)).toBe("A"); // a is now the most recently used
    cache.set("d", "D", 1, 50_000);
    expect(cache.size).toBe(3);
    expect(cache.get("b", 2)).toBeUndefined();
    expect(cache.get("a", 2)).toBe("A");
    expect(cache.get("c", 2)).toBe("C");
    expect(cache.get("d", 2)).toBe("D");
  });
});

describe("tokenDigest", () => {
  it("is the hex SHA-256, never the token", async () => {
    // SHA-256("abc") = ba7816bf…
    expect(await tokenDigest("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(await tokenDigest("abd")).not.toBe(await tokenDigest("abc"));
  });
});

describe("parseJwks", () => {
  const rsa = { kty: "RSA", kid: "k1", n: "AQAB", e: "AQAB", alg: "RS256", use: "sig" };
  it.each<{ name: string; doc: unknown; kids: string[] }>([
    { name: "a usable RSA key", doc: { keys: [rsa] }, kids: ["k1"] },
    { name: "EC and OKP keys", doc: { keys: [{ kty: "EC", kid: "e" }, { kty: "OKP", kid: "o" }] }, kids: ["e", "o"] },
    { name: "no keys member", doc: { nope: [] }, kids: [] },
    { name: "not an object", doc: "keys", kids: [] },
    { name: "null", doc: null, kids: [] },
    { name: "keys not a list", doc: { keys: rsa }, kids: [] },
    { name: "a key without kid", doc: { keys: [{ ...rsa, kid: undefined }] }, kids: [] },
    { name: "a symmetric key", doc: { keys: [{ kty: "oct", kid: "s", k: "c2VjcmV0" }] }, kids: [] },
    { name: "an encryption key", doc: { keys: [{ ...rsa, use: "enc" }] }, kids: [] },
    { name: "key_ops without verify", doc: { keys: [{ ...rsa, key_ops: ["encrypt"] }] }, kids: [] },
    { name: "key_ops with verify", doc: { keys: [{ ...rsa, key_ops: ["verify"] }] }, kids: ["k1"] },
    { name: "a duplicate kid keeps the first", doc: { keys: [rsa, { ...rsa, n: "other" }] }, kids: ["k1"] },
    { name: "junk entries are skipped", doc: { keys: [null, 3, "x", rsa] }, kids: ["k1"] },
  ])("$name", ({ doc, kids }) => {
    const keys = parseJwks(doc);
    expect([...keys.keys()]).toEqual(kids);
    if (kids.includes("k1")) expect(keys.get("k1")?.n).toBe("AQAB");
  });
  it("drops private members", () => {
    const keys = parseJwks({ keys: [{ ...rsa, d: "secret", p: "x", q: "y", dp: "a", dq: "b", qi: "c" }] });
    expect(Object.keys(keys.get("k1")!).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
  });
});

describe("the committed development key", () => {
  it("is recognised in any PEM layout", () => {
    expect(isDevelopmentPublicKey(devPublicPem)).toBe(true);
    expect(isDevelopmentPublicKey(devPublicPem.replace(/\n/g, "\r\n"))).toBe(true);
    expect(isDevelopmentPublicKey(`-----BEGIN PUBLIC KEY-----\n${DEVELOPMENT_PUBLIC_KEY_SPKI}\n-----END PUBLIC KEY-----`)).toBe(true);
  });
  it("is not any other key", () => {
    expect(isDevelopmentPublicKey(devPublicPem.replace("6QIDAQAB", "6QIDAQAC"))).toBe(false);
  });
});
