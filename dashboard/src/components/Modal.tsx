import type { Child } from "hono/jsx";
import { useEffect, useRef } from "hono/jsx/dom";

/**
 * A modal dialog on the native `<dialog>`: `showModal()` makes the rest of the page inert (focus
 * stays inside), Escape asks `onDismiss` (which may refuse), and on close focus returns to the
 * element that opened it, or to the page heading when that element is gone.
 */
export function Modal(props: { titleId: string; descriptionId?: string; onDismiss: () => void; wide?: boolean; children: Child }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog?.showModal();
    return () => {
      if (dialog?.open) dialog.close();
      const target = opener?.isConnected && !opener.closest("dialog") ? opener : document.getElementById("page-title");
      target?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.wide ? "modal modal-wide" : "modal"}
      aria-labelledby={props.titleId}
      aria-describedby={props.descriptionId}
      onCancel={(event: Event) => {
        event.preventDefault();
        props.onDismiss();
      }}
    >
      {props.children}
    </dialog>
  );
}
