/**
 * HTTP answers that carry messages: their stored bodies are spliced in as they are
 * (core/message-json.ts), never parsed to be serialised again.
 */
import { messageJson, messagesJson, type StoredBody } from "../core/message-json.ts";

const JSON_HEADERS = { "Content-Type": "application/json" };

/** `{messages, …rest}`. */
export function messagesResponse(messages: StoredBody[], rest: object = {}): Response {
  const others = JSON.stringify(rest);
  const tail = others === "{}" ? "}" : `,${others.slice(1)}`;
  return new Response(`{"messages":${messagesJson(messages)}${tail}`, { headers: JSON_HEADERS });
}

/** One message. */
export function messageResponse(message: StoredBody): Response {
  return new Response(messageJson(message), { headers: JSON_HEADERS });
}
