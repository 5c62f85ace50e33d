import { useCallback, useState } from "react";
import { bodyPreview } from "../body.ts";
import { formatTime, shortId } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { useSession } from "../session.ts";
import { BodyView } from "./DeadLetterDetail.tsx";
import { ErrorNotice } from "./ErrorNotice.tsx";
import { type Column, TableHead } from "./TableHead.tsx";

const PEEK_LIMITS = [20, 50, 100];

const COLUMNS: Column[] = [
  { label: "Message" },
  { label: "State" },
  { label: "Attempts", className: "num" },
  { label: "Visible at", className: "col-optional" },
  { label: "Body" },
];

/** A look at what is waiting, without leasing anything: consumers are not disturbed. */
export function PeekPanel({ queue }: { queue: string }) {
  const { api } = useSession();
  const [limit, setLimit] = useState(PEEK_LIMITS[0]);
  const peek = useLoaded(useCallback(() => api.peek(queue, { limit }), [api, queue, limit]));
  const messages = peek.value;

  return (
    <section className="panel" aria-labelledby="peek-heading">
      <div className="panel-header">
        <h2 id="peek-heading" className="panel-title">
          Messages
        </h2>
        <div className="panel-tools">
          <label className="inline-field">
            Show
            <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
              {PEEK_LIMITS.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="button button-small"
            onClick={peek.reload}
            disabled={peek.loading}
          >
            Refresh
          </button>
        </div>
      </div>
      <p className="muted small">
        The first messages waiting, oldest first. Peeking does not lease: consumers still receive
        them.
      </p>
      {peek.error ? <ErrorNotice error={peek.error} /> : null}
      {messages === null ? (
        peek.loading ? (
          <p className="loading">Loading…</p>
        ) : null
      ) : messages.length === 0 ? (
        <p className="empty-inline">The queue is empty: nothing ready, leased or delayed.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <TableHead columns={COLUMNS} />
            <tbody>
              {messages.map((m) => (
                <tr key={m.id}>
                  <td>
                    <span className="mono" title={m.id}>
                      {shortId(m.id)}
                    </span>
                    {m.key ? <div className="muted small">key {m.key}</div> : null}
                  </td>
                  <td>
                    <span className={`badge badge-state-${m.state}`}>{m.state}</span>
                  </td>
                  <td className="num">{m.attempts}</td>
                  <td className="col-optional">{formatTime(m.visibleAt)}</td>
                  <td className="body-cell">
                    <details>
                      <summary className="mono">{bodyPreview(m.body, m.contentType, 60)}</summary>
                      <BodyView body={m.body} contentType={m.contentType} />
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
