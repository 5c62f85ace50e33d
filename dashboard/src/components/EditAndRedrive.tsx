/**
 * Edit and redrive one dead letter: change its body or headers, then send it back. Sluice keeps
 * the change in the message's timeline (who, when, the old value's SHA-256). The fields are
 * checked here first, so a typo is shown next to its field before anything is sent.
 */
import { type FormEvent, useState } from "react";
import type { DeadLetterEditInput, DeadMessage, JsonValue } from "../../../client/types.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

interface Props {
  message: DeadMessage;
  /** Saves the edit and redrives the message; rejects with the API's refusal. */
  onSubmit: (edit: DeadLetterEditInput) => Promise<void>;
  onCancel: () => void;
}

function bodyText(message: DeadMessage): string {
  return message.contentType === "application/json"
    ? JSON.stringify(message.body, null, 2)
    : String(message.body);
}

/** The edit the fields ask for, or what is wrong with each field. */
export function readEdit(
  message: DeadMessage,
  body: string,
  headers: string,
): { edit: DeadLetterEditInput } | { errors: { body?: string; headers?: string } } {
  const errors: { body?: string; headers?: string } = {};
  const edit: DeadLetterEditInput = {};
  if (body !== bodyText(message)) {
    if (message.contentType === "application/json") {
      try {
        edit.body = JSON.parse(body) as JsonValue;
      } catch (error) {
        errors.body = `not JSON: ${(error as Error).message}`;
      }
    } else {
      edit.body = body;
    }
    if (!errors.body) edit.contentType = message.contentType;
  }
  if (headers !== JSON.stringify(message.headers, null, 2)) {
    try {
      const parsed: unknown = JSON.parse(headers);
      const valid =
        typeof parsed === "object" &&
        parsed !== null &&
        !Array.isArray(parsed) &&
        Object.values(parsed).every((value) => typeof value === "string");
      if (valid) edit.headers = parsed as Record<string, string>;
      else errors.headers = 'a JSON object of strings, like {"tenant": "eu"}';
    } catch (error) {
      errors.headers = `not JSON: ${(error as Error).message}`;
    }
  }
  return errors.body || errors.headers ? { errors } : { edit };
}

export function EditAndRedrive({ message, onSubmit, onCancel }: Props) {
  const [body, setBody] = useState(() => bodyText(message));
  const [headers, setHeaders] = useState(() => JSON.stringify(message.headers, null, 2));
  const [errors, setErrors] = useState<{ body?: string; headers?: string }>({});
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const read = readEdit(message, body, headers);
    if ("errors" in read) {
      setErrors(read.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    setFailure(null);
    try {
      await onSubmit(read.edit);
    } catch (error) {
      setFailure(error);
      setBusy(false);
    }
  }

  return (
    <form className="edit-redrive" onSubmit={submit} aria-label="Edit and redrive">
      <CodeField
        name="body"
        label={`Body (${message.contentType})`}
        rows={8}
        value={body}
        error={errors.body && `Body: ${errors.body}`}
        onChange={setBody}
      />
      <CodeField
        name="headers"
        label="Headers (JSON)"
        rows={4}
        value={headers}
        error={errors.headers && `Headers: ${errors.headers}`}
        onChange={setHeaders}
      />
      {failure ? <ErrorNotice error={failure} /> : null}
      <div className="detail-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          Save and redrive
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A text area of code with its mistake, if any, under it and tied to it for screen readers. */
function CodeField(props: {
  name: string;
  label: string;
  rows: number;
  value: string;
  error: string | undefined;
  onChange: (value: string) => void;
}) {
  const errorId = `edit-${props.name}-error`;
  return (
    <label className="field">
      <span>{props.label}</span>
      <textarea
        className="code"
        rows={props.rows}
        value={props.value}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? errorId : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.error ? (
        <span id={errorId} className="field-error">
          {props.error}
        </span>
      ) : null}
    </label>
  );
}
