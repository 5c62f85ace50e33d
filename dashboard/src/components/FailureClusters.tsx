/**
 * Dead letters grouped by cause, before the messages: each failure cluster (its reason with the
 * varying parts masked) with its count, top keys and when it was seen. A chosen cluster can be
 * redriven as a job, behind a canary, and followed until it ends, or deleted whole.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { FailureCluster, RedriveJob } from "../../../client/types.ts";
import { formatCount, formatTime, plural } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { useSession } from "../session.ts";
import { ConfirmDialog } from "./ConfirmDialog.tsx";
import { ErrorNotice } from "./ErrorNotice.tsx";

/** How often a running job's progress is asked for. */
const JOB_POLL_MS = 1_000;
const ENDED = new Set(["done", "cancelled", "canary_failed", "failed"]);

const STATE_LABEL: Record<RedriveJob["state"], string> = {
  canary: "Canary: waiting for the first messages to be acked",
  running: "Running",
  done: "Done",
  cancelled: "Cancelled",
  canary_failed: "Stopped: a canary message failed again",
  failed: "Failed",
};

interface Props {
  queue: string;
  /** The chosen cluster's fingerprint, if one is chosen. */
  cluster?: string;
  onChoose: (fingerprint: string | undefined) => void;
  /** Dead letters moved or deleted: the list below should load again. */
  onChanged: () => void;
}

export function FailureClusters({ queue, cluster, onChoose, onChanged }: Props) {
  const { api } = useSession();
  const [version, setVersion] = useState(0);
  const load = useCallback(() => {
    void version; // a new version (a cluster moved or deleted) loads again
    return api.listFailureClusters(queue);
  }, [api, queue, version]);
  const { value: clusters, error } = useLoaded(load);
  const changed = () => {
    setVersion((v) => v + 1);
    onChanged();
  };

  const chosen = clusters?.find((c) => c.fingerprint === cluster);
  return (
    <section className="panel" aria-labelledby="clusters-heading">
      <div className="panel-header">
        <h2 id="clusters-heading" className="panel-title">
          {cluster === undefined ? "Failure clusters" : "Failure cluster"}
        </h2>
        {cluster === undefined ? null : (
          <button type="button" className="button button-small" onClick={() => onChoose(undefined)}>
            All clusters
          </button>
        )}
      </div>
      {error ? <ErrorNotice error={error} /> : null}
      {cluster !== undefined ? (
        <ChosenCluster
          queue={queue}
          fingerprint={cluster}
          cluster={chosen}
          onChanged={changed}
          onDeleted={() => {
            changed();
            onChoose(undefined);
          }}
        />
      ) : clusters === null ? (
        <p className="loading">Loading clusters…</p>
      ) : clusters.length === 0 ? (
        <p className="muted">No dead letters, so no clusters.</p>
      ) : (
        <ul className="cluster-list">
          {clusters.map((c) => (
            <li key={c.fingerprint} className="cluster">
              <button type="button" className="link-button" onClick={() => onChoose(c.fingerprint)}>
                <code>{c.fingerprint || "(no reason)"}</code>
              </button>{" "}
              <ClusterFacts cluster={c} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ClusterFacts({ cluster }: { cluster: FailureCluster }) {
  const keys = cluster.keys.map((k) => `${k.key} (${formatCount(k.count)})`).join(", ");
  return (
    <span className="muted small">
      {plural(cluster.count, "message")}, last {formatTime(cluster.lastAt)}
      {keys ? ` · keys ${keys}` : ""} · e.g. “{cluster.example}”
    </span>
  );
}

function ChosenCluster({
  queue,
  fingerprint,
  cluster,
  onChanged,
  onDeleted,
}: {
  queue: string;
  fingerprint: string;
  cluster: FailureCluster | undefined;
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const { api } = useSession();
  const [canary, setCanary] = useState("2");
  const [rate, setRate] = useState("50");
  const [job, setJob] = useState<RedriveJob | null>(null);
  const [starting, setStarting] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const [deleting, setDeleting] = useState<"ask" | "busy" | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);

  async function start() {
    setStarting(true);
    setFailure(null);
    try {
      const size = Number(canary);
      setJob(
        await api.createRedriveJob(queue, {
          filter: { cluster: fingerprint },
          rate: Number(rate),
          ...(size > 0 ? { canary: size } : {}),
        }),
      );
    } catch (error) {
      setFailure(error);
    } finally {
      setStarting(false);
    }
  }

  async function remove() {
    setDeleting("busy");
    try {
      await api.purgeDeadLetters(queue, fingerprint);
      setDeleting(null);
      onDeleted();
    } catch (error) {
      setDeleteError(error);
      setDeleting("ask");
    }
  }

  return (
    <div className="chosen-cluster">
      <p>
        <code>{fingerprint || "(no reason)"}</code>
        <br />
        {cluster ? <ClusterFacts cluster={cluster} /> : null}
      </p>
      {failure ? <ErrorNotice error={failure} /> : null}
      {job ? (
        <JobProgress queue={queue} initial={job} onEnded={onChanged} />
      ) : (
        <form
          className="toolbar-group"
          onSubmit={(event) => {
            event.preventDefault();
            void start();
          }}
        >
          <NumberField label="Canary" max={100} value={canary} onChange={setCanary} />
          <NumberField
            label="Messages per second"
            min={1}
            max={1000}
            value={rate}
            onChange={setRate}
          />
          <button type="submit" className="button button-primary" disabled={starting}>
            Redrive this cluster
          </button>
          <button
            type="button"
            className="button button-danger-outline"
            onClick={() => setDeleting("ask")}
          >
            Delete this cluster…
          </button>
        </form>
      )}
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this cluster?"
        confirmLabel="Delete the cluster"
        tone="danger"
        busy={deleting === "busy"}
        error={deleteError}
        onConfirm={() => void remove()}
        onCancel={() => {
          setDeleting(null);
          setDeleteError(null);
        }}
      >
        <p>
          Every dead letter of this cluster ({plural(cluster?.count ?? 0, "message")}) is deleted
          for good.
        </p>
      </ConfirmDialog>
    </div>
  );
}

/** A redrive job's progress, asked for until it ends. */
function JobProgress({
  queue,
  initial,
  onEnded,
}: {
  queue: string;
  initial: RedriveJob;
  onEnded: () => void;
}) {
  const { api } = useSession();
  const [job, setJob] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const ended = ENDED.has(job.state);
  const told = useRef(false);

  useEffect(() => {
    if (ended) {
      if (!told.current) onEnded();
      told.current = true;
      return;
    }
    const timer = setTimeout(() => {
      api.getRedriveJob(queue, job.id).then(setJob, setError);
    }, JOB_POLL_MS);
    return () => clearTimeout(timer);
  }, [api, queue, job, ended, onEnded]);

  return (
    <div className="job-progress" role="status" aria-label="Redrive job">
      <strong>{STATE_LABEL[job.state]}</strong> — moved {formatCount(job.moved)}, remaining{" "}
      {formatCount(job.remaining)}, failed again {formatCount(job.failedAgain)}
      {job.canary
        ? ` · canary ${job.canary.acked}/${job.canary.size} acked${job.canary.failed ? `, ${job.canary.failed} failed` : ""}`
        : ""}
      {job.detail ? <span className="muted small"> ({job.detail})</span> : null}{" "}
      {ended ? null : (
        <button
          type="button"
          className="button button-small"
          onClick={() => api.cancelRedriveJob(queue, job.id).then(setJob, setError)}
        >
          Cancel
        </button>
      )}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

function NumberField(props: {
  label: string;
  min?: number;
  max: number;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.label}{" "}
      <input
        type="number"
        min={props.min ?? 0}
        max={props.max}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        className="input-small"
      />
    </label>
  );
}
