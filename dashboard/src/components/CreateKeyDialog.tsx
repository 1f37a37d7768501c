import { useState } from "hono/jsx/dom";
import type { CreatedKey } from "../types";
import { RESOURCES, type Resource, type Scope } from "../../../src/scopes";
import { ApiError, type KeysApi } from "../api";
import {
  type AccessChoice,
  grantablePresets,
  grantableLevels,
  grantsFor,
  presetScopes,
  RESOURCE_LABELS,
  type ResourceLevel,
} from "../format";
import { describeProblem, type ProblemMessage } from "../problems";
import { ProblemAlert } from "./bits";
import { Modal } from "./Modal";

const PRESET_TEXT: Record<Exclude<AccessChoice, "custom">, { label: string; description: string }> = {
  "*": { label: "Full access", description: "Every scope, including managing API keys. Use sparingly." },
  "read-only": { label: "Read-only", description: `Read chat, agents and voice (${presetScopes("read-only").join(", ")}).` },
  "voice-only": { label: "Voice only", description: `The voice API only (${presetScopes("voice-only").join(", ")}).` },
};

const LEVEL_LABELS: Record<ResourceLevel, string> = { none: "No access", read: "Read", write: "Read and write" };

/** The create form: a name, and access no wider than the signed-in person holds. */
export function CreateKeyDialog(props: { api: KeysApi; held: ReadonlySet<Scope>; onCreated: (key: CreatedKey) => void; onCancel: () => void }) {
  const presets = grantablePresets(props.held);
  const resources = RESOURCES.filter((r) => grantableLevels(props.held, r).length > 1);
  const [name, setName] = useState("");
  const [choice, setChoice] = useState<AccessChoice>(presets.includes("read-only") ? "read-only" : (presets[0] ?? "custom"));
  const [levels, setLevels] = useState<Partial<Record<Resource, ResourceLevel>>>({});
  const [nameError, setNameError] = useState<string | null>(null);
  const [scopeError, setScopeError] = useState<string | null>(null);
  const [problem, setProblem] = useState<ProblemMessage | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    if (busy) return;
    const trimmed = name.trim();
    const grants = grantsFor(choice, levels);
    setNameError(trimmed ? null : "Enter a name for the key.");
    setScopeError(grants.length ? null : "Choose at least one permission.");
    if (!trimmed) return document.getElementById("key-name")?.focus();
    if (!grants.length) return document.querySelector<HTMLInputElement>(".picker input")?.focus();
    setBusy(true);
    setProblem(null);
    try {
      props.onCreated(await props.api.create(trimmed, grants));
    } catch (error) {
      setProblem(describeProblem(error instanceof ApiError ? error.problem : { status: 0 }, error instanceof ApiError ? error.retryAfter : undefined));
      setBusy(false);
    }
  }

  return (
    <Modal titleId="create-title" descriptionId="create-description" onDismiss={props.onCancel} wide>
      <form class="modal-form" onSubmit={submit} noValidate>
        <header class="modal-header">
          <h2 id="create-title">Create API key</h2>
          <p id="create-description" class="muted">
            Name the key and choose what it may do. You will see the key once, right after it is created.
          </p>
        </header>
        <div class="modal-body">
          <div class="field">
            <label for="key-name">Name</label>
            <input
              id="key-name"
              name="name"
              type="text"
              autocomplete="off"
              maxlength={100}
              required
              autofocus
              value={name}
              aria-invalid={nameError ? "true" : undefined}
              aria-describedby={nameError ? "key-name-hint key-name-error" : "key-name-hint"}
              onInput={(e: Event) => setName((e.target as HTMLInputElement).value)}
            />
            <p id="key-name-hint" class="hint">
              Something you will recognise later, such as the service or CI job that uses it.
            </p>
            {nameError ? (
              <p id="key-name-error" class="field-error">
                {nameError}
              </p>
            ) : null}
          </div>
          <fieldset class="field choices">
            <legend>Access</legend>
            {[...presets, "custom" as const].map((value) => (
              <label class={choice === value ? "choice selected" : "choice"}>
                <input type="radio" name="access" value={value} checked={choice === value} onChange={() => setChoice(value)} />
                <span>
                  <span class="choice-label">{value === "custom" ? "Custom" : PRESET_TEXT[value].label}</span>
                  <span class="choice-description">
                    {value === "custom" ? "Choose per resource. Only permissions you hold are offered." : PRESET_TEXT[value].description}
                  </span>
                </span>
              </label>
            ))}
          </fieldset>
          {choice === "custom" ? (
            <div class="picker" role="group" aria-labelledby="picker-title" aria-describedby={scopeError ? "picker-error" : undefined}>
              <p id="picker-title" class="picker-title">
                Custom permissions
              </p>
              {resources.map((resource) => (
                <fieldset class="picker-row">
                  <legend>{RESOURCE_LABELS[resource]}</legend>
                  <div class="segmented">
                    {grantableLevels(props.held, resource).map((level) => (
                      <label class={(levels[resource] ?? "none") === level ? "segment selected" : "segment"}>
                        <input
                          type="radio"
                          name={`level-${resource}`}
                          value={level}
                          checked={(levels[resource] ?? "none") === level}
                          onChange={() => setLevels({ ...levels, [resource]: level })}
                        />
                        <span>{LEVEL_LABELS[level]}</span>
                      </label>
                    ))}
                  </div>
                </fieldset>
              ))}
              {scopeError ? (
                <p id="picker-error" class="field-error">
                  {scopeError}
                </p>
              ) : null}
            </div>
          ) : null}
          {problem ? <ProblemAlert problem={problem} /> : null}
        </div>
        <footer class="modal-footer">
          <button type="button" class="btn btn-secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" aria-disabled={busy ? "true" : undefined}>
            {busy ? "Creating…" : "Create key"}
          </button>
        </footer>
      </form>
    </Modal>
  );
}
