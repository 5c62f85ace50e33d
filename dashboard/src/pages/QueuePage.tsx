import { useState } from "react";
import type { QueueConfig } from "../../../client/types.ts";
import { LineChart } from "../components/charts.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { FlowPanel } from "../components/FlowPanel.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { PeekPanel } from "../components/PeekPanel.tsx";
import { SendMessageForm } from "../components/SendMessageForm.tsx";
import { StatCard } from "../components/StatCard.tsx";
import { formatBytes, formatCount, formatDuration, formatRate, formatSeconds } from "../format.ts";
import { useNow } from "../hooks.ts";
import { currentRate, HISTORY_WINDOW_MS, rateSeries } from "../monitor.ts";
import { href } from "../router.ts";
import { useMonitor } from "../session.ts";

const CHART_MIN_WINDOW_MS = 5 * 60_000;

export function QueuePage({ queue }: { queue: string }) {
  const { queues, history, error } = useMonitor();
  const now = useNow(5_000);
  const [peekVersion, setPeekVersion] = useState(0);
  const summary = queues?.find((q) => q.name === queue);
  const samples = history.get(queue) ?? [];
  // The charts span what this tab has seen: at least five minutes, at most the hour kept.
  const chartWindow = Math.min(
    HISTORY_WINDOW_MS,
    Math.max(CHART_MIN_WINDOW_MS, now - (samples[0]?.at ?? now)),
  );

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

      <section className="panel" aria-labelledby="charts-heading">
        <h2 id="charts-heading" className="panel-title">
          Recent history
        </h2>
        <p className="muted small">
          Drawn from what this browser tab has polled since it opened (every few seconds, up to an
          hour); Sluice keeps no history of its own. Reloading the page starts over.
        </p>
        <div className="charts">
          <LineChart
            title="Depth"
            now={now}
            windowMs={chartWindow}
            series={[
              {
                name: "Ready",
                tone: "chart-1",
                points: samples.map((s) => [s.at, s.ready] as const),
              },
              {
                name: "Leased",
                tone: "chart-2",
                points: samples.map((s) => [s.at, s.leased] as const),
              },
              {
                name: "Delayed",
                tone: "chart-3",
                points: samples.map((s) => [s.at, s.delayed] as const),
              },
            ]}
          />
          <LineChart
            title="Rates (messages/s)"
            now={now}
            windowMs={chartWindow}
            format={(v) => formatRate(v).replace("/s", "")}
            series={[
              { name: "Send", tone: "chart-1", points: rateSeries(samples, "sent") },
              { name: "Ack", tone: "chart-2", points: rateSeries(samples, "acked") },
            ]}
          />
        </div>
      </section>

      <div className="columns">
        <section className="panel" aria-labelledby="config-heading">
          <h2 id="config-heading" className="panel-title">
            Configuration
          </h2>
          <ConfigList config={config} />
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
