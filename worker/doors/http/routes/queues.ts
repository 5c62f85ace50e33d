/** Queue administration: create or change, list, read with stats, delete, purge. */

import { unwrap } from "../../../problem.ts";
import { queueParam, readJson } from "../../../request.ts";
import { QueueConfigPatchSchema } from "../../../schemas.ts";
import { deleteQueue, getQueue, listQueues, purgeQueue, putQueue } from "../../../service.ts";
import type { SluiceRequest } from "../middleware.ts";

export async function put(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const patch = await readJson(request, QueueConfigPatchSchema);
  const { created, queue } = unwrap(await putQueue(env, request.principal, name, patch));
  return Response.json(queue, { status: created ? 201 : 200 });
}

export async function list(request: SluiceRequest, env: Env): Promise<Response> {
  return Response.json(unwrap(await listQueues(env, request.principal)));
}

export async function get(request: SluiceRequest, env: Env): Promise<Response> {
  const { queue } = unwrap(await getQueue(env, request.principal, queueParam(request)));
  return Response.json(queue);
}

export async function remove(request: SluiceRequest, env: Env): Promise<Response> {
  unwrap(await deleteQueue(env, request.principal, queueParam(request)));
  return new Response(null, { status: 204 });
}

export async function purge(request: SluiceRequest, env: Env): Promise<Response> {
  return Response.json(unwrap(await purgeQueue(env, request.principal, queueParam(request))));
}
