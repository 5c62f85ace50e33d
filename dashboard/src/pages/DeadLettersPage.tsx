/**
 * The dead-letter queue of one queue: find what failed and why, then redrive it or let it go.
 * Filters and the open message live in the URL; pagination and selection live in the list
 * and reset whenever the filter changes.
 */
import { useEffect, useMemo, useReducer, useState } from "react";
import { SluiceError } from "../../../client/errors.ts";
import type { RedriveInput } from "../../../client/types.ts";
import { ConfirmDialog } from "../components/ConfirmDialog.tsx";
import {
  type DeadLetterActions,
  DeadLetterDetail,
  DeadLetterLoader,
} from "../components/DeadLetterDetail.tsx";
import { DeadLetterFilters } from "../components/DeadLetterFilters.tsx";
import { DeadLetterTable } from "../components/DeadLetterTable.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { FailureClusters } from "../components/FailureClusters.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import {
  type FilterState,
  filterFromParams,
  filterToParams,
  filterToQuery,
  isFiltered,
} from "../deadLetterFilter.ts";
import { initialWorkspace, type PendingAction, workspaceReducer } from "../deadLetterWorkspace.ts";
import { collectDeadLetters, downloadText, exportFileName, toNdjson } from "../exportNdjson.ts";
import { formatCount, plural } from "../format.ts";
import { useNow } from "../hooks.ts";
import { href, navigate } from "../router.ts";
import { useMonitor, useSession } from "../session.ts";

export const PAGE_SIZE = 50;

export function DeadLettersPage({ queue, params }: { queue: string; params: URLSearchParams }) {
  const filterKey = filterToParams(filterFromParams(params)).toString();
  const filter = useMemo(() => filterFromParams(new URLSearchParams(filterKey)), [filterKey]);
  const openId = params.get("id");
  // Bumped when a cluster's dead letters moved or went, so the list loads again.
  const [version, setVersion] = useState(0);

  function applyFilter(next: FilterState) {
    navigate(href.deadLetters(queue, filterToParams(next)));
  }

  return (
    <>
      <PageHeader
        crumbs={[
          { label: "Queues", href: href.queues() },
          { label: queue, href: href.queue(queue) },
          { label: "Dead letters" },
        ]}
        title={
          <>
            Dead letters <span className="title-queue">{queue}</span>
          </>
        }
        subtitle="Messages that used up their attempts, with every failure. Redrive them once the cause is fixed."
      />
      <FailureClusters
        queue={queue}
        cluster={filter.cluster}
        onChoose={(cluster) => applyFilter({ ...filter, cluster })}
        onChanged={() => setVersion((v) => v + 1)}
      />
      <DeadLetterFilters key={filterKey} value={filter} onApply={applyFilter} />
      <DeadLetterWorkspace
        key={`${queue}?${filterKey}#${version}`}
        queue={queue}
        filter={filter}
        openId={openId}
      />
    </>
  );
}

function DeadLetterWorkspace({
  queue,
  filter,
  openId,
}: {
  queue: string;
  filter: FilterState;
  openId: string | null;
}) {
  const { api, monitor } = useSession();
  const snapshot = useMonitor();
  const now = useNow(10_000);
  const summary = snapshot.queues?.find((q) => q.name === queue);
  const totalDead = summary?.stats.deadLettered ?? null;

  const [state, dispatch] = useReducer(workspaceReducer, queue, (name) =>
    initialWorkspace(name, Date.now()),
  );
  const { cursors, requestedAt, page, loading, loadError, deadAtLoad, selected } = state;
  const { pending, busy, actionError, target, typedName, notice, exporting, exportError } = state;

  const cursor = cursors.at(-1);
  useEffect(() => {
    let current = true;
    dispatch({ type: "load-started" });
    api
      .listDeadLetters(queue, { limit: PAGE_SIZE, cursor, ...filterToQuery(filter, requestedAt) })
      .then((answer) => {
        if (!current) return;
        const deadAtLoad =
          monitor.getSnapshot().queues?.find((q) => q.name === queue)?.stats.deadLettered ?? null;
        dispatch({ type: "loaded", page: answer, deadAtLoad });
      })
      .catch((error: unknown) => current && dispatch({ type: "load-failed", error }));
    return () => {
      current = false;
    };
  }, [api, monitor, queue, filter, cursor, requestedAt]);

  const messages = page?.messages ?? [];
  const reload = () => dispatch({ type: "reload", at: Date.now() });

  function open(id: string) {
    const params = filterToParams(filter);
    params.set("id", id);
    navigate(href.deadLetters(queue, params));
  }

  function closeDetail() {
    const closing = openId;
    navigate(href.deadLetters(queue, filterToParams(filter)));
    // Back to where the operator was in the table.
    requestAnimationFrame(() => {
      const rows = document.querySelectorAll<HTMLElement>("[data-message-id]");
      [...rows].find((row) => row.dataset.messageId === closing)?.focus();
    });
  }

  function ask(action: PendingAction) {
    dispatch({ type: "ask", action, target: queue });
  }

  async function perform(action: PendingAction): Promise<string> {
    const to = target === queue ? {} : { target };
    switch (action.kind) {
      case "redrive":
      case "redrive-all": {
        const request: RedriveInput =
          action.kind === "redrive" ? { ids: action.ids, ...to } : { all: true, ...to };
        const { redriven } = await api.redriveDeadLetters(queue, request);
        return `Redrove ${plural(redriven, "message")} to ${target}.`;
      }
      case "delete": {
        const results = await Promise.allSettled(
          action.ids.map((id) => api.deleteDeadLetter(queue, id)),
        );
        // A dead letter that is already gone (404) is what the operator wanted.
        const failures = results.filter(
          (r): r is PromiseRejectedResult =>
            r.status === "rejected" &&
            !(r.reason instanceof SluiceError && r.reason.status === 404),
        );
        if (failures.length > 0) {
          reload();
          throw failures[0].reason;
        }
        return `Deleted ${plural(action.ids.length, "dead letter")}.`;
      }
      case "purge": {
        const purged = await api.purgeDeadLetters(queue);
        return `Deleted all ${plural(purged, "dead letter")} of ${queue}.`;
      }
    }
  }

  async function confirm() {
    if (!pending) return;
    dispatch({ type: "confirm-started" });
    try {
      const notice = await perform(pending);
      const gone = "ids" in pending ? pending.ids : messages.map((m) => m.id);
      dispatch({ type: "confirmed", notice, gone, at: Date.now() });
      if (openId && gone.includes(openId))
        navigate(href.deadLetters(queue, filterToParams(filter)));
      void monitor.refresh();
    } catch (error) {
      dispatch({ type: "confirm-failed", error });
    }
  }

  async function exportFiltered() {
    const abort = new AbortController();
    const notify = (notice: string) => dispatch({ type: "notice", notice });
    dispatch({ type: "export-started", abort });
    try {
      const all = await collectDeadLetters(api, queue, filterToQuery(filter, Date.now()), {
        signal: abort.signal,
        onProgress: (count) => dispatch({ type: "export-progress", count }),
      });
      if (all.length === 0) {
        notify("Nothing to export: no dead letters match these filters.");
        return;
      }
      const fileName = exportFileName(queue, Date.now());
      downloadText(fileName, toNdjson(all), "application/x-ndjson");
      notify(`Exported ${plural(all.length, "dead letter")} to ${fileName}.`);
    } catch (error) {
      if (!abort.signal.aborted) dispatch({ type: "export-failed", error });
    } finally {
      dispatch({ type: "export-ended" });
    }
  }

  const detailActions: DeadLetterActions = {
    onRedrive: (id) => ask({ kind: "redrive", ids: [id] }),
    onDelete: (id) => ask({ kind: "delete", ids: [id] }),
    onEditAndRedrive: async (id, edit) => {
      await api.editDeadLetter(queue, id, edit);
      const { redriven } = await api.redriveDeadLetters(queue, { ids: [id] });
      const notice = `Edited and redrove ${plural(redriven, "message")} to ${queue}.`;
      dispatch({ type: "confirmed", notice, gone: [id], at: Date.now() });
      navigate(href.deadLetters(queue, filterToParams(filter)));
      void monitor.refresh();
    },
    onClose: closeDetail,
  };
  const selectedIds = messages.filter((m) => selected.has(m.id)).map((m) => m.id);
  const openMessage = messages.find((m) => m.id === openId);
  const filtered = isFiltered(filter);
  const countChanged = totalDead !== null && deadAtLoad !== null && totalDead !== deadAtLoad;
  const queueMissing = loadError instanceof SluiceError && loadError.code === "queue_not_found";

  return (
    <div className={`workspace${openId ? " has-detail" : ""}`}>
      <div className="workspace-list">
        <div className="toolbar" role="toolbar" aria-label="Dead-letter actions">
          <div className="toolbar-group">
            <span className="selection-count" aria-live="polite">
              {selectedIds.length > 0 ? `${selectedIds.length} selected` : "None selected"}
            </span>
            <button
              type="button"
              className="button button-primary"
              disabled={selectedIds.length === 0}
              onClick={() => ask({ kind: "redrive", ids: selectedIds })}
            >
              Redrive selected
            </button>
            <button
              type="button"
              className="button button-danger-outline"
              disabled={selectedIds.length === 0}
              onClick={() => ask({ kind: "delete", ids: selectedIds })}
            >
              Delete selected
            </button>
          </div>
          <div className="toolbar-group">
            <button type="button" className="button" onClick={reload} disabled={loading}>
              Refresh
            </button>
            {exporting ? (
              <button type="button" className="button" onClick={() => exporting.abort.abort()}>
                Exporting {formatCount(exporting.count)}… Cancel
              </button>
            ) : (
              <button type="button" className="button" onClick={exportFiltered}>
                Export NDJSON
              </button>
            )}
            <button
              type="button"
              className="button"
              disabled={totalDead === 0}
              onClick={() => ask({ kind: "redrive-all" })}
            >
              Redrive all…
            </button>
            <button
              type="button"
              className="button button-danger-outline"
              disabled={totalDead === 0}
              onClick={() => ask({ kind: "purge" })}
            >
              Delete all…
            </button>
          </div>
        </div>

        <div className="status-line" role="status">
          {notice ? (
            <span className="notice notice-success">
              {notice}{" "}
              <button
                type="button"
                className="link-button"
                onClick={() => dispatch({ type: "notice", notice: null })}
              >
                Dismiss
              </button>
            </span>
          ) : null}
        </div>
        {exportError ? <ErrorNotice error={exportError} /> : null}
        {countChanged && !loading ? (
          <p className="notice notice-info">
            The dead-letter count changed since this list was loaded ({formatCount(deadAtLoad ?? 0)}{" "}
            → {formatCount(totalDead ?? 0)}).{" "}
            <button type="button" className="link-button" onClick={reload}>
              Refresh the list
            </button>
          </p>
        ) : null}

        {loadError ? (
          queueMissing ? (
            <div className="empty">
              <h2>Queue “{queue}” does not exist</h2>
              <p>
                It may have been deleted. <a href={href.queues()}>Back to all queues</a>
              </p>
            </div>
          ) : (
            <ErrorNotice
              error={loadError}
              action={
                <button type="button" className="button" onClick={reload}>
                  Retry
                </button>
              }
            />
          )
        ) : page === null ? (
          <p className="loading" aria-busy="true">
            Loading dead letters…
          </p>
        ) : messages.length === 0 ? (
          <EmptyDeadLetters queue={queue} filtered={filtered} firstPage={cursors.length === 1} />
        ) : (
          <>
            <DeadLetterTable
              messages={messages}
              selected={selected}
              openId={openId}
              now={now}
              onToggle={(id, on) => dispatch({ type: "select", id, on })}
              onToggleAll={(on) =>
                dispatch({ type: "select-all", ids: on ? messages.map((m) => m.id) : [] })
              }
              onOpen={open}
            />
            <nav className="pager" aria-label="Dead-letter pages">
              <button
                type="button"
                className="button"
                disabled={cursors.length === 1 || loading}
                onClick={() => dispatch({ type: "newer" })}
              >
                ← Newer
              </button>
              <span className="muted">
                Page {cursors.length} · {(cursors.length - 1) * PAGE_SIZE + 1}–
                {(cursors.length - 1) * PAGE_SIZE + messages.length}
                {totalDead !== null && !filtered ? ` of ${formatCount(totalDead)}` : ""}
              </span>
              <button
                type="button"
                className="button"
                disabled={!page.cursor || loading}
                onClick={() => dispatch({ type: "older", cursor: page.cursor ?? undefined })}
              >
                Older →
              </button>
            </nav>
          </>
        )}
      </div>

      {openId ? (
        <div className="workspace-detail">
          {openMessage ? (
            <DeadLetterDetail message={openMessage} {...detailActions} />
          ) : (
            <DeadLetterLoader key={openId} queue={queue} id={openId} {...detailActions} />
          )}
        </div>
      ) : null}

      <ConfirmDialog
        open={pending !== null}
        title={pending ? dialogTitle(pending, totalDead) : ""}
        confirmLabel={
          pending?.kind === "redrive" || pending?.kind === "redrive-all" ? "Redrive" : "Delete"
        }
        tone={pending?.kind === "redrive" || pending?.kind === "redrive-all" ? "primary" : "danger"}
        busy={busy}
        confirmDisabled={pending?.kind === "purge" && typedName !== queue}
        error={actionError}
        onConfirm={confirm}
        onCancel={() => dispatch({ type: "cancel" })}
      >
        {pending?.kind === "redrive" || pending?.kind === "redrive-all" ? (
          <>
            <p>
              {pending.kind === "redrive-all"
                ? `Every dead letter of ${queue} is moved — the filters above do not apply.`
                : "The selected messages leave the dead-letter queue."}{" "}
              They are sent again as new messages, with their body, key and headers, and start over
              with fresh attempts.
            </p>
            <div className="field">
              <label htmlFor="redrive-target">Send them to</label>
              <select
                id="redrive-target"
                value={target}
                onChange={(e) => dispatch({ type: "set-target", target: e.target.value })}
              >
                {[
                  queue,
                  ...(snapshot.queues ?? []).map((q) => q.name).filter((n) => n !== queue),
                ].map((name) => (
                  <option key={name} value={name}>
                    {name === queue ? `${name} (where they came from)` : name}
                  </option>
                ))}
              </select>
            </div>
          </>
        ) : pending?.kind === "delete" ? (
          <p>
            They are removed for good and cannot be redriven afterwards. Export them first if you
            may need them.
          </p>
        ) : pending?.kind === "purge" ? (
          <>
            <p>
              Every dead letter of <strong>{queue}</strong> is removed for good — the filters above
              do not apply.
            </p>
            <div className="field">
              <label htmlFor="purge-confirm">Type the queue name to confirm</label>
              <input
                id="purge-confirm"
                value={typedName}
                autoComplete="off"
                onChange={(e) => dispatch({ type: "type-name", name: e.target.value })}
              />
            </div>
          </>
        ) : null}
      </ConfirmDialog>
    </div>
  );
}

function dialogTitle(action: PendingAction, totalDead: number | null): string {
  const all = totalDead === null ? "all" : `all ${formatCount(totalDead)}`;
  switch (action.kind) {
    case "redrive":
      return `Redrive ${plural(action.ids.length, "dead letter")}?`;
    case "redrive-all":
      return `Redrive ${all} dead letters?`;
    case "delete":
      return `Delete ${plural(action.ids.length, "dead letter")}?`;
    case "purge":
      return `Delete ${all} dead letters?`;
  }
}

function EmptyDeadLetters({
  queue,
  filtered,
  firstPage,
}: {
  queue: string;
  filtered: boolean;
  firstPage: boolean;
}) {
  const { queues } = useMonitor();
  const maxAttempts = queues?.find((q) => q.name === queue)?.config.maxAttempts;
  if (filtered) {
    return (
      <div className="empty">
        <h2>No dead letters match these filters</h2>
        <p>
          Widen the time range or shorten the text. Reason and body filters match any part of the
          text, ignoring case. <a href={href.deadLetters(queue)}>Show all dead letters</a>
        </p>
      </div>
    );
  }
  if (!firstPage) {
    return (
      <div className="empty">
        <h2>No more dead letters</h2>
        <p>Go back to the newer pages.</p>
      </div>
    );
  }
  return (
    <div className="empty">
      <h2>No dead letters in {queue}</h2>
      <p>
        Nothing has failed for good. A message lands here after{" "}
        {maxAttempts ? plural(maxAttempts, "failed attempt") : "its last failed attempt"} (a nack or
        an expired lease), with the reason for each failure.
      </p>
    </div>
  );
}
