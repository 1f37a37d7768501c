import { useId } from "hono/jsx/dom";
import { exactTime, relativeTime } from "../format";
import type { ProblemMessage } from "../problems";
import { AlertIcon } from "./icons";

/** A relative time whose exact value shows on hover and on keyboard focus. */
export function Time(props: { iso: string; now: number }) {
  const id = useId();
  return (
    <span class="time" tabindex={0} aria-describedby={id}>
      <time datetime={props.iso}>{relativeTime(props.iso, props.now)}</time>
      <span role="tooltip" id={id} class="tooltip">
        {exactTime(props.iso)}
      </span>
    </span>
  );
}

/** A failed call in words, with the request id to quote to support. */
export function ProblemAlert(props: { problem: ProblemMessage; onRetry?: () => void; onSignIn?: () => void }) {
  const { problem } = props;
  return (
    <div class="alert" role="alert">
      <AlertIcon />
      <div class="alert-body">
        <p class="alert-title">{problem.title}</p>
        <p>{problem.message}</p>
        {problem.requestId ? (
          <p class="muted small">
            Request ID: <code class="selectable">{problem.requestId}</code> (quote it to support)
          </p>
        ) : null}
        {problem.retry && props.onRetry ? (
          <button type="button" class="btn btn-secondary btn-small" onClick={props.onRetry}>
            Try again
          </button>
        ) : null}
        {problem.signIn && props.onSignIn ? (
          <button type="button" class="btn btn-secondary btn-small" onClick={props.onSignIn}>
            Sign in again
          </button>
        ) : null}
      </div>
    </div>
  );
}
