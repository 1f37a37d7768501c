import { describe, expect, it } from "vitest";
import {
  BASE62,
  checkKeyFormat,
  crc32,
  generateKey,
  generateKeyId,
  isKeyId,
  issuePrefixFor,
  KEY_LENGTH,
  keyChecksum,
  keyHint,
  randomBase62,
  toBase62,
} from "../../src/keys/format";

// A fixed, well-formed test key (computed, not issued anywhere).
const BODY = "pk_test_" + "abcdefghijABCDEFGHIJ0123456789";
const KEY = BODY + keyChecksum(BODY);

describe("crc32 and base62", () => {
  it.each([
    ["", 0],
    ["123456789", 0xcbf43926],
    ["The quick brown fox jumps over the lazy dog", 0x414fa339],
  ])("crc32(%j) = %i", (text, crc) => {
    expect(crc32(text)).toBe(crc);
  });

  it.each([
    [0, "000000"],
    [61, "00000z"],
    [62, "000010"],
    [0xcbf43926, "3jZRME"],
    [0xffffffff, "4gfFC3"],
  ])("toBase62(%i, 6) = %s", (value, text) => {
    expect(toBase62(value, 6)).toBe(text);
  });
});

describe("generateKey", () => {
  it.each(["pk_live_", "pk_test_"] as const)("issues %s keys of the documented shape that pass their own check", (prefix) => {
    const key = generateKey(prefix);
    expect(key).toMatch(new RegExp(`^${prefix}[0-9A-Za-z]{36}$`));
    expect(key).toHaveLength(KEY_LENGTH);
    expect(checkKeyFormat(key, prefix)).toEqual({ ok: true });
  });

  it("never repeats (1,000 keys)", () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateKey("pk_test_")));
    expect(keys.size).toBe(1000);
  });

  it("draws every base62 character", () => {
    const seen = new Set(randomBase62(5000));
    expect(seen.size).toBe(62);
    expect([...seen].every((ch) => BASE62.includes(ch))).toBe(true);
  });
});

describe("checkKeyFormat", () => {
  it.each([
    ["the fixed test key", KEY, { ok: true }],
    ["an empty string", "", { ok: false, error: "malformed" }],
    ["the prefix alone", "pk_test_", { ok: false, error: "malformed" }],
    ["another vendor's prefix", "sk_test_" + KEY.slice(8), { ok: false, error: "malformed" }],
    ["an upper-case prefix", "PK_TEST_" + KEY.slice(8), { ok: false, error: "malformed" }],
    ["a production key on a test deployment", "pk_live_" + KEY.slice(8), { ok: false, error: "wrong_environment" }],
    ["a truncated key", KEY.slice(0, -1), { ok: false, error: "malformed" }],
    ["a key with an extra character", KEY + "a", { ok: false, error: "malformed" }],
    ["a key with a non-base62 character", KEY.slice(0, 20) + "-" + KEY.slice(21), { ok: false, error: "malformed" }],
    ["a key with surrounding space", ` ${KEY}`, { ok: false, error: "malformed" }],
    ["a mistyped random character", KEY.slice(0, 10) + (KEY[10] === "c" ? "d" : "c") + KEY.slice(11), { ok: false, error: "bad_checksum" }],
    ["a mistyped checksum character", KEY.slice(0, -1) + (KEY.endsWith("0") ? "1" : "0"), { ok: false, error: "bad_checksum" }],
    ["two swapped characters", KEY.slice(0, 8) + KEY[9] + KEY[8] + KEY.slice(10), { ok: false, error: "bad_checksum" }],
    ["an invented key of the right shape", "pk_test_" + "A".repeat(36), { ok: false, error: "bad_checksum" }],
  ])("%s", (_label, key, expected) => {
    expect(checkKeyFormat(key, "pk_test_")).toEqual(expected);
  });

  it("refuses a test key on a production deployment", () => {
    expect(checkKeyFormat(KEY, "pk_live_")).toEqual({ ok: false, error: "wrong_environment" });
  });

  it("detects every single-character substitution in a key", () => {
    const key = generateKey("pk_test_");
    for (let i = 8; i < key.length; i++) {
      for (const ch of "0aZ") {
        if (key[i] === ch) continue;
        const typo = key.slice(0, i) + ch + key.slice(i + 1);
        expect(checkKeyFormat(typo, "pk_test_")).toEqual({ ok: false, error: "bad_checksum" });
      }
    }
  });
});

describe("ids, hints, prefixes", () => {
  it("key ids are opaque key_ + 24 base62 characters", () => {
    const id = generateKeyId();
    expect(id).toMatch(/^key_[0-9A-Za-z]{24}$/);
    expect(isKeyId(id)).toBe(true);
  });

  it.each(["", "key_", "key_short", "KEY_" + "a".repeat(24), "key_" + "a".repeat(23) + "-", "key_" + "a".repeat(25), "rotate"])(
    "isKeyId(%j) is false",
    (id) => {
      expect(isKeyId(id)).toBe(false);
    },
  );

  it("the hint is the prefix and the last four characters only", () => {
    expect(keyHint(KEY)).toBe(`pk_test_...${KEY.slice(-4)}`);
  });

  it.each([
    ["production", "pk_live_"],
    ["staging", "pk_test_"],
    ["development", "pk_test_"],
  ])("%s issues %s keys", (environment, prefix) => {
    expect(issuePrefixFor(environment)).toBe(prefix);
  });
});
