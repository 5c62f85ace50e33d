/**
 * The HTTP door: one route per entry of the operation table (operations.ts), in its order.
 * Cross-cutting steps are registered once here: before the routes (preflight, authentication),
 * the error renderer, and after the routes (404/405, CORS headers). Each route runs in an
 * admission slot of its operation's shed class (admission.ts), so no path is classified twice.
 * A route reads what its operation takes (path parameters, query, body, each checked against
 * the operation's schemas), then hands it to the operation's handler together with the
 * operation's service call.
 */
import { type RouteEntry, Router } from "itty-router";
import { admitted } from "../../admission.ts";
import { type AnyOperation, invoke, isPublicPath, OPERATIONS } from "../../operations.ts";
import { refusalProblem } from "../../problem.ts";
import { parseQuery, pathParameters, readJson } from "../../request.ts";
import {
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
  before: [preflight, authentication(isPublicPath)],
  catch: renderError,
  finally: [unmatched(routes), finish(isPublicPath)],
});

for (const operation of OPERATIONS) {
  router[operation.method.toLowerCase()](operation.path, (request: SluiceRequest, env: Env) =>
    serve(operation, request, env),
  );
}

/** Runs the operation in a slot of its shed class (admission.ts), freed when it answers. */
async function serve(operation: AnyOperation, request: SluiceRequest, env: Env) {
  const { query, body, reader } = operation.request ?? {};
  const answer = await admitted(
    env,
    operation.shed,
    async (ticket) => {
      request.ticket = ticket;
      return operation.handler({
        request,
        env,
        params: pathParameters(request),
        query: query ? parseQuery(request, query) : undefined,
        body: reader
          ? await reader.read(request)
          : body
            ? await readJson(request, body)
            : undefined,
        call: (...args) => invoke(operation, env, request.principal, ...args),
      });
    },
    request.signal,
  );
  if (answer instanceof Response) return answer;
  throw refusalProblem(answer);
}
