/**
 * Edit before redrive: a person changes a dead letter's body or headers, and the dead-letter
 * object keeps the change in the message's timeline (who, when, the replaced value's SHA-256;
 * docs/architecture.md, "Edit and redrive"). A redrive then sends the message as edited.
 */
import type { DeadLetter, DeadLetterChange } from "../core/contract.ts";
import { actorOf, type Principal } from "./auth.ts";
import { type Outcome, refuse } from "./outcome.ts";
import type { EditDeadLetterInput } from "./schemas.ts";
import { queueDefinition } from "./service.ts";

/** The change in the form the dead-letter object stores: a JSON body as its text. */
function storedChange(input: EditDeadLetterInput): DeadLetterChange {
  const change: DeadLetterChange = {};
  if (input.body !== undefined) {
    const contentType = input.contentType ?? "application/json";
    change.contentType = contentType;
    change.body =
      contentType === "application/json" ? JSON.stringify(input.body) : (input.body as string);
  }
  if (input.headers !== undefined) change.headers = input.headers;
  return change;
}

export async function editDeadLetter(
  env: Env,
  principal: Principal,
  name: string,
  id: string,
  input: EditDeadLetterInput,
): Promise<Outcome<{ message: DeadLetter }>> {
  const queue = await queueDefinition(env, principal, name);
  if (!queue.ok) return queue;
  const by = actorOf(principal);
  const message = await env.DEAD_LETTERS.getByName(name).edit(id, storedChange(input), by);
  if (message === null) {
    return refuse("dead_letter_not_found", `queue '${name}' has no dead letter with id '${id}'`);
  }
  return { ok: true, message };
}
