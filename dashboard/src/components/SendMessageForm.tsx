import { useId, useState } from "react";
import type { ContentType, JsonValue, QueueConfig, SentMessage } from "../../../client/types.ts";
import { isBase64 } from "../body.ts";
import { useSession } from "../session.ts";
import { ErrorNotice } from "./ErrorNotice.tsx";

const EXAMPLE_BODY = `{\n  "hello": "from the Sluice dashboard"\n}`;

/** Sends one message, the way a producer would, to check a queue and its consumers end to end. */
export function SendMessageForm({
  queue,
  ordering,
  onSent,
}: {
  queue: string;
  ordering: QueueConfig["ordering"];
  onSent: () => void;
}) {
  const { api, monitor } = useSession();
  const id = useId();
  const [body, setBody] = useState(EXAMPLE_BODY);
  const [contentType, setContentType] = useState<ContentType>("application/json");
  const [key, setKey] = useState("");
  const [delay, setDelay] = useState("");
  const [priority, setPriority] = useState("0");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<SentMessage | null>(null);
  const [error, setError] = useState<unknown>(null);

  function parsedBody(): { ok: true; value: JsonValue } | { ok: false; problem: string } {
    if (contentType === "application/json") {
      try {
        return { ok: true, value: JSON.parse(body) };
      } catch (e) {
        return { ok: false, problem: `The body is not valid JSON: ${(e as Error).message}` };
      }
    }
    if (contentType === "application/octet-stream" && !isBase64(body)) {
      return {
        ok: false,
        problem: "Binary bodies are entered as base64, and this is not valid base64.",
      };
    }
    return { ok: true, value: body };
  }

  async function send(event: React.FormEvent) {
    event.preventDefault();
    const parsed = parsedBody();
    if (!parsed.ok) {
      setInvalid(parsed.problem);
      return;
    }
    setInvalid(null);
    setSending(true);
    setError(null);
    setSent(null);
    try {
      const receipt = await api.send(queue, parsed.value, {
        contentType,
        ...(key.trim() ? { key: key.trim() } : {}),
        ...(delay.trim() ? { delaySeconds: Number(delay) } : {}),
        ...(ordering === "priority" ? { priority: Number(priority) } : {}),
      });
      setSent(receipt);
      onSent();
      void monitor.refresh();
    } catch (e) {
      setError(e);
    } finally {
      setSending(false);
    }
  }

  return (
    <form className="form" onSubmit={send}>
      <div className="field">
        <label htmlFor={`${id}-type`}>Content type</label>
        <select
          id={`${id}-type`}
          value={contentType}
          onChange={(e) => setContentType(e.target.value as ContentType)}
        >
          <option value="application/json">application/json</option>
          <option value="text/plain">text/plain</option>
          <option value="application/octet-stream">application/octet-stream (base64)</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-body`}>Body</label>
        <textarea
          id={`${id}-body`}
          className="mono"
          rows={5}
          value={body}
          aria-invalid={invalid !== null}
          aria-describedby={invalid ? `${id}-invalid` : undefined}
          onChange={(e) => setBody(e.target.value)}
        />
        {invalid ? (
          <p id={`${id}-invalid`} className="field-error">
            {invalid}
          </p>
        ) : null}
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${id}-key`}>Key (optional)</label>
          <input id={`${id}-key`} value={key} onChange={(e) => setKey(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-delay`}>Delay, seconds</label>
          <input
            id={`${id}-delay`}
            type="number"
            min={0}
            max={43200}
            inputMode="numeric"
            value={delay}
            placeholder="0"
            onChange={(e) => setDelay(e.target.value)}
          />
        </div>
        {ordering === "priority" ? (
          <div className="field">
            <label htmlFor={`${id}-priority`}>Priority (0–9)</label>
            <input
              id={`${id}-priority`}
              type="number"
              min={0}
              max={9}
              value={priority}
              onChange={(e) => setPriority(e.target.value)}
            />
          </div>
        ) : null}
      </div>
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={sending}>
          {sending ? "Sending…" : "Send message"}
        </button>
      </div>
      <div role="status">
        {sent ? (
          <p className="notice notice-success">
            {sent.duplicate ? "Duplicate of" : "Sent"} message{" "}
            <span className="mono">{sent.id}</span> to partition {sent.partition} (seq {sent.seq}).
          </p>
        ) : null}
      </div>
      {error ? <ErrorNotice error={error} /> : null}
    </form>
  );
}
