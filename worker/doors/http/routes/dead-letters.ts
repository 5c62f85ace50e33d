/** A queue's dead letters: list and search, read one, redrive, delete, purge. */

import { unwrap } from "../../../problem.ts";
import { idParam, parseQuery, queueParam, readJson } from "../../../request.ts";
import { DeadLetterQuerySchema, RedriveBodySchema } from "../../../schemas.ts";
import {
  deleteDeadLetter,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  redriveDeadLetters,
} from "../../../service.ts";
import type { SluiceRequest } from "../middleware.ts";

export async function list(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const query = parseQuery(request, DeadLetterQuerySchema);
  return Response.json(unwrap(await listDeadLetters(env, request.principal, name, query)));
}

export async function get(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const { message } = unwrap(await getDeadLetter(env, request.principal, name, idParam(request)));
  return Response.json(message);
}

export async function redrive(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  const input = await readJson(request, RedriveBodySchema);
  return Response.json(unwrap(await redriveDeadLetters(env, request.principal, name, input)));
}

export async function remove(request: SluiceRequest, env: Env): Promise<Response> {
  const name = queueParam(request);
  unwrap(await deleteDeadLetter(env, request.principal, name, idParam(request)));
  return new Response(null, { status: 204 });
}

export async function purge(request: SluiceRequest, env: Env): Promise<Response> {
  return Response.json(unwrap(await purgeDeadLetters(env, request.principal, queueParam(request))));
}
