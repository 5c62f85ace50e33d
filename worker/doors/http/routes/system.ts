/** Health, the OpenAPI document and Prometheus metrics. */
import { renderMetrics } from "../../../metrics.ts";
import { unwrap } from "../../../problem.ts";
import { listQueues } from "../../../service.ts";
import type { SluiceRequest } from "../middleware.ts";
import { openApiDocument } from "../openapi.ts";

export function health(): Response {
  return Response.json({ ok: true });
}

export function openapi(request: SluiceRequest): Response {
  return Response.json(openApiDocument(new URL(request.url).origin));
}

/** Isolate counters, plus gauges for the queues the caller may see. */
export async function metrics(request: SluiceRequest, env: Env): Promise<Response> {
  const { queues } = unwrap(await listQueues(env, request.principal));
  return new Response(renderMetrics(queues), {
    headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
  });
}
