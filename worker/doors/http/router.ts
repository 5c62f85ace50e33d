/**
 * The HTTP door: one route per entry of the operation table (operations.ts), in its order.
 * Cross-cutting steps are registered once here: before the routes (preflight, authentication,
 * admission), the error renderer, and after the routes (404/405, CORS headers, in-flight
 * release). A route reads what its operation takes (path parameters, query, body, each checked
 * against the operation's schemas), then hands it to the operation's handler together with the
 * operation's service call.
 */
import { type RouteEntry, Router } from "itty-router";
import { type AnyOperation, invoke, isPublicPath, OPERATIONS } from "../../operations.ts";
import {
  idParam,
  parseQuery,
  queueParam,
  readJson,
  scheduleParam,
  topicParam,
} from "../../request.ts";
import {
  admission,
  authentication,
  finish,
  preflight,
  renderError,
  type SluiceRequest,
  unmatched,
} from "./middleware.ts";

export const routes: RouteEntry[] = [];

export const router = Router<SluiceRequest, [Env, ExecutionContext]>({
  routes,
  before: [preflight, authentication(isPublicPath), admission],
  catch: renderError,
  finally: [unmatched(routes), finish(isPublicPath)],
});

for (const operation of OPERATIONS) {
  router[operation.method.toLowerCase()](operation.path, (request: SluiceRequest, env: Env) =>
    serve(operation, request, env),
  );
}

/** Path parameters, each checked: `:q` a queue name, `:id` an id, `:t` a topic, `:name` a schedule. */
function pathParameters(request: SluiceRequest): Record<string, string> {
  const params: Record<string, string> = {};
  if ("q" in request.params) params.q = queueParam(request);
  if ("id" in request.params) params.id = idParam(request);
  if ("t" in request.params) params.t = topicParam(request);
  if ("name" in request.params) params.name = scheduleParam(request);
  return params;
}

async function serve(operation: AnyOperation, request: SluiceRequest, env: Env) {
  const { query, body, reader } = operation.request ?? {};
  return operation.handler({
    request,
    env,
    params: pathParameters(request),
    query: query ? parseQuery(request, query) : undefined,
    body: reader ? await reader.read(request) : body ? await readJson(request, body) : undefined,
    call: (...args) => invoke(operation, env, request.principal, ...args),
  });
}
