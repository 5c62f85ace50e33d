import { useState } from "react";
import type { Queue } from "../../../client/types.ts";
import { Sparkline } from "../components/charts.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { QueueSettingsForm } from "../components/QueueSettingsForm.tsx";
import { StatCard } from "../components/StatCard.tsx";
import { type Column, TableHead } from "../components/TableHead.tsx";
import { formatCount, formatDuration, formatRate } from "../format.ts";
import { currentRate, depthOf, POLL_INTERVAL_MS } from "../monitor.ts";
import { href, navigate } from "../router.ts";
import { useMonitor, useSession } from "../session.ts";

/** Samples in a sparkline: ten minutes at the poll interval. */
const SPARKLINE_SAMPLES = (10 * 60_000) / POLL_INTERVAL_MS;

const COLUMNS: Column[] = [
  { label: "Queue" },
  { label: "Ready", className: "num" },
  { label: "Leased", className: "num col-optional" },
  { label: "Delayed", className: "num col-optional" },
  { label: "Dead", className: "num" },
  { label: "Oldest", className: "num col-optional" },
  { label: "Send", className: "num" },
  { label: "Ack", className: "num" },
  { label: "Depth, 10 min", className: "col-optional" },
];

export function QueuesPage() {
  const { queues, history, error } = useMonitor();
  const { api, monitor } = useSession();
  const [creating, setCreating] = useState(false);

  return (
    <>
      <PageHeader
        title="Queues"
        subtitle={`Live: refreshed every ${POLL_INTERVAL_MS / 1000} s. Rates and sparklines come from this tab's own samples since it opened.`}
        actions={
          creating ? null : (
            <button
              type="button"
              className="button button-primary"
              onClick={() => setCreating(true)}
            >
              Create queue
            </button>
          )
        }
      />
      {creating ? (
        <section className="panel" aria-labelledby="create-heading">
          <h2 id="create-heading" className="panel-title">
            Create a queue
          </h2>
          <QueueSettingsForm
            onSubmit={(name, config) => api.putQueue(name, config)}
            onDone={(name) => {
              setCreating(false);
              void monitor.refresh();
              navigate(href.queue(name));
            }}
            onCancel={() => setCreating(false)}
          />
        </section>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
      {queues === null ? (
        error ? null : (
          <p className="loading" aria-busy="true">
            Loading queues…
          </p>
        )
      ) : queues.length === 0 ? (
        <div className="empty">
          <h2>No queues yet</h2>
          <p>Create one with the API, then it shows up here within a few seconds:</p>
          <pre className="code">{`curl -X PUT ${location.origin}/v1/queues/orders \\
  -H "Authorization: Bearer $SLUICE_TOKEN" \\
  -H "content-type: application/json" \\
  -d '{"maxAttempts": 5}'`}</pre>
        </div>
      ) : (
        <>
          <Totals queues={queues} />
          <div className="table-wrap">
            <table className="table queue-table">
              <caption className="visually-hidden">
                Every queue with its depth by state, dead letters, oldest message age and rates.
              </caption>
              <TableHead columns={COLUMNS} />
              <tbody>
                {queues.map(({ name, stats }) => {
                  const samples = history.get(name) ?? [];
                  return (
                    <tr key={name}>
                      <th scope="row">
                        <a href={href.queue(name)} className="queue-link">
                          {name}
                        </a>
                        {stats.paused ? (
                          <span className="badge badge-state-delayed">paused</span>
                        ) : null}
                      </th>
                      <td className="num">{formatCount(stats.ready)}</td>
                      <td className="num col-optional">{formatCount(stats.leased)}</td>
                      <td className="num col-optional">{formatCount(stats.delayed)}</td>
                      <td className="num">
                        {stats.deadLettered > 0 ? (
                          <a
                            href={href.deadLetters(name)}
                            className="dead-count"
                            aria-label={`${formatCount(stats.deadLettered)} dead letters in ${name}`}
                          >
                            {formatCount(stats.deadLettered)}
                          </a>
                        ) : (
                          <span className="muted">0</span>
                        )}
                      </td>
                      <td className="num col-optional">
                        {stats.oldestAgeMs ? formatDuration(stats.oldestAgeMs) : "—"}
                      </td>
                      <td className="num">{formatRate(currentRate(samples, "sent"))}</td>
                      <td className="num">{formatRate(currentRate(samples, "acked"))}</td>
                      <td className="col-optional">
                        <Sparkline
                          values={samples.slice(-SPARKLINE_SAMPLES).map(depthOf)}
                          label={`Depth of ${name} over the last 10 minutes`}
                        />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

function Totals({ queues }: { queues: readonly Queue[] }) {
  const sum = (pick: (stats: Queue["stats"]) => number) =>
    queues.reduce((total, { stats }) => total + pick(stats), 0);
  return (
    <ul className="stat-cards" aria-label="All queues together">
      <StatCard label="Queues" value={formatCount(queues.length)} />
      <StatCard label="Waiting" value={formatCount(sum((s) => s.ready + s.delayed))} />
      <StatCard label="Leased" value={formatCount(sum((s) => s.leased))} />
      <StatCard label="Dead letters" value={formatCount(sum((s) => s.deadLettered))} />
    </ul>
  );
}
