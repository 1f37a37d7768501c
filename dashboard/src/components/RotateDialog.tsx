import { useState } from "hono/jsx/dom";
import type { KeyView } from "../types";
import { REVOCATION_BOUND } from "../format";
import { Modal } from "./Modal";

/** Grace periods offered for the old key. */
export const GRACE_CHOICES = [
  { seconds: 0, label: "None", description: "The old key stops working now." },
  { seconds: 3600, label: "1 hour", description: "Time to update one service." },
  { seconds: 86_400, label: "24 hours", description: "Time to roll out everywhere." },
  { seconds: 604_800, label: "7 days", description: "For keys in many places." },
] as const;

/** Rotate one key or many: choose how long the old keys keep working. */
export function RotateDialog(props: { keys: readonly KeyView[]; onRotate: (graceSeconds: number) => Promise<void>; onCancel: () => void }) {
  const [grace, setGrace] = useState<number>(3600);
  const [busy, setBusy] = useState(false);
  const one = props.keys.length === 1 ? props.keys[0] : undefined;
  return (
    <Modal titleId="rotate-title" descriptionId="rotate-description" onDismiss={props.onCancel}>
      <form
        class="modal-form"
        noValidate
        onSubmit={async (e: Event) => {
          e.preventDefault();
          if (busy) return;
          setBusy(true);
          await props.onRotate(grace);
        }}
      >
        <header class="modal-header">
          <h2 id="rotate-title">{one ? `Rotate “${one.name}”` : `Rotate ${props.keys.length} keys`}</h2>
          <p id="rotate-description" class="muted">
            {one ? "A new key with the same name and permissions replaces this one." : "Each key is replaced by a new key with the same name and permissions."}{" "}
            The new {one ? "key is" : "keys are"} shown once.
          </p>
        </header>
        <div class="modal-body">
          <fieldset class="field choices choices-grid">
            <legend>Grace period for the old {one ? "key" : "keys"}</legend>
            {GRACE_CHOICES.map((choice) => (
              <label class={grace === choice.seconds ? "choice selected" : "choice"}>
                <input type="radio" name="grace" value={String(choice.seconds)} checked={grace === choice.seconds} onChange={() => setGrace(choice.seconds)} />
                <span>
                  <span class="choice-label">{choice.label}</span>
                  <span class="choice-description">{choice.description}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {grace === 0 ? <p class="muted small">{REVOCATION_BOUND}</p> : null}
        </div>
        <footer class="modal-footer">
          <button type="button" class="btn btn-secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" aria-disabled={busy ? "true" : undefined}>
            {busy ? "Rotating…" : one ? "Rotate key" : `Rotate ${props.keys.length} keys`}
          </button>
        </footer>
      </form>
    </Modal>
  );
}
