/**
 * Create a queue, or change an existing queue's settings. Only the fields that changed are
 * sent (a partial config); the API checks every bound (core/queue-config.ts), and each refusal
 * it names a field for is shown under that field.
 */
import { type FormEvent, useId, useState } from "react";
import { SluiceError } from "../../../client/errors.ts";
import type { QueueConfig, QueueConfigPatch } from "../../../client/types.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

/** The fields this form edits: numbers in their API units, and the ordering. */
const NUMBER_FIELDS = [
  ["partitions", "Partitions", "1–64; they only grow"],
  ["visibilityTimeout", "Visibility timeout (s)", "1–43 200"],
  ["maxAttempts", "Max attempts", "1–100"],
  ["retention", "Retention (s)", "60–1 209 600"],
  ["maxMessageBytes", "Max message size (bytes)", "1–1 048 576"],
  ["dedupWindow", "Dedup window (s)", "0–86 400; 0 is off"],
] as const;
type NumberField = (typeof NUMBER_FIELDS)[number][0];
type Field = NumberField | "ordering" | "name";

const ORDERINGS = ["fifo", "unordered", "priority"] as const;

type Values = Record<NumberField, string> & { ordering: QueueConfig["ordering"]; name: string };

function valuesOf(config: QueueConfig | undefined, name: string): Values {
  const values = { name, ordering: config?.ordering ?? "fifo" } as Values;
  for (const [field] of NUMBER_FIELDS) values[field] = config ? String(config[field]) : "";
  return values;
}

/**
 * The API's refusal split by field: "body.visibilityTimeout: Too big: …; body.retry…" (and a
 * queue name's own refusal) become messages under their fields; the rest stays general.
 */
export function fieldErrors(error: SluiceError): Partial<Record<Field | "general", string>> {
  if (error.code === "invalid_queue_name") return { name: error.detail };
  const errors: Partial<Record<Field | "general", string>> = {};
  for (const part of error.detail.split("; ")) {
    const match = /^body\.(\w+)[^:]*: (.*)$/.exec(part);
    const field = match?.[1] as Field | undefined;
    if (match && field && (field === "ordering" || NUMBER_FIELDS.some(([f]) => f === field))) {
      errors[field] = match[2];
    } else {
      errors.general = errors.general ? `${errors.general}; ${part}` : part;
    }
  }
  return errors;
}

interface Props {
  /** The queue's name and configuration; without them the form creates a queue. */
  queue?: { name: string; config: QueueConfig };
  onSubmit: (name: string, patch: QueueConfigPatch) => Promise<unknown>;
  onDone: (name: string) => void;
  onCancel: () => void;
}

export function QueueSettingsForm({ queue, onSubmit, onDone, onCancel }: Props) {
  const id = useId();
  const initial = valuesOf(queue?.config, queue?.name ?? "");
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<Partial<Record<Field | "general", string>>>({});
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  function set(field: Field, value: string) {
    setValues((current) => ({ ...current, [field]: value }));
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const patch: Record<string, unknown> = {};
    const local: Partial<Record<Field, string>> = {};
    for (const [field] of NUMBER_FIELDS) {
      if (values[field] === initial[field] || values[field].trim() === "") continue;
      const number = Number(values[field]);
      if (!Number.isInteger(number)) local[field] = "a whole number";
      else patch[field] = number;
    }
    if (values.ordering !== initial.ordering || !queue) patch.ordering = values.ordering;
    if (!values.name.trim()) local.name = "a queue needs a name";
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    setFailure(null);
    try {
      await onSubmit(values.name.trim(), patch as QueueConfigPatch);
      onDone(values.name.trim());
    } catch (error) {
      if (error instanceof SluiceError && error.status === 400) setErrors(fieldErrors(error));
      else setFailure(error);
      setBusy(false);
    }
  }

  const errorOf = (field: Field) =>
    errors[field] ? (
      <span id={`${id}-${field}-error`} className="field-error">
        {errors[field]}
      </span>
    ) : null;
  const invalid = (field: Field) =>
    errors[field]
      ? { "aria-invalid": true as const, "aria-describedby": `${id}-${field}-error` }
      : {};

  return (
    <form
      className="queue-settings"
      onSubmit={submit}
      aria-label={queue ? "Queue settings" : "Create a queue"}
    >
      {queue ? null : (
        <label className="field">
          <span>Name</span>
          <input
            value={values.name}
            onChange={(e) => set("name", e.target.value)}
            {...invalid("name")}
          />
          {errorOf("name")}
        </label>
      )}
      <label className="field">
        <span>Ordering</span>
        <select
          value={values.ordering}
          onChange={(e) => set("ordering", e.target.value)}
          {...invalid("ordering")}
        >
          {ORDERINGS.map((ordering) => (
            <option key={ordering} value={ordering}>
              {ordering}
            </option>
          ))}
        </select>
        {errorOf("ordering")}
      </label>
      {NUMBER_FIELDS.map(([field, label, hint]) => (
        <label key={field} className="field">
          <span>
            {label} <span className="muted small">{hint}</span>
          </span>
          <input
            inputMode="numeric"
            value={values[field]}
            placeholder={queue ? undefined : "default"}
            onChange={(e) => set(field, e.target.value)}
            {...invalid(field)}
          />
          {errorOf(field)}
        </label>
      ))}
      {errors.general ? <p className="field-error">{errors.general}</p> : null}
      {failure ? <ErrorNotice error={failure} /> : null}
      <div className="detail-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {queue ? "Save settings" : "Create queue"}
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
