/**
 * Message bodies in the JSON clients read. A body is stored as text (JSON text, the text, or
 * base64 for bytes) and passed on as stored; a door that shows it to a client turns it into
 * the client's form once, at the edge (docs/architecture.md, "Admission and the front path"):
 * JSON answers, WebSocket frames and push deliveries splice the stored JSON text into the
 * JSON they send (`messagesJson`), so a JSON body is never parsed to be serialised again; the
 * service-binding door hands back values and parses JSON bodies (`withParsedBody`); the SQS
 * door sends the stored text as it is.
 */
import type { ContentType } from "./contract.ts";

/** A JSON value, as JSON.parse gives it. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Marks, on `isJsonValue`'s stack, the end of a container's children. */
const LEAVE = Symbol("leave");

/**
 * Whether `value` is a JSON value: one JSON.stringify writes out whole and JSON.parse gives
 * back equal. JSON.parse makes nothing else; a structured clone (the service binding) may also
 * hold undefined, NaN or Infinity, a Date, a Map, a class instance or a cycle. Walked with a
 * stack of its own, so a body nested a million deep cannot overflow the call stack.
 */
export function isJsonValue(value: unknown): value is JsonValue {
  /** The containers being walked: meeting one again inside itself is a cycle. */
  const open = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    switch (typeof item) {
      case "string":
      case "boolean":
        continue;
      case "number":
        if (Number.isFinite(item)) continue;
        return false;
      case "symbol":
        if (item !== LEAVE) return false;
        open.delete(stack.pop() as object);
        continue;
      case "object": {
        if (item === null) continue;
        if (open.has(item)) return false;
        const plain = Array.isArray(item) || isPlainObject(item);
        if (!plain) return false;
        open.add(item);
        stack.push(item, LEAVE);
        // Array holes read as undefined, which is not JSON: JSON.stringify would write null.
        if (Array.isArray(item)) for (let i = 0; i < item.length; i++) stack.push(item[i]);
        else for (const key in item) stack.push((item as Record<string, unknown>)[key]);
        continue;
      }
      default:
        return false;
    }
  }
  return true;
}

function isPlainObject(item: object): boolean {
  const prototype = Object.getPrototypeOf(item);
  return prototype === Object.prototype || prototype === null;
}

export interface StoredBody {
  body: string;
  contentType: ContentType;
}

/** A message with its body as a value. */
export type Parsed<M extends StoredBody> = Omit<M, "body"> & { body: JsonValue };

/** The message with its body as a value: JSON parsed, text and base64 as they are. */
export function withParsedBody<M extends StoredBody>(message: M): Parsed<M> {
  return message.contentType === "application/json"
    ? { ...message, body: JSON.parse(message.body) }
    : message;
}

/** The message as JSON text with its body in the client's form, the stored JSON text spliced in. */
export function messageJson(message: StoredBody): string {
  const { body, ...fields } = message;
  const bodyJson = message.contentType === "application/json" ? body : JSON.stringify(body);
  // `fields` holds contentType at least, so its JSON is `{…}` with one field or more.
  return `{"body":${bodyJson},${JSON.stringify(fields).slice(1)}`;
}

/** A JSON array of messages, as `messageJson` writes each. */
export function messagesJson(messages: StoredBody[]): string {
  return `[${messages.map(messageJson).join(",")}]`;
}
