/** Producing and consuming: send, receive, ack, nack, extend, peek. */

import { problem, unwrap } from "../../../problem.ts";
import {
  mediaType,
  parseJsonText,
  parseQuery,
  parseWith,
  queueParam,
  readBytes,
  readJson,
  utf8,
} from "../../../request.ts";
import {
  AckBodySchema,
  ExtendBodySchema,
  type MessageInput,
  MessageInputSchema,
  NackBodySchema,
  PeekQuerySchema,
  RawSendHeadersSchema,
  ReceiveBodySchema,
  SendBatchSchema,
} from "../../../schemas.ts";
import {
  ackMessages,
  extendLeases,
  nackMessages,
  peekMessages,
  receiveMessages,
  sendMessages,
} from "../../../service.ts";
import { parkLongPoll, type SluiceRequest } from "../middleware.ts";

/**
 * 201 when every message is stored; 207 with `failed` when a batch that spans partitions
 * was stored in part; a problem when nothing was stored.
 */
export async function send(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const inputs =
    mediaType(request) === "application/json"
      ? await jsonMessages(request)
      : await rawMessage(request);
  const { messages, failed, backpressure } = unwrap(
    await sendMessages(env, request.principal, name, inputs),
  );
  return Response.json(failed.length > 0 ? { messages, failed } : { messages }, {
    status: failed.length > 0 ? 207 : 201,
    headers: backpressure ? { "Sluice-Backpressure": "slow" } : {},
  });
}

function sluiceHeaders(request: Request): Record<string, string> {
  return Object.fromEntries(
    [...request.headers].filter(([header]) => header.startsWith("sluice-")),
  );
}

/** `{messages: [...]}` or one message object. */
async function jsonMessages(request: Request): Promise<MessageInput[]> {
  if (Object.keys(sluiceHeaders(request)).length > 0) {
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

export async function receive(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const options = await readJson(request, ReceiveBodySchema);
  if (options.wait > 0) parkLongPoll(request, env);
  return Response.json(unwrap(await receiveMessages(env, request.principal, name, options)));
}

export async function ack(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { receipts } = await readJson(request, AckBodySchema);
  return Response.json(unwrap(await ackMessages(env, request.principal, name, receipts)));
}

export async function nack(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { receipts, ...options } = await readJson(request, NackBodySchema);
  return Response.json(unwrap(await nackMessages(env, request.principal, name, receipts, options)));
}

export async function extend(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { receipts, visibilityTimeout } = await readJson(request, ExtendBodySchema);
  return Response.json(
    unwrap(await extendLeases(env, request.principal, name, receipts, visibilityTimeout)),
  );
}

export async function peek(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const query = parseQuery(request, PeekQuerySchema);
  return Response.json(unwrap(await peekMessages(env, request.principal, name, query)));
}
