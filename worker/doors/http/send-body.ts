/**
 * How a send's body is read: `{messages: [...]}`, one message object, or a raw body described
 * by `Sluice-*` headers (text/* is stored as text, anything else as bytes, base64), with the
 * request's trace context. The send operation (operations.ts) reads its body with
 * `messagesReader`.
 */
import { traceContextOf, withTraceContext } from "../../../core/trace-context.ts";
import { problem } from "../../problem.ts";
import { mediaType, parseJsonText, parseWith, readBytes, utf8 } from "../../request.ts";
import {
  type MessageInput,
  MessageInputSchema,
  RawSendHeadersSchema,
  SendBatchSchema,
  SendBodySchema,
} from "../../schemas.ts";

/** The send operation's body: JSON (`SendBodySchema`) or raw (`RawSendHeadersSchema`). */
export const messagesReader = {
  read: readMessages,
  json: SendBodySchema,
  headers: RawSendHeadersSchema,
};

/**
 * The messages, each carrying the request's W3C trace context (`traceparent`, `tracestate`
 * headers) unless it has its own in its headers (docs/architecture.md, "Trace context").
 */
async function readMessages(request: Request): Promise<MessageInput[]> {
  const messages =
    mediaType(request) === "application/json"
      ? await jsonMessages(request)
      : await rawMessage(request);
  const trace = traceContextOf(request.headers);
  if (trace === null) return messages;
  return messages.map((message) => ({
    ...message,
    headers: withTraceContext(message.headers, trace),
  }));
}

function sluiceHeaders(request: Request): Record<string, string> {
  return Object.fromEntries(
    [...request.headers].filter(([header]) => header.startsWith("sluice-")),
  );
}

function hasSluiceHeaders(request: Request): boolean {
  for (const header of request.headers.keys()) if (header.startsWith("sluice-")) return true;
  return false;
}

/** `{messages: [...]}` or one message object. */
async function jsonMessages(request: Request): Promise<MessageInput[]> {
  if (hasSluiceHeaders(request)) {
    throw problem(
      400,
      "invalid_request",
      "Sluice-* headers describe a raw body; in a JSON send put key, dedupId, delaySeconds and priority in each message",
    );
  }
  const body = parseJsonText(utf8(await readBytes(request), "the body"));
  if (typeof body === "object" && body !== null && "messages" in body) {
    return parseWith(SendBatchSchema, body, "body").messages;
  }
  return [parseWith(MessageInputSchema, body, "body")];
}

/** A non-JSON body is one message: text/* as text, anything else as bytes (stored base64). */
async function rawMessage(request: Request): Promise<MessageInput[]> {
  const fields = parseWith(
    RawSendHeadersSchema,
    sluiceHeaders(request),
    "header",
    "invalid_header",
  );
  const bytes = await readBytes(request);
  if (bytes.byteLength === 0) {
    throw problem(
      400,
      "empty_body",
      'the message body is empty; send JSON with Content-Type: application/json ({"body": ...}) or a raw body',
    );
  }
  const isText = mediaType(request).startsWith("text/");
  const message: MessageInput = {
    body: isText ? utf8(bytes, "the text body") : toBase64(bytes),
    contentType: isText ? "text/plain" : "application/octet-stream",
  };
  if (fields["sluice-key"] !== undefined) message.key = fields["sluice-key"];
  if (fields["sluice-dedup-id"] !== undefined) message.dedupId = fields["sluice-dedup-id"];
  if (fields["sluice-delay"] !== undefined) message.delaySeconds = fields["sluice-delay"];
  if (fields["sluice-priority"] !== undefined) message.priority = fields["sluice-priority"];
  return [message];
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + chunk));
  }
  return btoa(binary);
}
