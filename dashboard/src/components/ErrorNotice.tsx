import type { ReactNode } from "react";
import { SluiceError } from "../../../client/errors.ts";

/** What the operator can do about a failed call, by status. */
export function remedyFor(error: SluiceError): string {
  if (error.status === 0) return "Check that the Sluice Worker is running, then retry.";
  if (error.status === 401) return "The token was rejected. Sign in again with a valid API token.";
  if (error.status === 403)
    return "This token lacks the scope for this. Sign in with an admin key.";
  if (error.status === 404)
    return "It may have been deleted or redriven meanwhile. Refresh the list.";
  if (error.status === 429 || error.status === 503) {
    return "Sluice is shedding load. Wait a few seconds and retry.";
  }
  if (error.status >= 500)
    return "The server failed. Retry; if it keeps failing, check the Worker logs.";
  return "";
}

export function ErrorNotice({ error, action }: { error: unknown; action?: ReactNode }) {
  const failure = error instanceof SluiceError ? error : null;
  const detail = failure ? failure.detail : String(error);
  const remedy = failure ? remedyFor(failure) : "";
  return (
    <div className="notice notice-error" role="alert">
      <p className="notice-title">
        {failure ? failure.title : "Something went wrong"}
        {failure && failure.status > 0 ? (
          <span className="notice-code">
            {" "}
            ({failure.status} {failure.code})
          </span>
        ) : null}
      </p>
      {detail ? <p>{detail}</p> : null}
      {remedy ? <p>{remedy}</p> : null}
      {action ? <div className="notice-action">{action}</div> : null}
    </div>
  );
}
