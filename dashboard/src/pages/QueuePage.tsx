import { useState } from "react";
import type { QueueConfig } from "../../../client/types.ts";
import { ConfirmDialog } from "../components/ConfirmDialog.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { FlowPanel } from "../components/FlowPanel.tsx";
import { HistoryCharts } from "../components/HistoryCharts.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PeekPanel } from "../components/PeekPanel.tsx";
import { QueueSettingsForm } from "../components/QueueSettingsForm.tsx";
import { SendMessageForm } from "../components/SendMessageForm.tsx";
import { StatCard } from "../components/StatCard.tsx";
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatRate,
  formatSeconds,
  plural,
} from "../format.ts";
import { currentRate } from "../monitor.ts";
import { href } from "../router.ts";
import { useMonitor, useSession } from "../session.ts";

export function QueuePage({ queue }: { queue: string }) {
  const { queues, history, error } = useMonitor();
  const { api, monitor } = useSession();
  const [editing, setEditing] = useState(false);
  const [purging, setPurging] = useState<"ask" | "busy" | null>(null);
  const [purgeError, setPurgeError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [peekVersion, setPeekVersion] = useState(0);
  const summary = queues?.find((q) => q.name === queue);
  const samples = history.get(queue) ?? [];

  const header = (
    <PageHeader
      crumbs={[{ label: "Queues", href: href.queues() }, { label: queue }]}
      title={queue}
      actions={
        summary ? (
          <>
            {summary.stats.paused ? (
              <span className="badge badge-state-delayed">Paused</span>
            ) : null}
            <a className="button" href={href.deadLetters(queue)}>
              Dead letters ({formatCount(summary.stats.deadLettered)})
            </a>
          </>
        ) : null
      }
    />
  );

  if (!summary) {
    return (
      <>
        {header}
        {error ? <ErrorNotice error={error} /> : null}
        {queues === null ? (
          <p className="loading">Loading…</p>
        ) : (
          <div className="empty">
            <h2>Queue “{queue}” does not exist</h2>
            <p>
              It may have been deleted, or the name is misspelt (names are case-sensitive).{" "}
              <a href={href.queues()}>See all queues</a>
            </p>
          </div>
        )}
      </>
    );
  }

  const { stats, config } = summary;
  return (
    <>
      {header}
      {error ? <ErrorNotice error={error} /> : null}
      <ul className="stat-cards" aria-label="Current state">
        <StatCard label="Ready" value={formatCount(stats.ready)} />
        <StatCard label="Leased" value={formatCount(stats.leased)} />
        <StatCard label="Delayed" value={formatCount(stats.delayed)} />
        <StatCard
          label="Dead letters"
          value={formatCount(stats.deadLettered)}
          href={href.deadLetters(queue)}
        />
        <StatCard
          label="Oldest"
          value={stats.oldestAgeMs ? formatDuration(stats.oldestAgeMs) : "—"}
        />
        <StatCard label="Backlog" value={formatBytes(stats.backlogBytes)} />
        <StatCard label="Send rate" value={formatRate(currentRate(samples, "sent"))} />
        <StatCard label="Ack rate" value={formatRate(currentRate(samples, "acked"))} />
      </ul>

      <HistoryCharts queue={queue} />

      <div className="columns">
        <section className="panel" aria-labelledby="config-heading">
          <div className="panel-header">
            <h2 id="config-heading" className="panel-title">
              Configuration
            </h2>
            {editing ? null : (
              <span className="toolbar-group">
                <button
                  type="button"
                  className="button button-small"
                  onClick={() => setEditing(true)}
                >
                  Edit settings
                </button>
                <button
                  type="button"
                  className="button button-small button-danger-outline"
                  onClick={() => setPurging("ask")}
                >
                  Purge…
                </button>
              </span>
            )}
          </div>
          {notice ? (
            <p className="notice notice-success" role="status">
              {notice}
            </p>
          ) : null}
          {editing ? (
            <QueueSettingsForm
              queue={summary}
              onSubmit={(name, patch) => api.putQueue(name, patch)}
              onDone={() => {
                setEditing(false);
                setNotice("Settings saved.");
                void monitor.refresh();
              }}
              onCancel={() => setEditing(false)}
            />
          ) : (
            <ConfigList config={config} />
          )}
        </section>
        <section className="panel" aria-labelledby="send-heading">
          <h2 id="send-heading" className="panel-title">
            Send a test message
          </h2>
          <SendMessageForm
            queue={queue}
            ordering={config.ordering}
            onSent={() => setPeekVersion((v) => v + 1)}
          />
        </section>
      </div>

      <ConfirmDialog
        open={purging !== null}
        title={`Purge ${queue}?`}
        confirmLabel="Purge every message"
        tone="danger"
        busy={purging === "busy"}
        error={purgeError}
        onConfirm={async () => {
          setPurging("busy");
          try {
            const purged = await api.purge(queue);
            setPurging(null);
            setNotice(`Purged ${plural(purged, "message")}.`);
            void monitor.refresh();
          } catch (failure) {
            setPurgeError(failure);
            setPurging("ask");
          }
        }}
        onCancel={() => {
          setPurging(null);
          setPurgeError(null);
        }}
      >
        <p>
          Every message of {queue} is deleted for good, leased ones included. Its dead letters stay.
        </p>
      </ConfirmDialog>

      <FlowPanel queue={summary} />

      {/* Remounted after a send, so the peek shows the new message. */}
      <PeekPanel key={peekVersion} queue={queue} />
    </>
  );
}

function ConfigList({ config }: { config: QueueConfig }) {
  const { retry, backlog, push } = config;
  return (
    <dl className="facts">
      <dt>Partitions</dt>
      <dd>{config.partitions}</dd>
      <dt>Ordering</dt>
      <dd>{config.ordering}</dd>
      <dt>Visibility timeout</dt>
      <dd>{formatSeconds(config.visibilityTimeout)}</dd>
      <dt>Max attempts</dt>
      <dd>{config.maxAttempts}</dd>
      <dt>Retry</dt>
      <dd>
        {formatSeconds(retry.initialDelay)} first, × {retry.multiplier} each time, at most{" "}
        {formatSeconds(retry.maxDelay)}
        {retry.jitter ? ", jittered" : ""}
      </dd>
      <dt>Retention</dt>
      <dd>{formatSeconds(config.retention)}</dd>
      <dt>Max message size</dt>
      <dd>{formatBytes(config.maxMessageBytes)}</dd>
      <dt>Dedup window</dt>
      <dd>{config.dedupWindow ? formatSeconds(config.dedupWindow) : "off"}</dd>
      <dt>Backlog limits</dt>
      <dd>
        soft {formatCount(backlog.soft)}, hard {formatCount(backlog.hard)} per partition
      </dd>
      <dt>Push</dt>
      <dd className="wrap">
        {push
          ? `${push.url} (batches of ${push.batchSize}, ${push.concurrency} at a time, ${push.timeout} s timeout)`
          : "off — consumers pull"}
      </dd>
    </dl>
  );
}
