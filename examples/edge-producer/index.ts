/**
 * An edge function that takes orders and leaves the work to Sluice: a POST to /orders is
 * enqueued through the service binding (no HTTP hop, no token to keep) and answered 202 at
 * once; consumers do the work later. Orders of one customer share a key, so they are worked
 * on in order; an `Idempotency-Key` header becomes the dedupId, so a client that retries
 * does not enqueue its order twice.
 */
import type { JsonObject } from "../../client/types.ts";
import type { SluiceRpc } from "../../worker/doors/rpc.ts";

interface ProducerEnv {
  /** wrangler.toml [[services]]: Sluice's `SluiceRpc` entrypoint, acting as one API key. */
  SLUICE: Service<SluiceRpc>;
  /** wrangler.toml [vars]: the queue orders go to. */
  QUEUE: string;
}

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname !== "/orders") {
      return problem(404, "not_found", "POST orders to /orders");
    }
    if (request.method !== "POST") {
      return problem(405, "method_not_allowed", "POST orders to /orders", { Allow: "POST" });
    }
    const order = await request.json().catch(() => null);
    if (typeof order !== "object" || order === null || Array.isArray(order)) {
      return problem(400, "invalid_order", "send the order as a JSON object");
    }
    const { customer } = order as JsonObject;
    const idempotencyKey = request.headers.get("Idempotency-Key");
    const sent = await env.SLUICE.send(env.QUEUE, {
      body: order as JsonObject,
      ...(typeof customer === "string" ? { key: customer } : {}),
      ...(idempotencyKey === null ? {} : { dedupId: idempotencyKey }),
    });
    if (!sent.ok) {
      // A binding refused for who it is, is this Worker's misconfiguration, not the caller's.
      if (sent.status === 401 || sent.status === 403) {
        console.error(`edge-producer: Sluice refused the binding: ${sent.detail}`);
        return problem(500, "not_queued", "the order could not be queued; try again later");
      }
      const retryAfter = sent.retryAfterSeconds;
      return problem(
        sent.status,
        sent.code,
        sent.detail,
        retryAfter === undefined ? {} : { "Retry-After": String(Math.ceil(retryAfter)) },
      );
    }
    const [{ id, duplicate }] = sent.messages;
    return Response.json({ id, duplicate }, { status: 202 });
  },
} satisfies ExportedHandler<ProducerEnv>;

function problem(
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ status, code, detail }), {
    status,
    headers: { ...headers, "Content-Type": "application/problem+json" },
  });
}
