import { type FormEvent, useId, useState } from "react";
import type { KeyFlow, KeyLimits, Queue } from "../../../client/types.ts";
import { formatDuration, formatTime } from "../format.ts";
import { useSession } from "../session.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

const REASONS: Record<string, string> = {
  paused: "paused",
  rate: "out of rate tokens",
  concurrency: "at its concurrency",
};

/** "10/s, burst 10, 3 at once", or "none". */
export function describeLimits(limits: KeyLimits | null | undefined): string {
  const parts: string[] = [];
  if (limits?.rate !== undefined) {
    parts.push(`${limits.rate}/s`);
    if (limits.burst !== undefined) parts.push(`burst ${limits.burst}`);
  }
  if (limits?.concurrency !== undefined) parts.push(`${limits.concurrency} at once`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

/**
 * Flow control on a queue's page: whether it is paused (with pause and resume), the limits
 * its keys get, the keys held back, and a key's own pause and limits.
 */
export function FlowPanel({ queue }: { queue: Queue }) {
  const { api, monitor } = useSession();
  const { stats, config } = queue;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function act(work: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await work();
      await monitor.refresh();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="flow-heading">
      <h2 id="flow-heading" className="panel-title">
        Flow control
      </h2>
      <p role="status">
        {stats.paused ? (
          <span className="badge badge-state-delayed">
            Paused{stats.pausedUntil ? ` until ${formatTime(stats.pausedUntil)}` : ""}
          </span>
        ) : (
          <span className="badge badge-state-ready">Delivering</span>
        )}{" "}
        {stats.pausedKeys > 0 ? (
          <span className="badge">{stats.pausedKeys} keys paused</span>
        ) : null}
      </p>
      <p className="muted small">
        While paused, sends are taken but nothing is leased, pushed or sent to sockets; leases
        already out run on and can still be acked.
      </p>
      <div className="form-actions">
        <button
          type="button"
          className={stats.paused ? "button button-primary" : "button"}
          disabled={busy}
          onClick={() => act(() => (stats.paused ? api.resume(queue.name) : api.pause(queue.name)))}
        >
          {stats.paused ? "Resume queue" : "Pause queue"}
        </button>
      </div>
      <dl className="facts">
        <dt>Every key</dt>
        <dd>{describeLimits(config.keyLimits)}</dd>
        <dt>In flight</dt>
        <dd>
          {config.maxInFlight === undefined
            ? "no cap"
            : `at most ${config.maxInFlight} leased, split over ${config.partitions} partitions`}
        </dd>
        <dt>Fairness</dt>
        <dd>{config.fairness === "keys" ? "round-robin over keys" : "oldest first"}</dd>
      </dl>
      {stats.heldKeys.length > 0 ? (
        <div className="table-wrap">
          <table className="table" aria-label="Keys held back">
            <thead>
              <tr>
                <th scope="col">Key held back</th>
                <th scope="col">Why</th>
                <th scope="col">Oldest waiting</th>
              </tr>
            </thead>
            <tbody>
              {stats.heldKeys.map((held) => (
                <tr key={`${held.partition}/${held.key}`}>
                  <td className="mono">{held.key}</td>
                  <td>{REASONS[held.reason]}</td>
                  <td>{formatDuration(held.oldestWaitMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
      <KeyForm queue={queue.name} />
    </section>
  );
}

/** Looks a key up, pauses or resumes it, and sets its own limits. */
function KeyForm({ queue }: { queue: string }) {
  const { api, monitor } = useSession();
  const id = useId();
  const [key, setKey] = useState("");
  const [flow, setFlow] = useState<KeyFlow | null>(null);
  const [limits, setLimits] = useState({ rate: "", burst: "", concurrency: "" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  /** Does `work`, then shows `target` as it is after it. */
  async function act(target: string, work?: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await work?.();
      setFlow(await api.getKey(queue, target));
      void monitor.refresh();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  function look(event: FormEvent) {
    event.preventDefault();
    if (key.trim()) void act(key.trim());
  }

  function ownLimits(): KeyLimits {
    const own: KeyLimits = {};
    if (limits.rate.trim()) own.rate = Number(limits.rate);
    if (limits.burst.trim()) own.burst = Number(limits.burst);
    if (limits.concurrency.trim()) own.concurrency = Number(limits.concurrency);
    return own;
  }

  const field = (name: keyof typeof limits, label: string) => (
    <div className="field">
      <label htmlFor={`${id}-${name}`}>{label}</label>
      <input
        id={`${id}-${name}`}
        type="number"
        min={0}
        value={limits[name]}
        onChange={(e) => setLimits({ ...limits, [name]: e.target.value })}
      />
    </div>
  );

  return (
    <form className="form" onSubmit={look} aria-label="A key's flow control">
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${id}-key`}>Key</label>
          <input id={`${id}-key`} value={key} onChange={(e) => setKey(e.target.value)} />
        </div>
        <div className="form-actions">
          <button type="submit" className="button" disabled={busy || !key.trim()}>
            Look up key
          </button>
        </div>
      </div>
      {flow ? (
        <>
          <dl className="facts" aria-label={`Key ${flow.key}`}>
            <dt>State</dt>
            <dd>
              {flow.paused
                ? `paused${flow.paused.until ? ` until ${formatTime(flow.paused.until)}` : ""}`
                : "delivering"}
              , {flow.leased} leased, {flow.waiting} waiting (partition {flow.partition})
            </dd>
            <dt>Its own limits</dt>
            <dd>{describeLimits(flow.limits)}</dd>
            <dt>Limits that apply</dt>
            <dd>{describeLimits(flow.effective)}</dd>
          </dl>
          <div className="form-actions">
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() =>
                act(flow.key, () =>
                  flow.paused ? api.resume(queue, flow.key) : api.pause(queue, { key: flow.key }),
                )
              }
            >
              {flow.paused ? "Resume key" : "Pause key"}
            </button>
          </div>
          <div className="field-row">
            {field("rate", "Rate, per second")}
            {field("burst", "Burst")}
            {field("concurrency", "Concurrency")}
          </div>
          <div className="form-actions">
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() => act(flow.key, () => api.putKeyLimits(queue, flow.key, ownLimits()))}
            >
              Set key limits
            </button>
          </div>
        </>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
    </form>
  );
}
