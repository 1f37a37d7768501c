/**
 * A key shown once. The page never keeps a new key in component state or props: a render's
 * closures and the previous render's props outlive it, so a key held there would linger in memory
 * after its dialog closed. The key lives only in this box, is written into the dialog's fields
 * imperatively, and is wiped when the dialog closes (tested with a heap snapshot in the browser).
 */
export class OneTimeSecret {
  #value: string | null;

  constructor(value: string) {
    this.#value = value;
  }

  /** The key; empty once wiped. */
  read(): string {
    return this.#value ?? "";
  }

  wipe(): void {
    this.#value = null;
  }
}

/** Split an API answer that carries `key` into the record (safe to keep) and the boxed key. */
export function takeSecret<T extends { key: string }>(answer: T): [Omit<T, "key">, OneTimeSecret] {
  const { key, ...record } = answer;
  return [record, new OneTimeSecret(key)];
}
