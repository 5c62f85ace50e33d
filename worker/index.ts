/** The Worker every client meets: the HTTP API (router.ts) and the Durable Object classes. */
import { router } from "./router.ts";

export { Catalog } from "../durable-objects/catalog.ts";
export { DeadLetters } from "../durable-objects/dead-letters.ts";
export { Partition } from "../durable-objects/partition.ts";

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
