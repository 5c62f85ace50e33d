/** WebSocket consumers: the upgrade is the WebSocket door's (doors/websocket.ts). */
import { parseQuery, queueParam } from "../../../request.ts";
import { SubscribeQuerySchema } from "../../../schemas.ts";
import { openSubscription } from "../../websocket.ts";
import type { SluiceRequest } from "../middleware.ts";

export async function subscribe(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { visibilityTimeout } = parseQuery(request, SubscribeQuerySchema);
  return openSubscription(request, env, name, visibilityTimeout);
}
