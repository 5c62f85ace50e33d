/**
 * The steps every request passes through, registered once on the router: answer CORS
 * preflights and authenticate; after the route, answer 404/405 for what matched nothing and
 * add CORS headers. `renderError` is the router's `catch`: the one place a thrown error
 * becomes problem+json. Authentication reads no body and comes before the route takes its
 * admission slot (router.ts), so a request that proves nothing takes no slot; bodies are read
 * by the routes, within `BODY_DEADLINE_MS`.
 *
 * CORS: a preflight carries no token, so it is answered for any origin, without
 * credentials; the real request is then checked against the key it presents (the origins on
 * the key, `*` for any; same-origin pages always; the admin token same-origin only) and a
 * page from another origin is refused with 403 `origin_not_allowed`. Bearer tokens are never
 * sent by browsers on their own, so this adds no cross-site request risk.
 */
import type { IRequest, RouteEntry } from "itty-router";
import { overloadRefusal, park, type ShedRefusal, type Ticket } from "../../admission.ts";
import { allowsOrigin, authenticate, type Principal } from "../../auth.ts";
import { Problem, problem, problemResponse, refusalProblem } from "../../problem.ts";
import { pathnameOf } from "../../request.ts";

export type SluiceRequest = IRequest & {
  principal: Principal;
  /** The in-flight slot this request holds. */
  ticket?: Ticket;
  /** The browser origin allowed to read this answer. */
  corsOrigin?: string;
};

const ALLOWED_METHODS = "GET, POST, PUT, DELETE";
const ALLOWED_HEADERS =
  "Authorization, Content-Type, Sluice-Key, Sluice-Dedup-Id, Sluice-Delay, Sluice-Priority";
const EXPOSED_HEADERS = "Retry-After, Sluice-Backpressure, WWW-Authenticate";
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** The WebSocket subprotocol of a subscription (subscribe.ts). */
export const SUBSCRIBE_PROTOCOL = "sluice.v1";
/** Browsers cannot set headers on a WebSocket, so they offer the token as this subprotocol. */
const TOKEN_PROTOCOL_PREFIX = "bearer.";

/** Whether anyone may read a path (operations.ts `isPublicPath`): it needs no token. */
type IsPublic = (pathname: string) => boolean;

export function preflight(request: SluiceRequest): Response | undefined {
  if (request.method !== "OPTIONS") return undefined;
  const origin = request.headers.get("origin");
  const headers: Record<string, string> = { Allow: ALLOWED_METHODS, Vary: "Origin" };
  if (origin !== null) {
    Object.assign(headers, {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Methods": ALLOWED_METHODS,
      "Access-Control-Allow-Headers": ALLOWED_HEADERS,
      "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_SECONDS),
    });
  }
  return new Response(null, { status: 204, headers });
}

/** Marks a receive that may wait as parked (admission.ts `park`), or refuses it. */
export function parkLongPoll(request: SluiceRequest, env: Env): void {
  if (request.ticket === undefined) return;
  const refusal = park(env, request.ticket, request.principal);
  if (refusal !== null) throw refusalProblem(refusal);
}

function unauthorized(detail: string, error: string): Problem {
  return problem(401, "unauthorized", detail, {
    "WWW-Authenticate": `Bearer realm="sluice", error="${error}"`,
  });
}

/** The subprotocols a WebSocket upgrade offers (`Sec-WebSocket-Protocol`). */
export function offeredProtocols(request: Request): string[] {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return [];
  const header = request.headers.get("sec-websocket-protocol") ?? "";
  return header
    .split(",")
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol !== "");
}

/** `Authorization: Bearer <token>`, or for a WebSocket the subprotocol `bearer.<token>`. */
function bearerToken(request: Request): string | undefined {
  const header = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  if (header !== undefined) return header;
  const offered = offeredProtocols(request).find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return offered?.slice(TOKEN_PROTOCOL_PREFIX.length) || undefined;
}

export const authentication = (isPublic: IsPublic) => async (request: SluiceRequest, env: Env) => {
  if (isPublic(pathnameOf(request.url))) return;
  const token = bearerToken(request);
  if (token === undefined) {
    throw unauthorized(
      "send the header Authorization: Bearer <token> (a browser's WebSocket offers the subprotocol bearer.<token>)",
      "invalid_request",
    );
  }
  const principal = await authenticate(env, token);
  if (principal === null) {
    throw unauthorized(
      "the bearer token is not one this service issued, or it was revoked",
      "invalid_token",
    );
  }
  request.principal = principal;
  const origin = request.headers.get("origin");
  if (origin === null) return;
  if (!allowsOrigin(principal, origin, new URL(request.url).origin)) {
    throw problem(
      403,
      "origin_not_allowed",
      `pages from ${origin} may not use this token; list the origin on the API key (origins)`,
    );
  }
  request.corsOrigin = origin;
};

/** The router's `catch`. A problem is rendered as it is; anything else is a 503 or a bug. */
export function renderError(error: unknown, request: SluiceRequest): Response {
  if (error instanceof Problem) return problemResponse(error);
  const overloaded: ShedRefusal | null = overloadRefusal(error);
  if (overloaded !== null) return problemResponse(refusalProblem(overloaded));
  console.error(`router: ${request.method} ${new URL(request.url).pathname} failed`, error);
  return problemResponse(
    problem(500, "internal", "an unexpected error; this is a bug, please report it"),
  );
}

/** For what no route answered: 405 with `Allow` when the path exists, else 404. */
export function unmatched(routes: RouteEntry[]) {
  return (response: Response | undefined, request: SluiceRequest): Response => {
    if (response !== undefined) return response;
    const { pathname } = new URL(request.url);
    const methods = routes
      .filter(([, pattern]) => pattern.test(pathname))
      .map(([method]) => method);
    if (methods.length > 0) {
      return problemResponse(
        problem(
          405,
          "method_not_allowed",
          `${pathname} answers ${methods.join(", ")}, not ${request.method}`,
          {
            Allow: methods.join(", "),
          },
        ),
      );
    }
    return problemResponse(
      problem(
        404,
        "not_found",
        `no route ${request.method} ${pathname}; the API is described at /v1/openapi.json`,
      ),
    );
  };
}

/** Adds CORS headers for the origin allowed to read the answer. */
export const finish = (isPublic: IsPublic) => (response: Response, request: SluiceRequest) => {
  // An accepted WebSocket is answered as it is: CORS does not apply to it, and copying the
  // answer would drop the socket.
  if (response.webSocket) return response;
  const origin = request.headers.get("origin");
  if (origin === null || request.method === "OPTIONS") return response;
  const pathname = pathnameOf(request.url);
  // Public documents and 401s (which say nothing about the service) are readable from
  // anywhere, so a page can tell a bad token from a network failure.
  const readable = isPublic(pathname) || response.status === 401 ? origin : request.corsOrigin;
  const headers = new Headers(response.headers);
  headers.append("Vary", "Origin");
  if (readable !== undefined) {
    headers.set("Access-Control-Allow-Origin", readable);
    headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
  }
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
};
