/**
 * WebSocket consumers: `GET /v1/queues/:q/subscribe` upgrades to a socket held by a
 * Subscription object of its own (durable-objects/subscription.ts), which leases on the
 * client's behalf within the credit it grants.
 *
 * Browsers cannot set headers on a WebSocket, so a page offers its token as a subprotocol
 * beside `sluice.v1`: `new WebSocket(url, ["sluice.v1", "bearer." + token])`; the answer
 * names `sluice.v1`. Other clients may send `Authorization: Bearer` as anywhere else. A query
 * parameter is not accepted: URLs end up in logs and browser history.
 */
import type {
  SubscriberIdentity,
  SubscriptionSetup,
} from "../../../../durable-objects/subscription.ts";
import { SETUP_HEADER } from "../../../../durable-objects/subscription.ts";
import type { Principal } from "../../../auth.ts";
import { problem, unwrap } from "../../../problem.ts";
import { parseQuery, queueParam } from "../../../request.ts";
import { SubscribeQuerySchema } from "../../../schemas.ts";
import { checkSubscribe } from "../../../service.ts";
import { offeredProtocols, type SluiceRequest, SUBSCRIBE_PROTOCOL } from "../middleware.ts";

export async function subscribe(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { visibilityTimeout } = parseQuery(request, SubscribeQuerySchema);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw problem(
      426,
      "upgrade_required",
      `this route opens a WebSocket; connect with new WebSocket(url, ["${SUBSCRIBE_PROTOCOL}", "bearer.<token>"])`,
      { Upgrade: "websocket" },
    );
  }
  unwrap(await checkSubscribe(env, request.principal, name));

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
