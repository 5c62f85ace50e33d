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
import { parseQuery, pathnameOf, pathParameters, readJson } from "../../request.ts";
import {
  authentication,
  finish,
  preflight,
  renderError,
  type SluiceRequest,
  unmatched,
} from "./middleware.ts";

export const routes: RouteEntry[] = [];

/** Compiles each operation's path into `routes` (itty's route table: method, pattern, path). */
const table = Router({ routes });

for (const operation of OPERATIONS) {
  table[operation.method.toLowerCase()](operation.path, () => operation);
}

const authenticate = authentication(isPublicPath);
const answerUnmatched = unmatched(routes);
const addCors = finish(isPublicPath);

/**
 * Walks itty's table as itty's own `fetch` did (preflight and authentication, the first route
 * whose method and pattern match, the error renderer, then 404/405 and CORS), without what
 * itty's `fetch` makes for every request: a URL object, its search parameters' iterator, and
 * `query`, `params` and `route` fields on the request. Those are runtime objects or hang off
 * one, and the runtime's objects outlive young collections, so all of it was promoted and
 * only a full collection, the long pause, freed it (bench/README.md, "Where the time goes").
 */
export const router = {
  async fetch(incoming: Request, env: Env, _ctx?: ExecutionContext): Promise<Response> {
    const request = incoming as SluiceRequest;
    let answer: Response | undefined;
    try {
      answer = await beforeAndRoute(request, env);
    } catch (error) {
      answer = renderError(error, request);
    }
    try {
      return addCors(answerUnmatched(answer, request), request);
    } catch (error) {
      return renderError(error, request);
    }
  },
};

async function beforeAndRoute(request: SluiceRequest, env: Env): Promise<Response | undefined> {
  const preflighted = preflight(request);
  if (preflighted !== undefined) return preflighted;
  await authenticate(request, env);
  const pathname = pathnameOf(request.url);
  const method = request.method;
  for (const route of routes) {
    // Indexed, not destructured: destructuring each entry made an iterator per route tried.
    if (route[0] !== method && route[0] !== "ALL") continue;
    const match = route[1].exec(pathname);
    if (match === null) continue;
    const operation = (route[2][0] as () => AnyOperation)();
    return serve(operation, request, env, match.groups ?? {});
  }
  return undefined;
}

/** Runs the operation in a slot of its shed class (admission.ts), freed when it answers. */
async function serve(
  operation: AnyOperation,
  request: SluiceRequest,
  env: Env,
  path: Record<string, string>,
) {
  const { query, body, reader } = operation.request ?? {};
  const answer = await admitted(
    env,
    operation.shed,
    async (ticket) => {
      request.ticket = ticket;
      return operation.handler({
        request,
        env,
        params: pathParameters(path),
        query: query ? parseQuery(request.url, query) : undefined,
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
