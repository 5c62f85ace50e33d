import { useCallback, useState } from "react";
import type { Schedule } from "../../../client/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { type Column, TableHead } from "../components/TableHead.tsx";
import { formatSeconds, formatTime } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { href } from "../router.ts";
import { useSession } from "../session.ts";

const COLUMNS: Column[] = [
  { label: "Schedule" },
  { label: "Queue" },
  { label: "When" },
  { label: "Next fires" },
  { label: "Last fire", className: "col-optional" },
  { label: "Actions", labelHidden: true },
];

/** "0 9 * * 1-5 (Europe/Paris)" or "every 5 min". */
export function describeTiming(schedule: Schedule): string {
  if (schedule.cron !== undefined) return `${schedule.cron} (${schedule.timezone ?? "UTC"})`;
  return `every ${formatSeconds(schedule.every ?? 0)}`;
}

function lastFire(schedule: Schedule): string {
  const { lastFireAt, lastOutcome } = schedule;
  if (lastOutcome === null) return "never";
  const at = lastFireAt === null ? "" : `${formatTime(lastFireAt)} · `;
  if (lastOutcome.ok) return `${at}${lastOutcome.duplicate ? "sent before" : "sent"}`;
  return `${at}${lastOutcome.code}${lastOutcome.retry ? " (retrying)" : ""}`;
}

/** Every schedule of the queues the token may see, with pause and resume. */
export function SchedulesPage() {
  const { api } = useSession();
  const schedules = useLoaded(useCallback(() => api.listSchedules(), [api]));
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function toggle(schedule: Schedule) {
    setBusy(schedule.name);
    setActionError(null);
    try {
      if (schedule.paused) await api.resumeSchedule(schedule.name);
      else await api.pauseSchedule(schedule.name);
      await schedules.reload();
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <PageHeader
        title="Schedules"
        subtitle="Messages sent to a queue on a cron expression in a timezone, or every few seconds. Each fire is sent once, with dedupId schedule:<name>:<fire time>."
      />
      {schedules.error ? <ErrorNotice error={schedules.error} /> : null}
      {actionError ? <ErrorNotice error={actionError} /> : null}
      {schedules.value === null ? (
        schedules.error ? null : (
          <p className="loading" aria-busy="true">
            Loading schedules…
          </p>
        )
      ) : schedules.value.length === 0 ? (
        <div className="empty">
          <h2>No schedules yet</h2>
          <p>Create one with the API:</p>
          <pre className="code">{`curl -X PUT ${location.origin}/v1/schedules/nightly-report \\
  -H "Authorization: Bearer $SLUICE_TOKEN" \\
  -H "content-type: application/json" \\
  -d '{"queue": "reports", "message": {"body": {"report": "daily"}}, "cron": "0 2 * * *", "timezone": "Europe/Berlin"}'`}</pre>
        </div>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">
              Every schedule with its queue, timing, next fire times and last fire.
            </caption>
            <TableHead columns={COLUMNS} />
            <tbody>
              {schedules.value.map((schedule) => (
                <tr key={schedule.name}>
                  <th scope="row">{schedule.name}</th>
                  <td>
                    <a href={href.queue(schedule.queue)}>{schedule.queue}</a>
                  </td>
                  <td>
                    <code>{describeTiming(schedule)}</code>
                  </td>
                  <td>
                    {schedule.paused ? (
                      <span className="muted">paused</span>
                    ) : schedule.upcoming.length === 0 ? (
                      <span className="muted">ended</span>
                    ) : (
                      <ol className="plain-list" aria-label={`Next fires of ${schedule.name}`}>
                        {schedule.upcoming.map((at) => (
                          <li key={at}>{formatTime(at)}</li>
                        ))}
                      </ol>
                    )}
                  </td>
                  <td className="col-optional">{lastFire(schedule)}</td>
                  <td>
                    <button
                      type="button"
                      className="button button-small"
                      disabled={busy === schedule.name}
                      onClick={() => void toggle(schedule)}
                    >
                      {schedule.paused ? `Resume ${schedule.name}` : `Pause ${schedule.name}`}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
