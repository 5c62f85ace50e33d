import { useCallback, useId, useState } from "react";
import { SluiceError } from "../../../client/errors.ts";
import type { ApiKey, CreatedKey, Scope } from "../../../client/types.ts";
import { ConfirmDialog } from "../components/ConfirmDialog.tsx";
import { CopyButton } from "../components/CopyButton.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { type Column, TableHead } from "../components/TableHead.tsx";
import { formatTime } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { useSession } from "../session.ts";

const SCOPES: Array<{ scope: Scope; label: string }> = [
  { scope: "produce", label: "produce — send messages" },
  { scope: "consume", label: "consume — receive, ack, nack" },
  { scope: "admin", label: "admin — queues, dead letters, keys" },
];

const COLUMNS: Column[] = [
  { label: "Name" },
  { label: "Scopes" },
  { label: "Queues", className: "col-optional" },
  { label: "Topics", className: "col-optional" },
  { label: "Origins", className: "col-optional" },
  { label: "Created", className: "col-optional" },
  { label: "Actions", labelHidden: true },
];

/** Splits "orders-*, billing" into patterns. */
function patterns(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
}

export function KeysPage() {
  const { api } = useSession();
  const keys = useLoaded(useCallback(() => api.listKeys(), [api]));
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function revoke() {
    if (!revoking) return;
    setRevokeBusy(true);
    setRevokeError(null);
    try {
      await api.deleteKey(revoking.id);
      setNotice(`Revoked “${revoking.name}”. Requests with its secret are refused from now on.`);
      if (created?.id === revoking.id) setCreated(null);
      setRevoking(null);
      await keys.reload();
    } catch (e) {
      setRevokeError(e);
    } finally {
      setRevokeBusy(false);
    }
  }

  const forbidden = keys.error instanceof SluiceError && keys.error.status === 403;

  return (
    <>
      <PageHeader
        title="API keys"
        subtitle="Keys for producers, consumers and operators. A secret is shown once, when the key is created; Sluice stores only its hash."
      />
      {forbidden ? (
        <div className="notice notice-error" role="alert">
          <p className="notice-title">This token cannot manage API keys</p>
          <p>Managing keys needs the admin scope. Sign out and sign in with an admin token.</p>
        </div>
      ) : (
        <>
          <CreateKeyForm
            onCreated={(key) => {
              setCreated(key);
              setNotice(null);
              void keys.reload();
            }}
          />
          {created ? (
            <section className="panel secret-panel" aria-labelledby="secret-heading">
              <h2 id="secret-heading" className="panel-title">
                Secret for “{created.name}”
              </h2>
              <p>
                Copy it now: it is not shown again. Use it as <code>Authorization: Bearer …</code>,
                or with the key ID <code className="mono">{created.id}</code> as an AWS access key
                pair for the SQS protocol.
              </p>
              <div className="secret-row">
                <code className="secret mono">{created.secret}</code>
                <CopyButton text={created.secret} label="Copy secret" />
              </div>
              <button
                type="button"
                className="button button-small"
                onClick={() => setCreated(null)}
              >
                I have stored it — hide
              </button>
            </section>
          ) : null}
          <div role="status">
            {notice ? <p className="notice notice-success">{notice}</p> : null}
          </div>
          {keys.error ? <ErrorNotice error={keys.error} /> : null}
          <section className="panel" aria-labelledby="keys-heading">
            <h2 id="keys-heading" className="panel-title">
              Keys
            </h2>
            {keys.value === null ? (
              keys.error ? null : (
                <p className="loading">Loading…</p>
              )
            ) : keys.value.length === 0 ? (
              <p className="empty-inline">
                No API keys yet. The admin token from the Worker's configuration always works;
                create keys above for everything else.
              </p>
            ) : (
              <div className="table-wrap">
                <table className="table">
                  <TableHead columns={COLUMNS} />
                  <tbody>
                    {keys.value.map((key) => (
                      <tr key={key.id}>
                        <th scope="row">
                          {key.name}
                          <div className="muted small mono">{key.id}</div>
                        </th>
                        <td>
                          {key.scopes.map((s) => (
                            <span key={s} className={`badge badge-scope-${s}`}>
                              {s}
                            </span>
                          ))}
                        </td>
                        <td className="mono wrap col-optional">{key.queues.join(", ")}</td>
                        <td className="mono wrap col-optional">
                          {key.topics.length ? (
                            key.topics.join(", ")
                          ) : (
                            <span className="muted">none</span>
                          )}
                        </td>
                        <td className="mono wrap col-optional">
                          {key.origins.length ? (
                            key.origins.join(", ")
                          ) : (
                            <span className="muted">any</span>
                          )}
                        </td>
                        <td className="col-optional">
                          {key.createdAt ? formatTime(key.createdAt) : "—"}
                        </td>
                        <td className="actions-cell">
                          <button
                            type="button"
                            className="button button-small button-danger-outline"
                            onClick={() => {
                              setRevokeError(null);
                              setRevoking(key);
                            }}
                          >
                            Revoke<span className="visually-hidden"> {key.name}</span>
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke “${revoking?.name ?? ""}”?`}
        confirmLabel="Revoke key"
        tone="danger"
        busy={revokeBusy}
        error={revokeError}
        onConfirm={revoke}
        onCancel={() => setRevoking(null)}
      >
        <p>
          Every producer, consumer or person using this key is refused at once. This cannot be
          undone; create a new key to restore access.
        </p>
      </ConfirmDialog>
    </>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedKey) => void }) {
  const { api } = useSession();
  const id = useId();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(["produce", "consume"]));
  const [queues, setQueues] = useState("*");
  const [topics, setTopics] = useState("");
  const [origins, setOrigins] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function create(event: React.FormEvent) {
    event.preventDefault();
    if (!name.trim()) return setInvalid("Give the key a name, e.g. the service that will use it.");
    if (scopes.size === 0) return setInvalid("Choose at least one scope.");
    if (patterns(queues).length === 0)
      return setInvalid("List at least one queue pattern; * means every queue.");
    setInvalid(null);
    setBusy(true);
    setError(null);
    try {
      const key = await api.createKey({
        name: name.trim(),
        scopes: SCOPES.map((s) => s.scope).filter((s) => scopes.has(s)),
        queues: patterns(queues),
        ...(patterns(topics).length ? { topics: patterns(topics) } : {}),
        ...(patterns(origins).length ? { origins: patterns(origins) } : {}),
      });
      setName("");
      onCreated(key);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} className="panel-title">
        Create a key
      </h2>
      <form className="form" onSubmit={create} noValidate>
        <div className="field-row">
          <div className="field">
            <label htmlFor={`${id}-name`}>Name</label>
            <input
              id={`${id}-name`}
              value={name}
              placeholder="billing-worker"
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-queues`}>Queues</label>
            <input
              id={`${id}-queues`}
              className="mono"
              value={queues}
              aria-describedby={`${id}-queues-hint`}
              onChange={(e) => setQueues(e.target.value)}
            />
            <span id={`${id}-queues-hint`} className="hint">
              Names or patterns, comma-separated; <code>*</code> matches any run of characters.
            </span>
          </div>
          <div className="field">
            <label htmlFor={`${id}-topics`}>Topics (optional)</label>
            <input
              id={`${id}-topics`}
              className="mono"
              value={topics}
              placeholder="orders-*"
              aria-describedby={`${id}-topics-hint`}
              onChange={(e) => setTopics(e.target.value)}
            />
            <span id={`${id}-topics-hint`} className="hint">
              Topic patterns, like queues: publishing needs <code>produce</code> on the topic.
            </span>
          </div>
          <div className="field">
            <label htmlFor={`${id}-origins`}>Browser origins (optional)</label>
            <input
              id={`${id}-origins`}
              className="mono"
              value={origins}
              placeholder="https://app.example.com"
              aria-describedby={`${id}-origins-hint`}
              onChange={(e) => setOrigins(e.target.value)}
            />
            <span id={`${id}-origins-hint`} className="hint">
              Only for keys used from web pages (CORS).
            </span>
          </div>
        </div>
        <fieldset className="fieldset">
          <legend>Scopes</legend>
          {SCOPES.map(({ scope, label }) => (
            <label key={scope} className="check">
              <input
                type="checkbox"
                checked={scopes.has(scope)}
                onChange={(e) => {
                  const next = new Set(scopes);
                  if (e.target.checked) next.add(scope);
                  else next.delete(scope);
                  setScopes(next);
                }}
              />
              {label}
            </label>
          ))}
        </fieldset>
        {invalid ? (
          <p className="field-error" role="alert">
            {invalid}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? "Creating…" : "Create key"}
          </button>
        </div>
        {error ? <ErrorNotice error={error} /> : null}
      </form>
    </section>
  );
}
