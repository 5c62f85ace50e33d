import { type ReactNode, type RefObject, useCallback, useEffect, useRef, useState } from "react";
import { SluiceError } from "../../../client/errors.ts";
import type { DeadLetterEditInput, DeadMessage } from "../../../client/types.ts";
import { bodyBytes, renderBody } from "../body.ts";
import { formatBytes, formatOffset, formatTime } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { useSession } from "../session.ts";
import { CopyButton } from "./CopyButton.tsx";
import { DETAIL_PANEL_ID, failureCause } from "./DeadLetterTable.tsx";
import { EditAndRedrive } from "./EditAndRedrive.tsx";
import { ErrorNotice } from "./ErrorNotice.tsx";
import { type Column, TableHead } from "./TableHead.tsx";

export interface DeadLetterActions {
  onRedrive: (id: string) => void;
  onDelete: (id: string) => void;
  /** Saves a changed body or headers, then redrives the message. */
  onEditAndRedrive: (id: string, edit: DeadLetterEditInput) => Promise<void>;
  onClose: () => void;
}

/** Everything known about one dead letter: what it carried and every attempt that failed. */
export function DeadLetterDetail({
  message,
  onRedrive,
  onDelete,
  onEditAndRedrive,
  onClose,
}: DeadLetterActions & { message: DeadMessage }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const [editing, setEditing] = useState(false);
  // Opening a message moves focus here so keyboard and screen-reader users land on it.
  const focusedFor = useRef<string | null>(null);
  useEffect(() => {
    if (focusedFor.current === message.id) return;
    focusedFor.current = message.id;
    heading.current?.focus();
  }, [message.id]);

  return (
    <DetailPanel id={message.id} heading={heading} onClose={onClose}>
      <div className="detail-actions">
        <button
          type="button"
          className="button button-primary"
          onClick={() => onRedrive(message.id)}
        >
          Redrive
        </button>
        <button type="button" className="button" onClick={() => setEditing(true)}>
          Edit body or headers…
        </button>
        <button
          type="button"
          className="button button-danger-outline"
          onClick={() => onDelete(message.id)}
        >
          Delete
        </button>
        <CopyButton text={message.id} label="Copy ID" />
      </div>

      <dl className="facts">
        <dt>Key</dt>
        <dd className="mono">{message.key ?? <span className="muted">none</span>}</dd>
        <dt>Partition / seq</dt>
        <dd className="mono">
          {message.partition} / {message.seq}
        </dd>
        <dt>Priority</dt>
        <dd>{message.priority}</dd>
        <dt>Attempts</dt>
        <dd>{message.attempts}</dd>
        <dt>Sent</dt>
        <dd>{formatTime(message.sentAt)}</dd>
        <dt>Died</dt>
        <dd>{formatTime(message.diedAt)}</dd>
      </dl>

      <h3 className="detail-section">Attempts</h3>
      <Timeline message={message} />

      {editing ? (
        <>
          <h3 className="detail-section">Edit and redrive</h3>
          <EditAndRedrive
            message={message}
            onSubmit={(edit) => onEditAndRedrive(message.id, edit)}
            onCancel={() => setEditing(false)}
          />
        </>
      ) : (
        <>
          <h3 className="detail-section">Body</h3>
          <BodyView body={message.body} contentType={message.contentType} />

          <h3 className="detail-section">Headers</h3>
          <HeadersView headers={message.headers} />
        </>
      )}
    </DetailPanel>
  );
}

/**
 * The detail of a dead letter that is not on the page on screen (a shared link, another page),
 * fetched by id. Give it `key={id}`, so another id starts from "Loading…".
 */
export function DeadLetterLoader({
  queue,
  id,
  ...actions
}: DeadLetterActions & { queue: string; id: string }) {
  const { api } = useSession();
  const loaded = useLoaded(useCallback(() => api.getDeadLetter(queue, id), [api, queue, id]));
  if (loaded.value) return <DeadLetterDetail message={loaded.value} {...actions} />;
  return (
    <DetailPanel id={id} onClose={actions.onClose}>
      {loaded.error ? (
        loaded.error instanceof SluiceError && loaded.error.status === 404 ? (
          <p>This dead letter is no longer here: it was redriven or deleted.</p>
        ) : (
          <ErrorNotice error={loaded.error} />
        )
      ) : (
        <p className="loading">Loading…</p>
      )}
    </DetailPanel>
  );
}

/** The panel around a dead letter's detail: its id as the heading; Close or Escape closes it. */
function DetailPanel({
  id,
  heading,
  onClose,
  children,
}: {
  id: string;
  heading?: RefObject<HTMLHeadingElement | null>;
  onClose: () => void;
  children: ReactNode;
}) {
  return (
    <section
      id={DETAIL_PANEL_ID}
      className="panel detail"
      aria-labelledby="detail-heading"
      onKeyDown={(event) => {
        if (event.key === "Escape") onClose();
      }}
    >
      <header className="detail-header">
        <h2 id="detail-heading" ref={heading} tabIndex={-1} className="detail-title">
          Dead letter <span className="mono">{id}</span>
        </h2>
        <button type="button" className="button button-small" onClick={onClose}>
          Close<span className="visually-hidden"> details</span>
        </button>
      </header>
      {children}
    </section>
  );
}

export function Timeline({ message }: { message: DeadMessage }) {
  return (
    <ol className="timeline" aria-label="Attempt timeline">
      <li className="timeline-event timeline-sent">
        <span className="timeline-what">Sent</span>
        <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
      </li>
      {message.failures.map((failure) => (
        <li key={`${failure.attempt}-${failure.at}`} className="timeline-event timeline-failure">
          <span className="timeline-what">
            Attempt {failure.attempt} failed{" "}
            <span className={`badge badge-${failure.by}`}>{failureCause[failure.by]}</span>
          </span>
          <time dateTime={new Date(failure.at).toISOString()} title={formatTime(failure.at)}>
            {formatOffset(failure.at, message.sentAt)} after send
          </time>
          <p className="timeline-reason">
            {failure.reason || <span className="muted">(no reason given)</span>}
          </p>
        </li>
      ))}
      <li className="timeline-event timeline-died">
        <span className="timeline-what">
          Dead-lettered after {message.attempts} attempt{message.attempts === 1 ? "" : "s"}
        </span>
        <time dateTime={new Date(message.diedAt).toISOString()}>{formatTime(message.diedAt)}</time>
      </li>
      {(message.edits ?? []).map((edit) => (
        <li key={`${edit.field}-${edit.at}`} className="timeline-event">
          <span className="timeline-what">
            {edit.field === "body" ? "Body" : "Headers"} edited by{" "}
            <span className="mono">{edit.by}</span>
          </span>
          <time dateTime={new Date(edit.at).toISOString()}>{formatTime(edit.at)}</time>
          <p className="timeline-reason muted small">
            was SHA-256 <span className="mono">{edit.previousSha256.slice(0, 16)}…</span>
          </p>
        </li>
      ))}
    </ol>
  );
}

export function BodyView({ body, contentType }: Pick<DeadMessage, "body" | "contentType">) {
  const rendered = renderBody(body, contentType);
  return (
    <div className="body-view">
      <div className="body-meta">
        <span className="badge">{contentType}</span>
        <span className="muted small">
          {rendered.kind === "hex"
            ? `${formatBytes(rendered.byteLength)}${rendered.truncated ? ", first 4 KiB shown" : ""}`
            : formatBytes(bodyBytes(body, contentType))}
        </span>
        <CopyButton
          text={rendered.kind === "hex" ? String(body) : rendered.text}
          label={rendered.kind === "hex" ? "Copy base64" : "Copy body"}
        />
      </div>
      {rendered.kind === "text" && rendered.note ? (
        <p className="muted small">{rendered.note}</p>
      ) : null}
      <pre className={`code body-${rendered.kind}`}>{rendered.text}</pre>
    </div>
  );
}

const HEADER_COLUMNS: Column[] = [{ label: "Name" }, { label: "Value" }];

function HeadersView({ headers }: { headers: Record<string, string> }) {
  const entries = Object.entries(headers);
  if (entries.length === 0) return <p className="muted">No headers.</p>;
  return (
    <table className="table table-compact">
      <TableHead columns={HEADER_COLUMNS} />
      <tbody>
        {entries.map(([name, value]) => (
          <tr key={name}>
            <td className="mono">{name}</td>
            <td className="mono wrap">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
