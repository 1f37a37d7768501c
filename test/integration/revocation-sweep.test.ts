// A deleted key must never work again, even after the revocation log forgets its entry. The
// 50,000-operation chaos run (docs/reliability.md) saw a key deleted with 204 accepted again
// 2,326 s later: an edit that read the key before the delete wrote it back after, could not ask
// the log whether it had been revoked meanwhile (503), and left the record in KV; the log refused
// the key for its retention (600 s), then pruned the entry, and the record was trusted again.
// The log now drops an entry only after its sweep saw KV hold none of the keys it revokes.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors";
import { resetKeyCaches } from "../../src/keys/cache";
import { createKey, deleteKey, revokeOrganization, updateKey } from "../../src/keys/service";
import { KeyStore, kvFromBinding, type StoredKey } from "../../src/keys/store";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { operator, seedKey, serviceDeps } from "../helpers/keys";

const stub = () => env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME));
const store = new KeyStore(kvFromBinding(env.API_KEYS));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Another revocation reaching the log once `retentionMs` has passed for every entry before it. */
async function appendAfterRetention(retentionMs: number): Promise<void> {
  await sleep(retentionMs + 5);
  await stub().append([{ kind: "grants", subject: "h_other", not_after: Date.now(), grants: [], reason: "edit" }], retentionMs);
}

const refusedFrom = (stored: StoredKey) => stub().refusedFrom(stored.hash, stored.org_id, Date.parse(stored.created_at));

/** A key store whose `update` waits at a gate: the edit has read the key, its write comes later. */
class GatedStore extends KeyStore {
  readonly reached: Promise<void>;
  #arrive!: () => void;
  #release!: () => void;
  readonly #gate = new Promise<void>((resolve) => (this.#release = resolve));
  constructor() {
    super(kvFromBinding(env.API_KEYS));
    this.reached = new Promise<void>((resolve) => (this.#arrive = resolve));
  }
  release(): void {
    this.#release();
  }
  override async update(updated: StoredKey): Promise<void> {
    this.#arrive();
    await this.#gate;
    return super.update(updated);
  }
}

beforeEach(() => resetKeyCaches());

describe("the revocation log keeps an entry until KV no longer holds the key", () => {
  it("an edit that read a key before its delete and wrote it back after cannot bring it back once the log's retention passes", async () => {
    const org = "org_sweep_edit";
    const key = await seedKey(org);
    const stored = (await store.findById(key.id))!;
    // The edit: it has read the key; its write waits; and the log cannot answer its re-check.
    const gated = new GatedStore();
    const unavailable = () => Promise.reject(new GatewayError("revocation_log_unavailable", { detail: "test" }));
    const edit = updateKey({ ...serviceDeps(), store: gated, revocations: { append: async () => undefined, refusedFrom: unavailable } }, operator(org), key.id, {
      name: "renamed",
    });
    await gated.reached;
    await deleteKey(serviceDeps(), org, key.id);
    expect(await store.findByHash(stored.hash)).toBeNull();
    gated.release();
    await expect(edit).rejects.toMatchObject({ code: "revocation_log_unavailable" });
    // The race left the record in KV: only the log's entry refuses the key now.
    expect(await store.findByHash(stored.hash)).not.toBeNull();
    expect(await refusedFrom(stored)).not.toBeNull();

    // The retention passes: the entry stays while KV holds the key (it was pruned here before).
    await appendAfterRetention(20);
    expect(await refusedFrom(stored)).not.toBeNull();
    // The sweep deletes the record, then the entry may go.
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await store.findByHash(stored.hash)).toBeNull();
    expect(await store.findById(key.id)).toBeNull();
    await appendAfterRetention(20);
    expect(await refusedFrom(stored)).toBeNull();
  });

  it("the organisation kill switch's entry stays until KV holds none of the keys it revoked", async () => {
    const org = "org_sweep_kill";
    const key = await seedKey(org);
    const stored = (await store.findById(key.id))!;
    await revokeOrganization(serviceDeps(), operator(org));
    expect(await store.findById(key.id)).toBeNull();
    // A stale writer puts the record back after the kill switch deleted it.
    await store.update(stored);
    await appendAfterRetention(20);
    expect(await refusedFrom(stored)).not.toBeNull();
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await store.findByHash(stored.hash)).toBeNull();
    expect(await store.findById(key.id)).toBeNull();
    // A key the organisation created after the switch is not touched.
    const later = await seedKey(org);
    await appendAfterRetention(20);
    await runDurableObjectAlarm(stub());
    expect(await store.findById(later.id)).not.toBeNull();
  });

  it("a key's hash entry written back after the kill switch, without its listing, is found by the sweep", async () => {
    // A stale writer (an edit restoring the record it read, say) interleaved with the switch: its
    // hash entry landed after the switch deleted it, its index entry before the switch deleted that.
    const org = "org_sweep_kill_hash";
    const key = await seedKey(org);
    const stored = (await store.findById(key.id))!;
    const record = await store.findByHash(stored.hash);
    await revokeOrganization(serviceDeps(), operator(org));
    await env.API_KEYS.put(`h:${stored.hash}`, JSON.stringify(record));
    expect((await store.listOrg(org, 100)).records).toEqual([]);
    await appendAfterRetention(20);
    await runDurableObjectAlarm(stub());
    expect(await store.findByHash(stored.hash)).toBeNull();
    await appendAfterRetention(20);
    expect(await refusedFrom(stored)).toBeNull();
  });

  it("an entry whose key is gone from KV is pruned at the end of its retention, as before", async () => {
    const org = "org_sweep_plain";
    const key = await seedKey(org);
    const stored = (await store.findById(key.id))!;
    await deleteKey(serviceDeps(), org, key.id);
    await appendAfterRetention(20);
    await runDurableObjectAlarm(stub());
    await appendAfterRetention(20);
    expect(await refusedFrom(stored)).toBeNull();
  });
});

// Found by the chaos run with a compressed retention (--retention-ms): a working hash entry that
// the organisation's list did not show.
describe("a create racing the organisation kill switch", () => {
  it("leaves no working key behind that the organisation's list does not show", async () => {
    const org = "org_sweep_race";
    await seedKey(org);
    // The create has written its id and index entries; its hash entry waits while the switch runs.
    let arrive!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inner = env.API_KEYS;
    let held = false;
    const gatedKv = {
      get: inner.get.bind(inner),
      getWithMetadata: inner.getWithMetadata.bind(inner),
      list: inner.list.bind(inner),
      delete: inner.delete.bind(inner),
      put: async (key: string, value: string, options?: KVNamespacePutOptions) => {
        if (key.startsWith("h:") && !held) {
          held = true;
          arrive();
          await gate;
        }
        return inner.put(key, value, options);
      },
    } as unknown as KVNamespace;
    const create = createKey({ ...serviceDeps(), store: new KeyStore(kvFromBinding(gatedKv)) }, operator(org), { name: "racing", scopes: ["*"] }).then(
      (created) => ({ created }),
      (error: unknown) => ({ error }),
    );
    await reached;
    await revokeOrganization(serviceDeps(), operator(org));
    release();
    const outcome = await create;
    // It was created before the switch's instant: refused, taken back, and the caller told so.
    expect(outcome).toEqual({ error: expect.objectContaining({ code: "organization_keys_revoked" }) });
    expect((await store.listOrg(org, 100)).records).toEqual([]);
    const hashes = (await env.API_KEYS.list({ prefix: "h:" })).keys.map((k) => k.name);
    const values = await Promise.all(hashes.map((name) => env.API_KEYS.get(name)));
    expect(values.filter((v) => v?.includes(org))).toEqual([]);
  });
});
