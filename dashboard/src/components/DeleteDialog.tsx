import { useState } from "hono/jsx/dom";
import type { KeyView } from "../types";
import { relativeTime, REVOCATION_BOUND, usedRecently } from "../format";
import { Modal } from "./Modal";

/** Delete one key, naming it; a key used in the last 24 hours asks for its name to be typed. */
export function DeleteDialog(props: { keyView: KeyView; now: number; onDelete: () => Promise<void>; onCancel: () => void }) {
  const key = props.keyView;
  const typed = usedRecently(key, props.now);
  const [confirmation, setConfirmation] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal titleId="delete-title" descriptionId="delete-description" onDismiss={props.onCancel}>
      <form
        class="modal-form"
        noValidate
        onSubmit={async (e: Event) => {
          e.preventDefault();
          if (busy) return;
          if (typed && confirmation !== key.name) {
            setError("Type the key's name exactly as shown.");
            document.getElementById("delete-confirm")?.focus();
            return;
          }
          setBusy(true);
          await props.onDelete();
        }}
      >
        <header class="modal-header">
          <h2 id="delete-title">Delete “{key.name}”?</h2>
          <p id="delete-description" class="muted">
            Anything using this key ({key.hint}) stops working. {REVOCATION_BOUND} This cannot be undone.
          </p>
        </header>
        <div class="modal-body">
          {typed ? (
            <div class="field">
              <p class="callout">
                This key was used {relativeTime(key.last_used_at!, props.now)}. To confirm, type its name: <strong class="selectable">{key.name}</strong>
              </p>
              <label for="delete-confirm">Key name</label>
              <input
                id="delete-confirm"
                type="text"
                autocomplete="off"
                spellcheck={false}
                autofocus
                value={confirmation}
                aria-invalid={error ? "true" : undefined}
                aria-describedby={error ? "delete-error" : undefined}
                onInput={(e: Event) => setConfirmation((e.target as HTMLInputElement).value)}
              />
              {error ? (
                <p id="delete-error" class="field-error">
                  {error}
                </p>
              ) : null}
            </div>
          ) : null}
        </div>
        <footer class="modal-footer">
          <button type="button" class="btn btn-secondary" autofocus={!typed} onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-danger" aria-disabled={busy ? "true" : undefined}>
            {busy ? "Deleting…" : "Delete key"}
          </button>
        </footer>
      </form>
    </Modal>
  );
}
