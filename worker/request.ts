/**
 * Reading what a request carries: path parameters, query, headers and body, each checked
 * against its schema in `schemas.ts`. A bad input becomes a 4xx problem whose detail names
 * the field and the rule it broke.
 */
import type { z } from "zod";
import { describeIssues } from "../core/issues.ts";
import { type Problem, problem } from "./problem.ts";
import {
  IdSchema,
  MessageKeySchema,
  QueueNameSchema,
  ScheduleNameSchema,
  TopicNameSchema,
} from "./schemas.ts";

/**
 * The largest request body read, whatever the route: a full batch of large messages fits;
 * the queue's own `maxMessageBytes` then applies to each message.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * JSON nested deeper than this is refused before validation: checking a message body walks
 * it recursively, and a few thousand levels (well inside the size limit) overflow the stack.
 */
export const MAX_JSON_DEPTH = 256;

/**
 * What in `value` validation could not take as it is, found without recursion: nesting
 * deeper than `MAX_JSON_DEPTH`, or a field named `__proto__` (JSON.parse keeps it as a field;
 * the validated copy would silently drop it).
 */
export function untakable(value: unknown): string | null {
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== "object" || item === null) continue;
    if (depth > MAX_JSON_DEPTH) {
      return `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`;
    }
    if (Object.hasOwn(item, "__proto__")) {
      return "has a field named __proto__, which cannot be stored as sent; rename it";
    }
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return null;
}

/** Validates `value`, or throws a 400 problem with `code` that names `where` it went wrong. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  code = "invalid_request",
): z.output<S> {
  const refusal = untakable(value);
  if (refusal !== null) throw problem(400, code, `${where} ${refusal}`);
  const parsed = schema.safeParse(value, { reportInput: true });
  if (!parsed.success) throw problem(400, code, describeIssues(parsed.error, where));
  return parsed.data;
}

/** A path parameter: its schema, what a refusal calls it, and the refusal's code. */
interface PathParameter {
  schema: z.ZodType<string>;
  where: string;
  code: string;
}

/**
 * Every path parameter of the operation table's routes (operations.ts), checked by the router
 * (`pathParameters`) and described in the OpenAPI document from here.
 */
export const PATH_PARAMETERS: Record<string, PathParameter> = {
  q: { schema: QueueNameSchema, where: "queue name", code: "invalid_queue_name" },
  id: { schema: IdSchema, where: "id", code: "invalid_request" },
  t: { schema: TopicNameSchema, where: "topic name", code: "invalid_topic_name" },
  name: { schema: ScheduleNameSchema, where: "schedule name", code: "invalid_schedule_name" },
  key: { schema: MessageKeySchema, where: "message key", code: "invalid_request" },
};

/** The request's path parameters, in the path's order, each decoded and checked. */
export function pathParameters(path: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(path)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      throw problem(
        400,
        "invalid_request",
        `the ${name} in the path is not valid percent-encoding`,
      );
    }
    const { schema, where, code } = PATH_PARAMETERS[name];
    params[name] = parseWith(schema, decoded, where, code);
  }
  return params;
}

/**
 * The query of `url` checked against `schema`: each name once as a string, a repeated name as
 * the array of its values. The URL is parsed only when it has a query.
 */
export function parseQuery<S extends z.ZodType>(url: string, schema: S): z.output<S> {
  // No prototype, so a parameter named __proto__ is a field like any other (and is refused).
  const query: Record<string, string | string[]> = Object.create(null);
  if (url.includes("?")) {
    for (const [name, value] of new URL(url).searchParams) {
      query[name] = query[name] ? [query[name], value].flat() : value;
    }
  }
  return parseWith(schema, { ...query }, "query", "invalid_query");
}

/** A path of plain characters: `new URL` would give it back unchanged, unless it has dot segments. */
const PLAIN_PATH = /^[\w\-/.]*$/;
const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;

/**
 * The path of a URL as `new URL(url).pathname` gives it, without making a URL object in the
 * common case: the runtime hands a request's URL over as the client sent it, and a plain path
 * without dot segments is the same either way. Anything else is parsed.
 */
export function pathnameOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start !== -1) {
    const query = url.indexOf("?", start);
    const path = query === -1 ? url.slice(start) : url.slice(start, query);
    if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return path;
  }
  return new URL(url).pathname;
}

export function mediaType(request: Request): string {
  return (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

function tooLarge(): Problem {
  return problem(
    413,
    "request_too_large",
    `the request body is larger than ${MAX_REQUEST_BYTES} bytes; send fewer or smaller messages per request`,
  );
}

/** The refusal of a body whose declared length is over the limit, from the header alone. */
export function declaredTooLarge(request: Request): Problem | null {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  return declared > MAX_REQUEST_BYTES ? tooLarge() : null;
}

/**
 * The whole body, refused by its declared length before reading and by its real one while,
 * and given up after `BODY_DEADLINE_MS`: a client that trickles a body holds its slot no
 * longer than that (docs/security.md).
 */
export async function readBytes(request: Request): Promise<Uint8Array> {
  const refusal = declaredTooLarge(request);
  if (refusal !== null) throw refusal;
  // With a declared length the transport stops there, so the runtime reads the body whole in
  // one piece, and its stream is never handed to JavaScript (one runtime object fewer per
  // request); without one it is read chunk by chunk and cut off just past the limit.
  let reading: Promise<Uint8Array>;
  if (request.headers.get("content-length") !== null) {
    reading = request.arrayBuffer().then(wholeBody);
  } else if (request.body === null) {
    return new Uint8Array(0);
  } else {
    reading = readLimited(request.body.getReader());
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(expire, BODY_DEADLINE_MS, reject, reading);
  });
  try {
    return await Promise.race([reading, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A body's deadline passed: its read is given up (and its late failure ignored). */
function expire(reject: (reason: Problem) => void, reading: Promise<Uint8Array>): void {
  reading.catch(() => {});
  reject(bodyTimeout());
}

function wholeBody(buffer: ArrayBuffer): Uint8Array {
  if (buffer.byteLength > MAX_REQUEST_BYTES) throw tooLarge();
  return new Uint8Array(buffer);
}

/** How long a request body may take to arrive. */
export const BODY_DEADLINE_MS = 10_000;

function bodyTimeout() {
  return problem(
    408,
    "request_timeout",
    `the request body did not arrive within ${BODY_DEADLINE_MS / 1000} seconds; send it at once`,
  );
}

async function readLimited(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > MAX_REQUEST_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Decoding without `stream` keeps no state between calls, so one decoder serves them all. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes UTF-8, refusing bytes that are not text. */
export function utf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw problem(400, "invalid_text", `${what} is not valid UTF-8`);
  }
}

/** Parses JSON text, or throws a 400 that quotes the parser. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw problem(400, "invalid_json", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * A JSON body checked against `schema`. An empty body counts as `{}`, so a route whose
 * fields are all optional can be called with no body at all.
 */
export async function readJson<S extends z.ZodType>(
  request: Request,
  schema: S,
): Promise<z.output<S>> {
  const bytes = await readBytes(request);
  if (bytes.byteLength === 0) return parseWith(schema, {}, "body");
  if (mediaType(request) !== "application/json") {
    throw problem(
      415,
      "unsupported_media_type",
      `this route reads JSON; send the body with Content-Type: application/json (got '${mediaType(request) || "none"}')`,
    );
  }
  return parseWith(schema, parseJsonText(utf8(bytes, "the body")), "body");
}
