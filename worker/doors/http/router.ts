/**
 * The HTTP API v1, read top to bottom like the table in DESIGN.md. Cross-cutting steps are
 * registered once here: before the routes (preflight, authentication, admission), the error
 * renderer, and after the routes (404/405, CORS headers, in-flight release).
 */
import { type RouteEntry, Router } from "itty-router";
import {
  admission,
  authentication,
  finish,
  preflight,
  renderError,
  type SluiceRequest,
  unmatched,
} from "./middleware.ts";
import * as deadLetters from "./routes/dead-letters.ts";
import * as keys from "./routes/keys.ts";
import * as messages from "./routes/messages.ts";
import * as queues from "./routes/queues.ts";
import * as subscribe from "./routes/subscribe.ts";
import * as system from "./routes/system.ts";

export const routes: RouteEntry[] = [];

export const router = Router<SluiceRequest, [Env, ExecutionContext]>({
  routes,
  before: [preflight, authentication, admission],
  catch: renderError,
  finally: [unmatched(routes), finish],
});

router
  .put("/v1/queues/:q", queues.put)
  .get("/v1/queues", queues.list)
  .get("/v1/queues/:q", queues.get)
  .delete("/v1/queues/:q", queues.remove)
  .post("/v1/queues/:q/messages", messages.send)
  .post("/v1/queues/:q/receive", messages.receive)
  .post("/v1/queues/:q/ack", messages.ack)
  .post("/v1/queues/:q/nack", messages.nack)
  .post("/v1/queues/:q/extend", messages.extend)
  .get("/v1/queues/:q/subscribe", subscribe.subscribe)
  .post("/v1/queues/:q/purge", queues.purge)
  .get("/v1/queues/:q/messages", messages.peek)
  .get("/v1/queues/:q/dlq", deadLetters.list)
  .get("/v1/queues/:q/dlq/:id", deadLetters.get)
  .post("/v1/queues/:q/dlq/redrive", deadLetters.redrive)
  .delete("/v1/queues/:q/dlq/:id", deadLetters.remove)
  .post("/v1/queues/:q/dlq/purge", deadLetters.purge)
  .post("/v1/keys", keys.create)
  .get("/v1/keys", keys.list)
  .delete("/v1/keys/:id", keys.remove)
  .get("/health", system.health)
  .get("/v1/openapi.json", system.openapi)
  .get("/metrics", system.metrics);
