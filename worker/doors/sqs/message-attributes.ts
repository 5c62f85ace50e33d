/**
 * SQS message attributes travel in a Sluice message's `headers`, so a message sent through
 * one door reads naturally through the other:
 *
 * - an attribute is the header of the same name; its value is the StringValue (String and
 *   Number types) or the base64 of the BinaryValue (Binary types);
 * - a data type other than plain `String` is kept in the header `AWS.DataType.<name>`;
 * - the AWSTraceHeader system attribute is kept in the header `AWS.TraceHeader`, and the W3C
 *   `traceparent` it names in the header `traceparent` (unless an attribute of that name is
 *   sent), so consumers of the other doors see the trace; that derived header is not shown back
 *   as an attribute. A message sent with a `traceparent` and no AWSTraceHeader answers the
 *   X-Ray header it names as its AWSTraceHeader.
 *
 * SQS reserves attribute names that start with `AWS.` or `Amazon.`, so these never collide
 * with a client's attributes, and headers that start with `AWS.` are never shown as
 * attributes. A header sent through the HTTP API is a String attribute.
 */
import { utf8Bytes } from "../../../core/message-bytes.ts";
import {
  TRACEPARENT,
  traceparentFromXray,
  xrayFromTraceparent,
} from "../../../core/trace-context.ts";
import { type SqsError, sqsError } from "./errors.ts";
import { BASE64, isMessageText } from "./schemas.ts";

export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  /** Base64, as the JSON protocol carries blobs. */
  BinaryValue?: string;
  StringListValues?: string[];
  BinaryListValues?: string[];
}

export const MAX_MESSAGE_ATTRIBUTES = 10;
const TYPE_HEADER = "AWS.DataType.";
const TRACE_HEADER = "AWS.TraceHeader";
const RESERVED_PREFIX = /^(aws|amazon)\./i;

const NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const DATA_TYPE = /^(String|Number|Binary)(\.[\x21-\x7e]+)?$/;
/**
 * The digits before the point are matched by one `\d+` and those after it by another, never
 * a run split two ways, so a long run of digits that fails at its end is given up once (linear),
 * not once per split (quadratic).
 */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The longest Number value taken. SQS keeps 38 digits of precision between 10^-128 and
 * 10^+126, so a real number is far shorter; the bound is checked before the pattern runs.
 */
export const MAX_NUMBER_CHARS = 256;

/** SQS's cap on a message's attributes: names, data types and values together. */
export const MAX_ATTRIBUTES_BYTES = 262_144;

export function isNumberText(text: string): boolean {
  return NUMBER.test(text);
}

function invalid(message: string): SqsError {
  return sqsError("InvalidParameterValue", message);
}

function nameProblem(name: string): SqsError | null {
  if (!NAME.test(name) || name.startsWith(".") || name.endsWith(".") || name.includes("..")) {
    return invalid(
      `message attribute name '${name}' is invalid: use 1–256 of A–Z a–z 0–9 _ - . with no leading, trailing or doubled period`,
    );
  }
  if (RESERVED_PREFIX.test(name)) {
    return invalid(
      `message attribute name '${name}' is reserved: names may not start with AWS. or Amazon.`,
    );
  }
  return null;
}

function valueProblem(name: string, value: MessageAttributeValue): SqsError | null {
  const { DataType, StringValue, BinaryValue, StringListValues, BinaryListValues } = value;
  if (DataType.length > 256 || !DATA_TYPE.test(DataType)) {
    return invalid(
      `message attribute '${name}' has data type '${DataType}'; use String, Number or Binary, optionally followed by .<custom label>`,
    );
  }
  if (StringListValues?.length || BinaryListValues?.length) {
    return invalid(
      `message attribute '${name}': list values are not supported; use StringValue or BinaryValue`,
    );
  }
  if (DataType.startsWith("Binary")) {
    if (StringValue !== undefined || !BinaryValue || !BASE64.test(BinaryValue)) {
      return invalid(
        `message attribute '${name}' of type ${DataType} needs a non-empty BinaryValue and no StringValue`,
      );
    }
    return null;
  }
  if (BinaryValue !== undefined || !StringValue) {
    return invalid(
      `message attribute '${name}' of type ${DataType} needs a non-empty StringValue and no BinaryValue`,
    );
  }
  if (!isMessageText(StringValue)) {
    return sqsError(
      "InvalidMessageContents",
      `message attribute '${name}' holds characters SQS does not allow (controls other than tab, newline and carriage return, or unpaired surrogates)`,
    );
  }
  if (DataType.startsWith("Number") && StringValue.length > MAX_NUMBER_CHARS) {
    return invalid(
      `message attribute '${name}' of type ${DataType} holds ${StringValue.length} characters; a number has at most ${MAX_NUMBER_CHARS} characters`,
    );
  }
  if (DataType.startsWith("Number") && !isNumberText(StringValue)) {
    return invalid(
      `message attribute '${name}' of type ${DataType} holds '${StringValue}', which is not a number`,
    );
  }
  return null;
}

/** UTF-8 bytes of every name, data type and value: what SQS caps at 256 KiB. */
function attributesBytes(attributes: Record<string, MessageAttributeValue>): number {
  let bytes = 0;
  for (const [name, { DataType, StringValue, BinaryValue }] of Object.entries(attributes)) {
    bytes += utf8Bytes(name) + utf8Bytes(DataType) + utf8Bytes(StringValue ?? BinaryValue ?? "");
  }
  return bytes;
}

/**
 * The first thing wrong with the attributes, as SQS would refuse it, or null. Their count and
 * total size are checked before any pattern looks at a name or a value.
 */
export function attributesProblem(
  attributes: Record<string, MessageAttributeValue>,
): SqsError | null {
  const names = Object.keys(attributes);
  if (names.length > MAX_MESSAGE_ATTRIBUTES) {
    return invalid(
      `a message has at most ${MAX_MESSAGE_ATTRIBUTES} message attributes; this one has ${names.length}`,
    );
  }
  const bytes = attributesBytes(attributes);
  if (bytes > MAX_ATTRIBUTES_BYTES) {
    return invalid(
      `a message's attributes (names, data types and values) hold at most ${MAX_ATTRIBUTES_BYTES} bytes; these hold ${bytes}`,
    );
  }
  for (const name of names) {
    const problem = nameProblem(name) ?? valueProblem(name, attributes[name]);
    if (problem !== null) return problem;
  }
  return null;
}

/** The headers that carry these attributes (see the module comment). */
export function headersOf(
  attributes: Record<string, MessageAttributeValue>,
  traceHeader?: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, { DataType, StringValue, BinaryValue }] of Object.entries(attributes)) {
    headers[name] = BinaryValue ?? StringValue ?? "";
    if (DataType !== "String") headers[TYPE_HEADER + name] = DataType;
  }
  if (traceHeader !== undefined) {
    headers[TRACE_HEADER] = traceHeader;
    const traceparent = traceparentFromXray(traceHeader);
    if (traceparent !== null && headers[TRACEPARENT] === undefined) {
      headers[TRACEPARENT] = traceparent;
    }
  }
  return headers;
}

/** The attributes and the trace header a message's headers carry. */
export function attributesFrom(headers: Record<string, string>): {
  attributes: Record<string, MessageAttributeValue>;
  traceHeader?: string;
} {
  const attributes: Record<string, MessageAttributeValue> = {};
  const stored = headers[TRACE_HEADER];
  const derived = stored === undefined ? null : traceparentFromXray(stored);
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("AWS.")) continue;
    if (name === TRACEPARENT && value === derived) continue;
    const DataType = headers[TYPE_HEADER + name] ?? "String";
    attributes[name] = DataType.startsWith("Binary")
      ? { DataType, BinaryValue: value }
      : { DataType, StringValue: value };
  }
  const traceparent = headers[TRACEPARENT];
  const fromTraceparent = traceparent === undefined ? null : xrayFromTraceparent(traceparent);
  const traceHeader = stored ?? fromTraceparent ?? undefined;
  return traceHeader === undefined ? { attributes } : { attributes, traceHeader };
}

/**
 * The attributes a ReceiveMessage asked for: `All` or `.*` for every one, `prefix.*` for
 * those under a prefix, otherwise by name.
 */
export function selectAttributes(
  attributes: Record<string, MessageAttributeValue>,
  requested: string[],
): Record<string, MessageAttributeValue> {
  const wanted = (name: string) =>
    requested.some(
      (pattern) =>
        pattern === "All" ||
        pattern === ".*" ||
        pattern === name ||
        (pattern.endsWith(".*") && name.startsWith(pattern.slice(0, -1))),
    );
  return Object.fromEntries(Object.entries(attributes).filter(([name]) => wanted(name)));
}
