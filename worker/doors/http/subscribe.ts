/**
 * `GET /v1/queues/:q/subscribe`: the upgrade to a WebSocket held by a `Subscription` object of
 * its own (the WebSocket door, doors/websocket.ts), which leases on the client's behalf.
 *
 * Browsers cannot set headers on a WebSocket, so a page offers its token as a subprotocol
 * beside `sluice.v1`: `new WebSocket(url, ["sluice.v1", "bearer." + token])`; the answer
 * names `sluice.v1`. Other clients may send `Authorization: Bearer` as anywhere else. A query
 * parameter is not accepted: URLs end up in logs and browser history.
 */
import { SETUP_HEADER } from "../../../durable-objects/subscription.ts";
import type { Principal } from "../../auth.ts";
import type { Outcome } from "../../outcome.ts";
import { problem, unwrap } from "../../problem.ts";
import { offeredProtocols, type SluiceRequest, SUBSCRIBE_PROTOCOL } from "./middleware.ts";

/** Who subscribed: the admin token, or an API key named by id so a revocation is seen. */
export type SubscriberIdentity = { kind: "admin" } | { kind: "key"; id: string };

/** What the upgrade hands the object with the socket; kept in the socket's attachment. */
export interface SubscriptionSetup {
  queue: string;
  subscriber: SubscriberIdentity;
  visibilityTimeout?: number;
}

/**
 * Opens the socket once `check` (the subscribe operation: consume scope, not a push queue)
 * allows it. `visibilityTimeout` comes from the subscribe query.
 */
export async function openSubscription(
  request: SluiceRequest,
  env: Env,
  name: string,
  visibilityTimeout: number | undefined,
  check: () => Promise<Outcome<object>>,
): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw problem(
      426,
      "upgrade_required",
      `this route opens a WebSocket; connect with new WebSocket(url, ["${SUBSCRIBE_PROTOCOL}", "bearer.<token>"])`,
      { Upgrade: "websocket" },
    );
  }
  unwrap(await check());

  const setup: SubscriptionSetup = {
    queue: name,
    subscriber: identityOf(request.principal),
    ...(visibilityTimeout === undefined ? {} : { visibilityTimeout }),
  };
  const headers = new Headers(request.headers);
  headers.set(SETUP_HEADER, JSON.stringify(setup));
  const subscription = env.SUBSCRIPTION.get(env.SUBSCRIPTION.newUniqueId());
  const accepted = await subscription.fetch(new Request(request, { headers }));
  if (!offeredProtocols(request).includes(SUBSCRIBE_PROTOCOL)) return accepted;
  return new Response(null, {
    status: 101,
    webSocket: accepted.webSocket,
    headers: { "Sec-WebSocket-Protocol": SUBSCRIBE_PROTOCOL },
  });
}

/** Keys are named by id, so the subscription sees a revocation within the key cache's time. */
function identityOf(principal: Principal): SubscriberIdentity {
  return principal.kind === "admin" ? { kind: "admin" } : { kind: "key", id: principal.key.id };
}
