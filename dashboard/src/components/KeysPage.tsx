import { useEffect, useState } from "hono/jsx/dom";
import { type OneTimeSecret, takeSecret } from "../secret";
import type { KeyView } from "../types";
import { ApiError, type BulkOutcome, type KeysApi, rotateInBatches } from "../api";
import { createdByLabel, grantLabel, keyStatus, NARROW_BOUND, REVOCATION_BOUND } from "../format";
import { describeProblem, type ProblemMessage } from "../problems";
import type { Session } from "../session";
import { ProblemAlert, Time } from "./bits";
import { CreateKeyDialog } from "./CreateKeyDialog";
import { DeleteDialog } from "./DeleteDialog";
import { ChartIcon, ClockIcon, DotIcon, KeyIcon, PlusIcon, RotateIcon, TrashIcon } from "./icons";
import { AuditLog } from "./AuditLog";
import { NewKeysDialog } from "./NewKeysDialog";
import { RotateDialog } from "./RotateDialog";
import { UsageDialog } from "./UsageDialog";

type Flow =
  | { kind: "create" }
  | { kind: "created"; key: KeyView; secret: OneTimeSecret }
  | { kind: "rotate"; keys: KeyView[] }
  | { kind: "rotated"; outcomes: BulkOutcome[] }
  | { kind: "delete"; key: KeyView }
  | { kind: "usage"; key: KeyView };

const split = <T extends { key: string }>(answer: T) => {
  const [rotated, secret] = takeSecret(answer);
  return { rotated, secret };
};

const problemOf = (error: unknown): ProblemMessage =>
  error instanceof ApiError ? describeProblem(error.problem, error.retryAfter) : describeProblem({ status: 0 });

/** Settings → API Keys: the organisation's keys, and (for writers) create, rotate and delete. */
export function KeysPage(props: { session: Session; api: KeysApi; onSignInAgain: () => void }) {
  const { session, api } = props;
  const canWrite = session.scopes.has("api-keys:write");
  const [keys, setKeys] = useState<KeyView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loaded, setLoaded] = useState(false);
  const [problem, setProblem] = useState<ProblemMessage | null>(null);
  const [filter, setFilter] = useState("");
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [flow, setFlow] = useState<Flow | null>(null);
  const [notice, setNotice] = useState("");
  const [now, setNow] = useState(Date.now());
  const [tab, setTab] = useState<"keys" | "audit">("keys");

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);

  async function load(from: string | null) {
    setLoading(true);
    setProblem(null);
    try {
      const page = await api.list(from);
      setKeys((current) => (from ? [...current, ...page.data] : [...page.data]));
      setCursor(page.next_cursor);
      setLoaded(true);
      setNow(Date.now());
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => {
    void load(null);
  }, []);

  /** Every key of the organisation (for "Rotate all"): the pages not loaded yet, then all. */
  async function loadAll(): Promise<KeyView[]> {
    let all = keys;
    let next = cursor;
    while (next) {
      const page = await api.list(next);
      all = [...all, ...page.data];
      next = page.next_cursor;
    }
    setKeys(all);
    setCursor(null);
    return all;
  }

  const needle = filter.trim().toLowerCase();
  const visible = needle ? keys.filter((k) => k.name.toLowerCase().includes(needle)) : keys;
  const selectedKeys = keys.filter((k) => selected.has(k.id));
  const allVisibleSelected = visible.length > 0 && visible.every((k) => selected.has(k.id));
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };

  async function rotate(targets: KeyView[], graceSeconds: number) {
    try {
      const outcomes =
        targets.length === 1
          ? [{ ok: true as const, oldId: targets[0]!.id, name: targets[0]!.name, ...split(await api.rotate(targets[0]!.id, graceSeconds)) }]
          : await rotateInBatches(api, targets, graceSeconds);
      setSelected(new Set());
      setFlow({ kind: "rotated", outcomes });
      const ok = outcomes.filter((o) => o.ok).length;
      setNotice(`Rotated ${ok} of ${outcomes.length} ${outcomes.length === 1 ? "key" : "keys"}.`);
    } catch (error) {
      setFlow(null);
      setProblem(problemOf(error));
    }
    void load(null);
  }

  async function remove(key: KeyView) {
    try {
      await api.remove(key.id);
      setKeys((current) => current.filter((k) => k.id !== key.id));
      const next = new Set(selected);
      next.delete(key.id);
      setSelected(next);
      setNotice(`Deleted “${key.name}”. ${REVOCATION_BOUND}`);
      setFlow(null);
    } catch (error) {
      setFlow(null);
      setProblem(problemOf(error));
      if (error instanceof ApiError && error.problem.code === "key_not_found") void load(null);
    }
  }

  return (
    <>
      <nav class="breadcrumb" aria-label="Breadcrumb">
        <ol>
          <li>Settings</li>
          <li aria-current="page">API Keys</li>
        </ol>
      </nav>
      <div class="page-head">
        <div>
          <h1 id="page-title" tabindex={-1}>
            API Keys
          </h1>
          <p class="muted">
            Keys let your servers, scripts and CI call the Agntix API for <strong>{session.orgId}</strong>. Send one in the{" "}
            <code>x-api-key</code> header.
          </p>
        </div>
        {canWrite ? (
          <button type="button" class="btn btn-primary" onClick={() => setFlow({ kind: "create" })}>
            <PlusIcon /> Create key
          </button>
        ) : null}
      </div>

      {!canWrite ? (
        <p class="callout callout-info">
          You can view this organization's keys. Creating, rotating and deleting them needs the <code>api-keys:write</code> permission: ask an
          organization admin.
        </p>
      ) : null}

      <p class="notice" role="status">
        {notice}
      </p>

      {problem ? <ProblemAlert problem={problem} onRetry={() => void load(null)} onSignIn={props.onSignInAgain} /> : null}

      <div class="tabs" role="tablist" aria-label="API keys views">
        {(["keys", "audit"] as const).map((name) => (
          <button
            type="button"
            role="tab"
            id={`tab-${name}`}
            aria-selected={tab === name ? "true" : "false"}
            aria-controls={`panel-${name}`}
            tabindex={tab === name ? 0 : -1}
            class="tab"
            onClick={() => setTab(name)}
            onKeyDown={(e: KeyboardEvent) => {
              if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
              const next = name === "keys" ? "audit" : "keys";
              setTab(next);
              document.getElementById(`tab-${next}`)?.focus();
            }}
          >
            {name === "keys" ? "Keys" : "Audit log"}
          </button>
        ))}
      </div>

      {tab === "audit" ? (
        <div role="tabpanel" id="panel-audit" aria-labelledby="tab-audit">
          <AuditLog api={api} names={new Map(keys.map((k) => [k.id, k.name]))} now={now} />
        </div>
      ) : (
      <div role="tabpanel" id="panel-keys" aria-labelledby="tab-keys">
      {loaded && keys.length === 0 ? (
        <section class="empty" aria-labelledby="empty-title">
          <span class="empty-icon">
            <KeyIcon />
          </span>
          <h2 id="empty-title">No API keys yet</h2>
          <p class="muted">
            An API key lets a server or a CI job call the Agntix API on behalf of this organization, with only the permissions you give it.
            Keep it secret: anyone who has it can use it.
          </p>
          {canWrite ? (
            <button type="button" class="btn btn-primary" onClick={() => setFlow({ kind: "create" })}>
              <PlusIcon /> Create key
            </button>
          ) : (
            <p class="muted">Ask an organization admin to create one.</p>
          )}
        </section>
      ) : null}

      {keys.length > 0 ? (
        <section class="card" aria-labelledby="keys-title">
          <div class="toolbar">
            <h2 id="keys-title" class="sr-only">
              Keys
            </h2>
            <div class="search">
              <label for="filter" class="sr-only">
                Filter keys by name
              </label>
              <input id="filter" type="search" placeholder="Filter by name" autocomplete="off" value={filter} onInput={(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
            </div>
            {canWrite ? (
              <div class="toolbar-actions">
                <button
                  type="button"
                  class="btn btn-secondary"
                  aria-disabled={selectedKeys.length === 0 ? "true" : undefined}
                  onClick={() => selectedKeys.length > 0 && setFlow({ kind: "rotate", keys: selectedKeys })}
                >
                  <RotateIcon /> Rotate selected{selectedKeys.length ? ` (${selectedKeys.length})` : ""}
                </button>
                <button
                  type="button"
                  class="btn btn-secondary"
                  onClick={async () => {
                    try {
                      const all = (await loadAll()).filter((k) => !k.expires_at);
                      if (all.length) setFlow({ kind: "rotate", keys: all });
                      else setNotice("Every key is already in a rotation grace period: nothing to rotate.");
                    } catch (error) {
                      setProblem(problemOf(error));
                    }
                  }}
                >
                  Rotate all
                </button>
              </div>
            ) : null}
          </div>
          <div class="table-wrap">
            <table>
              <caption class="sr-only">API keys of {session.orgId}</caption>
              <thead>
                <tr>
                  {canWrite ? (
                    <th scope="col" class="col-select">
                      <input
                        type="checkbox"
                        aria-label="Select all shown keys"
                        checked={allVisibleSelected}
                        onChange={() => {
                          const next = new Set(selected);
                          for (const k of visible) {
                            if (allVisibleSelected) next.delete(k.id);
                            else next.add(k.id);
                          }
                          setSelected(next);
                        }}
                      />
                    </th>
                  ) : null}
                  <th scope="col">Name</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Requests (30 days)</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {visible.map((key) => {
                  const status = keyStatus(key, now);
                  return (
                    <tr key={key.id} class={selected.has(key.id) ? "selected" : ""}>
                      {canWrite ? (
                        <td class="col-select">
                          <input type="checkbox" aria-label={`Select ${key.name}`} checked={selected.has(key.id)} onChange={() => toggle(key.id)} />
                        </td>
                      ) : null}
                      <th scope="row" class="col-name">
                        <span class="key-name">{key.name}</span>
                        <code class="hint-code">{key.hint}</code>
                      </th>
                      <td data-label="Scopes">
                        <ul class="badges" aria-label="Scopes">
                          {key.scopes.map((grant) => (
                            <li class={grant.includes(":") ? "badge" : "badge badge-preset"}>{grantLabel(grant)}</li>
                          ))}
                        </ul>
                      </td>
                      <td data-label="Created">
                        <Time iso={key.created_at} now={now} />
                        <span class="muted small block">by {createdByLabel(key.created_by)}</span>
                      </td>
                      <td data-label="Last used">{key.last_used_at ? <Time iso={key.last_used_at} now={now} /> : <span class="muted">Never</span>}</td>
                      <td data-label="Requests (30 days)">{key.requests_30d ?? <span class="muted">—</span>}</td>
                      <td data-label="Status">
                        <span class={`status status-${status.kind}`}>
                          {status.kind === "active" ? <DotIcon /> : <ClockIcon />}
                          {status.label}
                        </span>
                        {key.stale ? <span class="status status-stale block">Unused for 90 days</span> : null}
                      </td>
                      <td class="col-actions">
                        <button type="button" class="btn btn-ghost btn-small" onClick={() => setFlow({ kind: "usage", key })}>
                          <ChartIcon /> Usage<span class="sr-only"> {key.name}</span>
                        </button>
                        {canWrite ? (
                          <>
                            <button type="button" class="btn btn-ghost btn-small" onClick={() => setFlow({ kind: "rotate", keys: [key] })}>
                              <RotateIcon /> Rotate<span class="sr-only"> {key.name}</span>
                            </button>
                            <button type="button" class="btn btn-ghost btn-small btn-ghost-danger" onClick={() => setFlow({ kind: "delete", key })}>
                              <TrashIcon /> Delete<span class="sr-only"> {key.name}</span>
                            </button>
                          </>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {visible.length === 0 ? <p class="muted pad">No loaded key matches “{filter.trim()}”.{cursor ? " Load more to search further." : ""}</p> : null}
          <div class="table-foot">
            <span class="muted small">
              {needle ? `${visible.length} of ${keys.length} loaded keys match` : `${keys.length} ${keys.length === 1 ? "key" : "keys"}${cursor ? " loaded" : ""}`}
            </span>
            {cursor ? (
              <button type="button" class="btn btn-secondary btn-small" aria-disabled={loading ? "true" : undefined} onClick={() => !loading && void load(cursor)}>
                {loading ? "Loading…" : "Load more"}
              </button>
            ) : null}
          </div>
        </section>
      ) : null}

      {loading && !loaded ? (
        <p class="muted loading" role="status">
          Loading keys…
        </p>
      ) : null}
      </div>
      )}

      {flow?.kind === "create" ? (
        <CreateKeyDialog
          api={api}
          held={session.scopes}
          onCancel={() => setFlow(null)}
          onCreated={(created) => {
            const [key, secret] = takeSecret(created);
            setFlow({ kind: "created", key, secret });
            setNotice(`Created “${key.name}”.`);
            void load(null);
          }}
        />
      ) : null}
      {flow?.kind === "created" ? <NewKeysDialog title="Save your API key" created={{ key: flow.key, secret: flow.secret }} onClose={() => setFlow(null)} /> : null}
      {flow?.kind === "rotate" ? <RotateDialog keys={flow.keys} onCancel={() => setFlow(null)} onRotate={(grace) => rotate(flow.keys, grace)} /> : null}
      {flow?.kind === "rotated" ? (
        <NewKeysDialog title={flow.outcomes.length === 1 ? "Save your new key" : "Rotation results"} outcomes={flow.outcomes} onClose={() => setFlow(null)} />
      ) : null}
      {flow?.kind === "usage" ? (
        <UsageDialog
          api={api}
          keyView={flow.key}
          canWrite={canWrite}
          onClose={() => setFlow(null)}
          onNarrowed={(narrowed) => {
            setFlow(null);
            setNotice(`Narrowed “${narrowed.name}” to ${narrowed.scopes.join(", ")}. ${NARROW_BOUND}`);
            void load(null);
          }}
        />
      ) : null}
      {flow?.kind === "delete" ? <DeleteDialog keyView={flow.key} now={now} onCancel={() => setFlow(null)} onDelete={() => remove(flow.key)} /> : null}
    </>
  );
}
