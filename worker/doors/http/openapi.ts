/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the zod schemas the router
 * validates with (`z.toJSONSchema`), so the document cannot describe a different API than
 * the one that answers. `test/worker/openapi.test.ts` checks every route is described.
 */
import { z } from "zod";
import { QueueConfigSchema } from "../../../core/queue-config.ts";
import {
  AckBodySchema,
  AckResultSchema,
  ApiKeySchema,
  CreatedKeySchema,
  CreateKeyBodySchema,
  DeadLetterPageSchema,
  DeadLetterQuerySchema,
  DeadMessageSchema,
  ExtendBodySchema,
  ExtendResultSchema,
  HealthSchema,
  IdSchema,
  JsonValueSchema,
  KeyListSchema,
  MessageInputSchema,
  NackBodySchema,
  NackResultSchema,
  PeekQuerySchema,
  PeekResultSchema,
  ProblemSchema,
  PurgeResultSchema,
  QueueConfigPatchSchema,
  QueueDefinitionSchema,
  QueueListSchema,
  QueueNameSchema,
  QueueSchema,
  QueueStatsSchema,
  RawSendHeadersSchema,
  ReceiveBodySchema,
  ReceiveResultSchema,
  RedriveBodySchema,
  RedriveResultSchema,
  SendBatchSchema,
  SendBodySchema,
  SendResultSchema,
  SubscribeQuerySchema,
} from "../../schemas.ts";

type Schema = z.ZodType;
type JsonSchema = Record<string, unknown>;

/** Named request schemas (described as clients send them: defaults optional). */
const REQUEST_COMPONENTS: Record<string, Schema> = {
  JsonValue: JsonValueSchema,
  QueueConfigPatch: QueueConfigPatchSchema,
  Message: MessageInputSchema,
  SendBatch: SendBatchSchema,
  SendBody: SendBodySchema,
  ReceiveBody: ReceiveBodySchema,
  AckBody: AckBodySchema,
  NackBody: NackBodySchema,
  ExtendBody: ExtendBodySchema,
  RedriveBody: RedriveBodySchema,
  CreateKeyBody: CreateKeyBodySchema,
};

/** Named answer schemas (described as the router answers them: defaults filled in). */
const ANSWER_COMPONENTS: Record<string, Schema> = {
  JsonValue: JsonValueSchema,
  Problem: ProblemSchema,
  Health: HealthSchema,
  QueueConfig: QueueConfigSchema,
  QueueStats: QueueStatsSchema,
  QueueDefinition: QueueDefinitionSchema,
  Queue: QueueSchema,
  QueueList: QueueListSchema,
  SendResult: SendResultSchema,
  ReceiveResult: ReceiveResultSchema,
  AckResult: AckResultSchema,
  NackResult: NackResultSchema,
  ExtendResult: ExtendResultSchema,
  PurgeResult: PurgeResultSchema,
  PeekResult: PeekResultSchema,
  DeadMessage: DeadMessageSchema,
  DeadLetterPage: DeadLetterPageSchema,
  RedriveResult: RedriveResultSchema,
  ApiKey: ApiKeySchema,
  CreatedKey: CreatedKeySchema,
  KeyList: KeyListSchema,
};

type Access = "public" | "any scope" | "produce" | "consume" | "admin";

/** An answer: its description, and the JSON schema or media type of its body, if any. */
type Answer = [description: string, content?: Schema | "text/plain"];

interface Operation {
  summary: string;
  access: Access;
  /** A JSON request body; `send` also takes raw bodies (see `rawBody`). */
  body?: Schema;
  rawBody?: boolean;
  query?: Schema;
  headers?: Schema;
  answers: Record<number, Answer>;
}

/** Every route, keyed "METHOD /path" as in the router, in the order the router lists them. */
const OPERATIONS: Record<string, Operation> = {
  "PUT /v1/queues/{q}": {
    summary: "Create a queue, or change its configuration (a partial config; partitions only grow)",
    access: "admin",
    body: QueueConfigPatchSchema,
    answers: { 200: ["updated", QueueDefinitionSchema], 201: ["created", QueueDefinitionSchema] },
  },
  "GET /v1/queues": {
    summary: "The queues the token may see, with stats",
    access: "any scope",
    answers: { 200: ["queues", QueueListSchema] },
  },
  "GET /v1/queues/{q}": {
    summary: "A queue's configuration and stats",
    access: "any scope",
    answers: { 200: ["the queue", QueueSchema] },
  },
  "DELETE /v1/queues/{q}": {
    summary: "Delete a queue with its messages and dead letters",
    access: "admin",
    answers: { 204: ["deleted"] },
  },
  "POST /v1/queues/{q}/messages": {
    summary:
      "Send messages: {messages: [...]} (up to 100), one message object, or a raw body (text/* is stored as text, anything else as bytes) described by Sluice-* headers",
    access: "produce",
    body: SendBodySchema,
    rawBody: true,
    headers: RawSendHeadersSchema,
    answers: {
      201: ["every message stored", SendResultSchema],
      207: [
        "a batch spanning partitions was stored in part; `failed` lists the rest",
        SendResultSchema,
      ],
    },
  },
  "POST /v1/queues/{q}/receive": {
    summary: "Lease up to `max` messages, waiting up to `wait` seconds for one",
    access: "consume",
    body: ReceiveBodySchema,
    answers: { 200: ["leased messages", ReceiveResultSchema] },
  },
  "POST /v1/queues/{q}/ack": {
    summary: "Acknowledge leased messages (never shed)",
    access: "consume",
    body: AckBodySchema,
    answers: { 200: ["acknowledged", AckResultSchema] },
  },
  "POST /v1/queues/{q}/nack": {
    summary: "Give leased messages back for a retry, or to the dead-letter queue at maxAttempts",
    access: "consume",
    body: NackBodySchema,
    answers: { 200: ["retried or dead-lettered", NackResultSchema] },
  },
  "POST /v1/queues/{q}/extend": {
    summary: "Set leases to end `visibilityTimeout` seconds from now",
    access: "consume",
    body: ExtendBodySchema,
    answers: { 200: ["extended", ExtendResultSchema] },
  },
  "GET /v1/queues/{q}/subscribe": {
    summary:
      'Open a WebSocket consumer (Upgrade: websocket; a browser offers its token as the subprotocol "bearer.<token>" beside "sluice.v1"); the client grants credit and acks over the socket, see docs/push-and-websockets.md',
    access: "consume",
    query: SubscribeQuerySchema,
    answers: { 101: ["switched to the WebSocket protocol"] },
  },
  "POST /v1/queues/{q}/purge": {
    summary: "Drop every message of the queue (not its dead letters)",
    access: "admin",
    answers: { 200: ["purged", PurgeResultSchema] },
  },
  "GET /v1/queues/{q}/messages": {
    summary: "Peek at messages without leasing them",
    access: "consume",
    query: PeekQuerySchema,
    answers: { 200: ["messages", PeekResultSchema] },
  },
  "GET /v1/queues/{q}/dlq": {
    summary: "Dead letters, newest first; filter by failure reason, body text (`q`) and time",
    access: "consume",
    query: DeadLetterQuerySchema,
    answers: { 200: ["a page of dead letters", DeadLetterPageSchema] },
  },
  "GET /v1/queues/{q}/dlq/{id}": {
    summary: "One dead letter with every failure",
    access: "consume",
    answers: { 200: ["the dead letter", DeadMessageSchema] },
  },
  "POST /v1/queues/{q}/dlq/redrive": {
    summary: "Send dead letters back as fresh messages (to `target`, default this queue)",
    access: "admin",
    body: RedriveBodySchema,
    answers: { 200: ["redriven", RedriveResultSchema] },
  },
  "DELETE /v1/queues/{q}/dlq/{id}": {
    summary: "Delete one dead letter",
    access: "admin",
    answers: { 204: ["deleted"] },
  },
  "POST /v1/queues/{q}/dlq/purge": {
    summary: "Delete every dead letter of the queue",
    access: "admin",
    answers: { 200: ["purged", PurgeResultSchema] },
  },
  "POST /v1/keys": {
    summary: "Create an API key; its secret is in this answer only",
    access: "admin",
    body: CreateKeyBodySchema,
    answers: { 201: ["created", CreatedKeySchema] },
  },
  "GET /v1/keys": {
    summary: "Every API key (without secrets)",
    access: "admin",
    answers: { 200: ["keys", KeyListSchema] },
  },
  "DELETE /v1/keys/{id}": {
    summary: "Revoke an API key",
    access: "admin",
    answers: { 204: ["revoked"] },
  },
  "GET /health": {
    summary: "Liveness",
    access: "public",
    answers: { 200: ["alive", HealthSchema] },
  },
  "GET /v1/openapi.json": {
    summary: "This document",
    access: "public",
    answers: { 200: ["OpenAPI 3.1"] },
  },
  "GET /metrics": {
    summary: "Prometheus metrics: isolate counters and gauges of the queues the token may see",
    access: "any scope",
    answers: { 200: ["Prometheus text format 0.0.4", "text/plain"] },
  },
};

const PATH_PARAMETERS: Record<string, Schema> = { q: QueueNameSchema, id: IdSchema };

function componentsOf(named: Record<string, Schema>, io: "input" | "output") {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
  });
  // Components need neither a dialect nor an id of their own inside an OpenAPI document.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _, $id: __, ...schema }]) => [id, schema]),
  );
}

function inline(schema: Schema): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return json;
}

function refTo(schema: Schema, named: Record<string, Schema>): JsonSchema {
  const id = Object.keys(named).find((name) => named[name] === schema);
  return id === undefined ? inline(schema) : { $ref: `#/components/schemas/${id}` };
}

/** One parameter per property of an object schema. */
function parametersOf(schema: Schema, location: "query" | "header"): JsonSchema[] {
  const json = inline(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: json.required?.includes(name) ?? false,
    schema: property,
  }));
}

function operationObject(path: string, operation: Operation): JsonSchema {
  const pathParameters = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: inline(PATH_PARAMETERS[name]),
  }));
  const parameters = [
    ...pathParameters,
    ...(operation.query ? parametersOf(operation.query, "query") : []),
    ...(operation.headers ? parametersOf(operation.headers, "header") : []),
  ];
  const content: Record<string, { schema: JsonSchema }> = {};
  if (operation.body)
    content["application/json"] = { schema: refTo(operation.body, REQUEST_COMPONENTS) };
  if (operation.rawBody) {
    content["text/plain"] = { schema: { type: "string" } };
    content["application/octet-stream"] = {
      schema: { type: "string", contentMediaType: "application/octet-stream" },
    };
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, [description, content]] of Object.entries(operation.answers)) {
    responses[status] = {
      description,
      ...(content === "text/plain" && { content: { [content]: { schema: { type: "string" } } } }),
      ...(content instanceof z.ZodType && {
        content: { "application/json": { schema: refTo(content, ANSWER_COMPONENTS) } },
      }),
    };
  }
  responses.default = {
    description: "A problem (RFC 9457): bad input, missing or wrong token or scope, shed load",
    content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
  };
  return {
    summary: operation.summary,
    description: `Access: ${operation.access}.`,
    ...(operation.access === "public" && { security: [] }),
    ...(parameters.length > 0 && { parameters }),
    ...(Object.keys(content).length > 0 && {
      // A body whose every field is optional may be left out.
      requestBody: { required: !operation.body?.safeParse({}).success, content },
    }),
    responses,
  };
}

function buildDocument(): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const [route, operation] of Object.entries(OPERATIONS)) {
    const [method, path] = route.split(" ");
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = operationObject(path, operation);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Sluice",
      version: "1",
      description:
        "A work queue on Cloudflare's edge. Errors are application/problem+json; shed answers carry Retry-After; a 2xx send above the soft backlog carries Sluice-Backpressure: slow.",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        ...componentsOf(REQUEST_COMPONENTS, "input"),
        ...componentsOf(ANSWER_COMPONENTS, "output"),
      },
    },
  };
}

let document: JsonSchema | undefined;

export function openApiDocument(origin: string): JsonSchema {
  document ??= buildDocument();
  return { ...document, servers: [{ url: origin }] };
}
