import { useEffect, useState } from "hono/jsx/dom";
import { ApiError, type KeysApi } from "../api";
import { grantLabel, hourlyRequests, hourStart, SPARKLINE_HOURS, sparklinePoints, unusedScopes, usageSummary } from "../format";
import { describeProblem, type ProblemMessage } from "../problems";
import type { KeyDetail, KeyView } from "../types";
import { ProblemAlert } from "./bits";
import { Modal } from "./Modal";

const HOUR = 3_600_000;
const WIDTH = 280;
const HEIGHT = 48;

/** The last 7 days of requests as a line; its meaning is in its accessible name and beside it in text. */
export function Sparkline(props: { values: readonly number[] }) {
  const summary = usageSummary(props.values);
  return (
    <figure class="sparkline">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} role="img" aria-label={summary}>
        <polyline points={sparklinePoints(props.values, WIDTH, HEIGHT)} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
      <figcaption class="muted small">{summary}</figcaption>
    </figure>
  );
}

/** One key's usage: the sparkline, 30-day figures, and the scopes it did not use with a one-click narrow. */
export function UsageDialog(props: { api: KeysApi; keyView: KeyView; canWrite: boolean; onNarrowed: (key: KeyView) => void; onClose: () => void }) {
  const { api, keyView } = props;
  const [detail, setDetail] = useState<KeyDetail | null>(null);
  const [hours, setHours] = useState<number[] | null>(null);
  const [problem, setProblem] = useState<ProblemMessage | null>(null);
  const [busy, setBusy] = useState(false);

  async function load() {
    setProblem(null);
    const from = hourStart(Date.now()) - (SPARKLINE_HOURS - 1) * HOUR;
    const to = from + SPARKLINE_HOURS * HOUR;
    try {
      const [got, series] = await Promise.all([api.get(keyView.id), api.usage(keyView.id, new Date(from).toISOString(), new Date(to).toISOString())]);
      setDetail(got);
      setHours(hourlyRequests(series, from, SPARKLINE_HOURS));
    } catch (error) {
      setProblem(describeProblem(error instanceof ApiError ? error.problem : { status: 0 }));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  const suggested = detail?.suggested_scopes ?? null;
  const unused = suggested && suggested.length > 0 ? unusedScopes(keyView.scopes, suggested) : [];

  async function narrow() {
    if (busy || !suggested) return;
    setBusy(true);
    try {
      props.onNarrowed(await api.setScopes(keyView.id, suggested));
    } catch (error) {
      setProblem(describeProblem(error instanceof ApiError ? error.problem : { status: 0 }));
      setBusy(false);
    }
  }

  return (
    <Modal titleId="usage-title" onDismiss={props.onClose} wide>
      <header class="modal-header">
        <h2 id="usage-title">Usage of “{keyView.name}”</h2>
        <p class="muted">Figures lag use by up to a minute.</p>
      </header>
      <div class="modal-body">
        {problem ? <ProblemAlert problem={problem} onRetry={() => void load()} /> : null}
        {!detail && !problem ? <p class="muted" role="status">Loading usage…</p> : null}
        {hours ? <Sparkline values={hours} /> : null}
        {detail ? (
          <section aria-labelledby="least-title" class="least">
            <h3 id="least-title">Scopes used in the last 30 days</h3>
            <p>
              {detail.requests_30d ?? "—"} {detail.requests_30d === 1 ? "request" : "requests"} in 30 days
              {detail.stale ? " · unused for 90 days or more" : ""}.
            </p>
            {suggested === null ? (
              <p class="muted">Usage figures are unavailable right now.</p>
            ) : suggested.length === 0 ? (
              <p class="callout">Not used in the last 30 days. If nothing needs this key, delete it.</p>
            ) : unused.length === 0 ? (
              <p>Every scope of this key was used: it has no more access than it needs.</p>
            ) : (
              <div class="callout callout-block">
                <p>
                  Unused in 30 days: <strong>{unused.join(", ")}</strong>. It only needed {suggested.map(grantLabel).join(", ")}.
                </p>
                {props.canWrite ? (
                  <button type="button" class="btn btn-secondary btn-small" aria-disabled={busy ? "true" : undefined} onClick={() => void narrow()}>
                    {busy ? "Narrowing…" : `Narrow to ${suggested.join(", ")}`}
                  </button>
                ) : (
                  <p class="muted small">Ask an organization admin to narrow it.</p>
                )}
              </div>
            )}
          </section>
        ) : null}
      </div>
      <footer class="modal-footer">
        <button type="button" class="btn btn-secondary" autofocus onClick={props.onClose}>
          Close
        </button>
      </footer>
    </Modal>
  );
}
