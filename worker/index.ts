/**
 * The Worker every client meets: the dashboard's page, the HTTP API (doors/http/router.ts), the SQS
 * door (doors/sqs/door.ts), the service-binding entrypoint (doors/rpc.ts) and the Durable Object classes.
 */
import { withDashboardHeaders } from "./dashboard-headers.ts";
import { router } from "./doors/http/router.ts";
import { handleSqs, isSqsRequest } from "./doors/sqs/door.ts";
import { pathnameOf } from "./request.ts";

export { Catalog } from "../durable-objects/catalog.ts";
export { DeadLetters } from "../durable-objects/dead-letters.ts";
export { Partition } from "../durable-objects/partition.ts";
export { Scheduler } from "../durable-objects/scheduler.ts";
export { SluiceRpc } from "./doors/rpc.ts";
export { Subscription } from "./doors/websocket.ts";
export { RedriveDelivery } from "./redrive-jobs.ts";
export { ScheduleDelivery } from "./schedules.ts";

export default {
  fetch: (request, env, ctx) => {
    if (isSqsRequest(request)) return handleSqs(request, env);
    if (isDashboardPage(request)) return env.ASSETS.fetch(request).then(withDashboardHeaders);
    return router.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;

/**
 * `/` runs the Worker before the static assets (wrangler.toml) because POST / is the SQS
 * door; a browser's GET of it still gets the dashboard's index.html.
 */
function isDashboardPage(request: Request): boolean {
  return (request.method === "GET" || request.method === "HEAD") && pathnameOf(request.url) === "/";
}
