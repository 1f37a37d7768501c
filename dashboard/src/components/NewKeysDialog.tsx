import { useEffect, useRef, useState } from "hono/jsx/dom";
import type { BulkOutcome } from "../api";
import { curlLine, envFile, exactTime, REVOCATION_BOUND } from "../format";
import { describeProblem } from "../problems";
import type { OneTimeSecret } from "../secret";
import type { KeyView, RotatedKey } from "../types";
import { AlertIcon, CheckIcon, CopyIcon, DownloadIcon } from "./icons";
import { Modal } from "./Modal";

/** Copy text to the clipboard; false when the browser refuses (the text stays selectable). */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A read-only field showing a secret (written imperatively, never as a prop) with a copy button. */
function SecretField(props: {
  id: string;
  label: string;
  secret: OneTimeSecret;
  format?: (key: string) => string;
  multiline?: boolean;
  autofocus?: boolean;
  copyLabel: string;
  onCopied: () => void;
}) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const text = () => (props.format ?? ((key: string) => key))(props.secret.read());
  useEffect(() => {
    const field = ref.current;
    if (field) field.value = text();
    return () => {
      if (field) field.value = "";
    };
  }, []);
  const common = {
    id: props.id,
    class: "mono",
    readonly: true,
    spellcheck: false,
    autocomplete: "off",
    onFocus: (e: Event) => (e.target as HTMLInputElement).select(),
    onCopy: () => props.onCopied(),
  };
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <div class="copy-field">
        {props.multiline ? <textarea ref={ref} rows={2} {...common} /> : <input ref={ref} type="text" {...common} />}
        <button
          type="button"
          class="btn btn-secondary"
          autofocus={props.autofocus}
          onClick={async () => {
            const ok = await copyText(text());
            setState(ok ? "copied" : "failed");
            if (ok) props.onCopied();
          }}
        >
          {state === "copied" ? <CheckIcon /> : <CopyIcon />}
          {state === "copied" ? "Copied" : props.copyLabel}
        </button>
      </div>
      <p class="hint" role="status">
        {state === "failed" ? "Your browser did not allow copying: select the text and press Ctrl+C (⌘C)." : ""}
      </p>
    </div>
  );
}

function oldKeyText(key: Omit<RotatedKey, "key">, now: number): string {
  if (key.old_key_expires_at === null) return "The old key could not be retired: delete it from the list.";
  if (Date.parse(key.old_key_expires_at) <= now + 1000) return `The old key no longer works. ${REVOCATION_BOUND}`;
  return `The old key keeps working until ${exactTime(key.old_key_expires_at)}.`;
}

/**
 * New keys, shown once: one key with its copy button and a ready-to-paste curl line, or the results
 * of a bulk rotation with each new key, the failures, and a `.env` download. Closing before
 * anything was copied asks first; closing wipes every key it showed.
 */
export function NewKeysDialog(props: {
  title: string;
  created?: { key: KeyView; secret: OneTimeSecret };
  outcomes?: readonly BulkOutcome[];
  onClose: () => void;
}) {
  const [copied, setCopied] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const now = Date.now();
  const rotated = (props.outcomes ?? []).flatMap((o) => (o.ok ? [o] : []));
  const failed = (props.outcomes ?? []).filter((o) => !o.ok);
  const single = props.created ?? (props.outcomes?.length === 1 && rotated[0] ? { key: rotated[0].rotated, secret: rotated[0].secret } : undefined);
  const singleRotation = !props.created && rotated.length === 1 ? rotated[0]!.rotated : undefined;
  const hasKeys = Boolean(single) || rotated.length > 0;

  useEffect(() => {
    const secrets = [props.created?.secret, ...rotated.map((o) => o.secret)];
    return () => secrets.forEach((s) => s?.wipe());
  }, []);

  const close = () => (copied || !hasKeys ? props.onClose() : setConfirming(true));
  const download = () => {
    const file = envFile(
      rotated.map((o) => ({ ...o.rotated, key: o.secret.read() })),
      Date.now(),
    );
    const url = URL.createObjectURL(new Blob([file], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "agntix-api-keys.env";
    link.click();
    URL.revokeObjectURL(url);
    setCopied(true);
  };

  return (
    <Modal titleId="new-keys-title" descriptionId="new-keys-warning" onDismiss={close} wide>
      <header class="modal-header">
        <h2 id="new-keys-title">{props.title}</h2>
        {hasKeys ? (
          <p id="new-keys-warning" class="callout">
            <AlertIcon />
            <span>
              Copy {single ? "this key" : "these keys"} now and store {single ? "it" : "them"} somewhere safe, such as your secret manager.{" "}
              {single ? "It" : "They"} will not be shown again.
            </span>
          </p>
        ) : (
          <p id="new-keys-warning" class="muted">
            No key was rotated.
          </p>
        )}
      </header>
      <div class="modal-body">
        {single ? (
          <div class="stack">
            <SecretField id="new-key" label={`API key “${single.key.name}”`} secret={single.secret} copyLabel="Copy key" autofocus onCopied={() => setCopied(true)} />
            <SecretField
              id="new-key-curl"
              label="Try it"
              multiline
              secret={single.secret}
              format={(key) => curlLine(location.origin, key)}
              copyLabel="Copy command"
              onCopied={() => setCopied(true)}
            />
            {singleRotation ? <p class="muted">{oldKeyText(singleRotation, now)}</p> : null}
          </div>
        ) : null}
        {!single && rotated.length > 0 ? (
          <ul class="results" aria-label="Rotated keys">
            {rotated.map((o, i) => (
              <li class="result">
                <p class="result-title">
                  <CheckIcon /> Rotated: <span class="key-name">{o.name}</span>
                </p>
                <SecretField id={`new-key-${i}`} label={`New key “${o.name}”`} secret={o.secret} copyLabel="Copy" onCopied={() => setCopied(true)} />
                <p class="muted small">{oldKeyText(o.rotated, now)}</p>
              </li>
            ))}
          </ul>
        ) : null}
        {failed.length > 0 ? (
          <ul class="results" aria-label="Keys not rotated">
            {failed.map((o) =>
              o.ok ? null : (
                <li class="result result-failed">
                  <p class="result-title">
                    <AlertIcon /> Not rotated: <span class="key-name">{o.name}</span>
                  </p>
                  <p class="small">
                    {describeProblem(o.error.problem).title}. {describeProblem(o.error.problem).message}
                    {o.error.problem.request_id ? ` Request ID: ${o.error.problem.request_id}.` : ""}
                  </p>
                </li>
              ),
            )}
          </ul>
        ) : null}
        {confirming ? (
          <div class="alert alert-warning" role="alert">
            <AlertIcon />
            <div class="alert-body">
              <p class="alert-title">You have not copied {single ? "the key" : "the keys"}</p>
              <p>Once you close this dialog, {single ? "the key" : "the keys"} cannot be shown again.</p>
            </div>
          </div>
        ) : null}
      </div>
      <footer class="modal-footer">
        {!single && rotated.length > 0 ? (
          <button type="button" class="btn btn-secondary footer-start" onClick={download}>
            <DownloadIcon /> Download .env
          </button>
        ) : null}
        {confirming ? (
          <>
            <button type="button" class="btn btn-secondary" autofocus onClick={() => setConfirming(false)}>
              Go back
            </button>
            <button type="button" class="btn btn-danger" onClick={props.onClose}>
              Close without copying
            </button>
          </>
        ) : (
          <button type="button" class="btn btn-primary" onClick={close}>
            Done
          </button>
        )}
      </footer>
    </Modal>
  );
}
