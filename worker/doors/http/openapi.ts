/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the operation table
 * (operations.ts) and the zod schemas the router validates with (`z.toJSONSchema`), so the
 * document cannot describe a different API than the one that answers.
 */
import { z } from "zod";
import { QueueConfigSchema } from "../../../core/queue-config.ts";
import { PATH_PARAMETERS } from "../../request.ts";
import {
  AckBodySchema,
  AckResultSchema,
  ApiKeySchema,
  ClusterListSchema,
  CreatedKeySchema,
  CreateKeyBodySchema,
  DeadLetterPageSchema,
  DeadMessageSchema,
  EditDeadLetterBodySchema,
  ExtendBodySchema,
  ExtendResultSchema,
  HealthSchema,
  HistorySchema,
  JsonValueSchema,
  KeyListSchema,
  MessageInputSchema,
  NackBodySchema,
  NackResultSchema,
  NewRedriveJobSchema,
  PeekResultSchema,
  ProblemSchema,
  PublishResultSchema,
  PurgeDeadLettersBodySchema,
  PurgeResultSchema,
  PutScheduleBodySchema,
  PutTopicBodySchema,
  QueueConfigPatchSchema,
  QueueDefinitionSchema,
  QueueListSchema,
  QueueSchema,
  QueueStatsSchema,
  ReceiveBodySchema,
  ReceiveResultSchema,
  RedriveBodySchema,
  RedriveJobListSchema,
  RedriveJobSchema,
  RedriveResultSchema,
  ScheduleListSchema,
  ScheduleSchema,
  SendBatchSchema,
  SendBodySchema,
  SendResultSchema,
  TopicListSchema,
  TopicSchema,
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
  PurgeDeadLettersBody: PurgeDeadLettersBodySchema,
  NewRedriveJob: NewRedriveJobSchema,
  EditDeadLetterBody: EditDeadLetterBodySchema,
  CreateKeyBody: CreateKeyBodySchema,
  PutTopicBody: PutTopicBodySchema,
  PutScheduleBody: PutScheduleBodySchema,
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
  ClusterList: ClusterListSchema,
  RedriveJob: RedriveJobSchema,
  History: HistorySchema,
  RedriveJobList: RedriveJobListSchema,
  RedriveResult: RedriveResultSchema,
  ApiKey: ApiKeySchema,
  CreatedKey: CreatedKeySchema,
  KeyList: KeyListSchema,
  Topic: TopicSchema,
  TopicList: TopicListSchema,
  PublishResult: PublishResultSchema,
  Schedule: ScheduleSchema,
  ScheduleList: ScheduleListSchema,
};

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

/** What the document reads of an operation (operations.ts `Operation`). */
interface DescribedOperation {
  method: string;
  path: string;
  summary: string;
  scope: keyof typeof ACCESS;
  request?: { query?: Schema; body?: Schema; reader?: { json: Schema; headers: Schema } };
  answers: Record<number, readonly [description: string, content?: Schema | "text/plain"]>;
}

/** How the document words who may call. */
const ACCESS = {
  public: "public",
  read: "any scope",
  produce: "produce",
  consume: "consume",
  admin: "admin",
} as const;

function operationObject(path: string, operation: DescribedOperation): JsonSchema {
  const request = operation.request ?? {};
  const pathParameters = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: inline(PATH_PARAMETERS[name].schema),
  }));
  const parameters = [
    ...pathParameters,
    ...(request.query ? parametersOf(request.query, "query") : []),
    ...(request.reader ? parametersOf(request.reader.headers, "header") : []),
  ];
  const content: Record<string, { schema: JsonSchema }> = {};
  const json = request.body ?? request.reader?.json;
  if (json) content["application/json"] = { schema: refTo(json, REQUEST_COMPONENTS) };
  if (request.reader) {
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
    description: `Access: ${ACCESS[operation.scope]}.`,
    ...(operation.scope === "public" && { security: [] }),
    ...(parameters.length > 0 && { parameters }),
    ...(Object.keys(content).length > 0 && {
      // A body whose every field is optional may be left out.
      requestBody: { required: !json?.safeParse({}).success, content },
    }),
    responses,
  };
}

function buildDocument(operations: readonly DescribedOperation[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const operation of operations) {
    const path = operation.path.replace(/:(\w+)/g, "{$1}");
    paths[path] ??= {};
    paths[path][operation.method.toLowerCase()] = operationObject(path, operation);
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

/** The document for the table's operations, served from `origin`; built once per isolate. */
export function openApiDocument(
  operations: readonly DescribedOperation[],
  origin: string,
): JsonSchema {
  document ??= buildDocument(operations);
  return { ...document, servers: [{ url: origin }] };
}
