/** API keys: create (the secret is in this answer only), list, revoke. */
import { createKey, deleteKey, listKeys } from "../../../auth.ts";
import { unwrap } from "../../../problem.ts";
import { idParam, readJson } from "../../../request.ts";
import { CreateKeyBodySchema } from "../../../schemas.ts";
import type { SluiceRequest } from "../middleware.ts";

export async function create(request: SluiceRequest, env: Env): Promise<Response> {
  const input = await readJson(request, CreateKeyBodySchema);
  const { key } = unwrap(await createKey(env, request.principal, input));
  return Response.json(key, { status: 201 });
}

export async function list(request: SluiceRequest, env: Env): Promise<Response> {
  return Response.json(unwrap(await listKeys(env, request.principal)));
}

export async function remove(request: SluiceRequest, env: Env): Promise<Response> {
  unwrap(await deleteKey(env, request.principal, idParam(request)));
  return new Response(null, { status: 204 });
}
