import { useEffect, useRef } from "react";
import type { DeadLetterFailure, DeadMessage } from "../../../client/types.ts";
import { bodyPreview } from "../body.ts";
import { formatAgo, formatTime, shortId } from "../format.ts";
import { type Column, TableHead } from "./TableHead.tsx";

export const DETAIL_PANEL_ID = "dead-letter-detail";

/** The columns after the one of checkboxes. */
const COLUMNS: Column[] = [
  { label: "Message" },
  { label: "Last failure" },
  { label: "Attempts", className: "num col-optional" },
  { label: "Died" },
  { label: "Body", className: "col-optional col-body" },
];

interface DeadLetterTableProps {
  messages: readonly DeadMessage[];
  selected: ReadonlySet<string>;
  /** The message shown in the detail panel, if any. */
  openId: string | null;
  now: number;
  onToggle: (id: string, selected: boolean) => void;
  onToggleAll: (selected: boolean) => void;
  onOpen: (id: string) => void;
}

export const failureCause: Record<DeadLetterFailure["by"], string> = {
  nack: "nack",
  expiry: "lease expired",
  push: "push failed",
};

export function DeadLetterTable({
  messages,
  selected,
  openId,
  now,
  onToggle,
  onToggleAll,
  onOpen,
}: DeadLetterTableProps) {
  const selectedHere = messages.filter((m) => selected.has(m.id)).length;
  const all = selectedHere === messages.length && messages.length > 0;
  const some = selectedHere > 0 && !all;
  const selectAll = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (selectAll.current) selectAll.current.indeterminate = some;
  }, [some]);

  return (
    <div className="table-wrap">
      <table className="table dead-letter-table">
        <caption className="visually-hidden">
          Dead letters, newest first. Select rows to redrive or delete them; open one to see its
          body and failures.
        </caption>
        <TableHead columns={COLUMNS}>
          <th scope="col" className="col-select">
            <input
              ref={selectAll}
              type="checkbox"
              aria-label="Select every dead letter on this page"
              checked={all}
              onChange={(event) => onToggleAll(event.target.checked)}
            />
          </th>
        </TableHead>
        <tbody>
          {messages.map((message) => {
            const last = message.failures.at(-1);
            const isOpen = message.id === openId;
            return (
              <tr key={message.id} className={isOpen ? "is-open" : undefined}>
                <td className="col-select">
                  <input
                    type="checkbox"
                    aria-label={`Select dead letter ${message.id}`}
                    checked={selected.has(message.id)}
                    onChange={(event) => onToggle(message.id, event.target.checked)}
                  />
                </td>
                <td>
                  <button
                    type="button"
                    className="link-button mono"
                    aria-expanded={isOpen}
                    aria-controls={DETAIL_PANEL_ID}
                    data-message-id={message.id}
                    title={`Open dead letter ${message.id}`}
                    onClick={() => onOpen(message.id)}
                  >
                    {shortId(message.id)}
                  </button>
                  {message.key ? <div className="muted small">key {message.key}</div> : null}
                </td>
                <td className="reason-cell">
                  {last ? (
                    <>
                      <span className="reason">{last.reason || "(no reason given)"}</span>
                      <span className={`badge badge-${last.by}`}>{failureCause[last.by]}</span>
                    </>
                  ) : (
                    <span className="muted">no failure recorded</span>
                  )}
                </td>
                <td className="num col-optional">{message.attempts}</td>
                <td className="nowrap">
                  <time
                    dateTime={new Date(message.diedAt).toISOString()}
                    title={formatTime(message.diedAt)}
                  >
                    {formatAgo(message.diedAt, now)}
                  </time>
                </td>
                <td className="col-optional col-body body-preview mono">
                  {bodyPreview(message.body, message.contentType, 60)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
