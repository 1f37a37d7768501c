/**
 * API key format: `pk_live_` | `pk_test_` + 30 random base62 characters (178 bits from
 * `crypto.getRandomValues`) + a 6-character base62 CRC32 of everything before it.
 *
 *     pk_test_ RRRRRRRRRRRRRRRRRRRRRRRRRRRRRR CCCCCC   (44 characters, no separators)
 *     prefix   random (30)                    CRC32
 *
 * The checksum lets the gateway refuse a mistyped, truncated or invented key before any cache or
 * KV lookup, and lets secret scanners recognise a key with few false positives (GitHub's scheme).
 * Pure functions only.
 */

export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** The prefixes a key can carry: `pk_live_` is issued in production, `pk_test_` everywhere else. */
export const KEY_PREFIXES = ["pk_live_", "pk_test_"] as const;
export type KeyPrefix = (typeof KEY_PREFIXES)[number];

/** Random base62 characters in a key (30 × log2(62) ≈ 178.6 bits). */
export const KEY_RANDOM_LENGTH = 30;
/** Base62 characters of the CRC32 checksum (62^6 > 2^32). */
export const KEY_CHECKSUM_LENGTH = 6;
/** Length of every key: prefix + random + checksum. */
export const KEY_LENGTH = 8 + KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH;

/** Random base62 characters in a key id after `key_` (≈ 143 bits; never derived from the secret). */
export const KEY_ID_RANDOM_LENGTH = 24;

const KEY_ID = new RegExp(`^key_[0-9A-Za-z]{${KEY_ID_RANDOM_LENGTH}}$`);
const KEY_BODY = new RegExp(`^[0-9A-Za-z]{${KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH}}$`);

/** The key prefix a deployment issues and accepts. */
export function issuePrefixFor(environment: string): KeyPrefix {
  return environment === "production" ? "pk_live_" : "pk_test_";
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as in zlib) of an ASCII string. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** `value` in base62, left-padded with `0` to `width` characters. */
export function toBase62(value: number, width: number): string {
  let out = "";
  let n = value;
  while (n > 0) {
    out = BASE62[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(width, "0");
}

/** The checksum characters for a key's prefix and random part. */
export function keyChecksum(prefixAndRandom: string): string {
  return toBase62(crc32(prefixAndRandom), KEY_CHECKSUM_LENGTH);
}

/** `length` uniformly random base62 characters from `crypto.getRandomValues` (rejection sampling, no modulo bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const byte of bytes) {
      // 248 = 4 × 62: bytes above it would favour the first characters.
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new API key with the given prefix. */
export function generateKey(prefix: KeyPrefix): string {
  const body = prefix + randomBase62(KEY_RANDOM_LENGTH);
  return body + keyChecksum(body);
}

/** A new opaque key id, `key_` + random base62. */
export function generateKeyId(): string {
  return `key_${randomBase62(KEY_ID_RANDOM_LENGTH)}`;
}

/** True when `id` has the shape of a key id. */
export function isKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/** Why a presented key was refused before any lookup. */
export type KeyFormatError = "malformed" | "wrong_environment" | "bad_checksum";

/** Check a presented key's shape, prefix and checksum; no I/O. */
export function checkKeyFormat(key: string, expectedPrefix: KeyPrefix): { ok: true } | { ok: false; error: KeyFormatError } {
  const prefix = KEY_PREFIXES.find((p) => key.startsWith(p));
  if (prefix === undefined) return { ok: false, error: "malformed" };
  if (prefix !== expectedPrefix) return { ok: false, error: "wrong_environment" };
  const body = key.slice(prefix.length);
  if (!KEY_BODY.test(body)) return { ok: false, error: "malformed" };
  const cut = key.length - KEY_CHECKSUM_LENGTH;
  if (keyChecksum(key.slice(0, cut)) !== key.slice(cut)) return { ok: false, error: "bad_checksum" };
  return { ok: true };
}

/** What a list shows to recognise a key: its prefix and last four characters, e.g. `pk_test_...sW9x`. */
export function keyHint(key: string): string {
  const prefix = KEY_PREFIXES.find((p) => key.startsWith(p)) ?? "";
  return `${prefix}...${key.slice(-4)}`;
}
