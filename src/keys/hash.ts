/**
 * Keys are stored under HMAC-SHA256(pepper, key), never in plaintext. With a pepper (a Worker
 * secret kept apart from KV), a copy of the KV namespace alone cannot be used to test guessed
 * keys; plain SHA-256 could be. Keys carry 178 random bits, so a slow password hash buys nothing.
 */

import { toHex } from "../hex";

const encoder = new TextEncoder();

// Importing a CryptoKey costs more than an HMAC: import once per pepper per isolate, and keep the
// imported key itself so a warm request does not wait a microtask for it.
const MAX_PEPPERS = 4;
const hmacKeys = new Map<string, Promise<CryptoKey>>();
const importedKeys = new Map<string, CryptoKey>();

function hmacKey(pepper: string): Promise<CryptoKey> {
  let key = hmacKeys.get(pepper);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    if (hmacKeys.size >= MAX_PEPPERS) {
      hmacKeys.clear();
      importedKeys.clear();
    }
    hmacKeys.set(pepper, key);
    key.then((imported) => hmacKeys.get(pepper) === key && importedKeys.set(pepper, imported)).catch(() => hmacKeys.delete(pepper));
  }
  return key;
}

async function hmacHex(pepper: string, message: string): Promise<string> {
  const key = importedKeys.get(pepper) ?? (await hmacKey(pepper));
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message))));
}

/** The KV lookup hash of a key: lowercase hex HMAC-SHA256(pepper, key). */
export function hashKey(key: string, pepper: string): Promise<string> {
  return hmacHex(pepper, key);
}

/**
 * A tag binding a list cursor to one organisation, so a cursor is accepted only from whoever it
 * was issued to. The `cursor:` domain cannot collide with a key (keys start with `pk_`).
 */
export async function cursorTag(pepper: string, orgId: string, cursor: string): Promise<string> {
  return (await hmacHex(pepper, `cursor:${orgId}:${cursor}`)).slice(0, 32);
}

/** The fixed label whose HMAC under the pepper fingerprints it (docs/operations.md, pepper rotation). */
export const PEPPER_FINGERPRINT_LABEL = "agntix api-key pepper fingerprint v1";

/** The pepper's fingerprint: hex HMAC-SHA256(pepper, fixed label). Reveals nothing usable about the pepper. */
export function pepperFingerprint(pepper: string): Promise<string> {
  return hmacHex(pepper, PEPPER_FINGERPRINT_LABEL);
}
