export { Catalog } from "../durable-objects/catalog.ts";
export { DeadLetters } from "../durable-objects/dead-letters.ts";
export { Partition } from "../durable-objects/partition.ts";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ ok: true });
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
