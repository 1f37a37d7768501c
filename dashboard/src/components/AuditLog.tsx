import { useEffect, useState } from "hono/jsx/dom";
import { ApiError, type KeysApi } from "../api";
import { actorLabel, auditActionLabel, auditDetail, auditKeyName } from "../format";
import { describeProblem, type ProblemMessage } from "../problems";
import type { AuditEntry } from "../types";
import { ProblemAlert, Time } from "./bits";

/** The organisation's audit log, newest first: who did what to which key, from where. */
export function AuditLog(props: { api: KeysApi; names: ReadonlyMap<string, string>; now: number }) {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<ProblemMessage | null>(null);

  async function load(from: string | null) {
    setLoading(true);
    setProblem(null);
    try {
      const page = await props.api.audit(from);
      setEntries((current) => (from ? [...current, ...page.data] : [...page.data]));
      setCursor(page.next_cursor);
    } catch (error) {
      setProblem(describeProblem(error instanceof ApiError ? error.problem : { status: 0 }));
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => {
    void load(null);
  }, []);

  return (
    <section class="card" aria-labelledby="audit-title">
      <h2 id="audit-title" class="sr-only">
        Audit log
      </h2>
      {problem ? <ProblemAlert problem={problem} onRetry={() => void load(null)} /> : null}
      {!loading && entries.length === 0 && !problem ? <p class="muted pad">No key has been created, changed or deleted in the last 180 days.</p> : null}
      {entries.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Audit log, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Key</th>
                <th scope="col">By</th>
                <th scope="col">Details</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td data-label="When">
                    <Time iso={entry.at} now={props.now} />
                  </td>
                  <td data-label="Event">{auditActionLabel(entry.action)}</td>
                  <td data-label="Key">
                    {entry.key_id ? (
                      <>
                        {props.names.get(entry.key_id) ?? auditKeyName(entry)} <code class="hint-code">{entry.key_id}</code>
                      </>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td data-label="By">{actorLabel(entry.actor)}</td>
                  <td data-label="Details">{auditDetail(entry)}</td>
                  <td data-label="Request" class="small">
                    <code class="selectable">{entry.request_id ?? "—"}</code>
                    <span class="muted block">{entry.client_ip ?? ""}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <div class="table-foot">
        <span class="muted small" role="status">
          {loading ? "Loading the audit log…" : `${entries.length} ${entries.length === 1 ? "event" : "events"}${cursor ? " loaded" : ""} · kept 180 days`}
        </span>
        {cursor ? (
          <button type="button" class="btn btn-secondary btn-small" aria-disabled={loading ? "true" : undefined} onClick={() => !loading && void load(cursor)}>
            Load more events
          </button>
        ) : null}
      </div>
    </section>
  );
}
