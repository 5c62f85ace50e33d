/**
 * The SQS actions on queues: CreateQueue, GetQueueUrl, ListQueues, GetQueueAttributes,
 * SetQueueAttributes, PurgeQueue, DeleteQueue. Each parses its input, calls the service
 * layer (`service.ts`) and shapes the answer as SQS does.
 */

import { applyConfigPatch, QueueNameSchema } from "../../../core/queue-config.ts";
import { accessDenied, invoke, operations } from "../../operations.ts";
import { queueDefinition } from "../../service.ts";
import type { SqsCall } from "./call.ts";
import { expectOk, fromRefusal, sqsError } from "./errors.ts";
import {
  ACCOUNT_ID,
  attributesPatch,
  creationConfig,
  isAttributeName,
  queueAttributes,
  queueNameOf,
  queueUrl,
  STATS_ATTRIBUTES,
} from "./queue-attributes.ts";
import {
  CreateQueueSchema,
  GetQueueAttributesSchema,
  GetQueueUrlSchema,
  ListQueuesSchema,
  parseInput,
  QueueUrlSchema,
  SetQueueAttributesSchema,
} from "./schemas.ts";

/** CreateQueue and SetQueueAttributes are the table's putQueue: its access, checked first. */
function requireAdmin({ principal }: SqsCall, name: string): void {
  const refused = accessDenied(operations.putQueue, principal, [name]);
  if (refused !== null) throw sqsError("AccessDenied", refused.detail);
}

/**
 * Creates the queue with SQS's semantics (`creationConfig`) and the attributes given. As in
 * SQS, creating a queue that exists answers its URL when every attribute given has the value
 * the queue has, and QueueNameExists when one differs.
 */
export async function createQueue(call: SqsCall, input: unknown) {
  const { QueueName, Attributes = {}, tags } = parseInput(CreateQueueSchema, input);
  const { env, principal, origin, region } = call;
  if (!QueueNameSchema.safeParse(QueueName).success) {
    throw sqsError(
      "InvalidParameterValue",
      `'${QueueName}' is not a valid queue name: 1–80 of A–Z a–z 0–9 - _, a FIFO queue's ending in .fifo`,
    );
  }
  if (tags !== undefined && Object.keys(tags).length > 0) {
    throw sqsError(
      "InvalidParameterValue",
      "Sluice does not keep queue tags; create the queue without tags",
    );
  }
  requireAdmin(call, QueueName);
  const existing = await queueDefinition(env, principal, QueueName);
  if (existing.ok) {
    const { record } = existing;
    const changed = applyConfigPatch(
      record.config,
      attributesPatch(QueueName, Attributes, record.config),
    );
    if (!changed.success) throw sqsError("InvalidAttributeValue", changed.error.issues[0].message);
    const now = queueAttributes(record, region);
    const asked = queueAttributes({ ...record, config: changed.data }, region);
    const differing = Object.keys(Attributes).filter((name) => now[name] !== asked[name]);
    if (differing.length > 0) {
      throw sqsError(
        "QueueNameExists",
        `queue '${QueueName}' already exists with a different ${differing.join(", ")}; change it with SetQueueAttributes`,
      );
    }
  } else if (existing.code === "queue_not_found") {
    const patch = { ...creationConfig(QueueName), ...attributesPatch(QueueName, Attributes) };
    expectOk(await invoke(operations.putQueue, env, principal, QueueName, patch));
  } else {
    throw fromRefusal(existing);
  }
  return { QueueUrl: queueUrl(origin, QueueName) };
}

export async function getQueueUrl({ env, principal, origin }: SqsCall, input: unknown) {
  const { QueueName, QueueOwnerAWSAccountId } = parseInput(GetQueueUrlSchema, input);
  const missing = sqsError("QueueDoesNotExist", `no queue named '${QueueName}'`);
  if (QueueOwnerAWSAccountId !== undefined && QueueOwnerAWSAccountId !== ACCOUNT_ID) throw missing;
  if (!QueueNameSchema.safeParse(QueueName).success) throw missing;
  expectOk(await queueDefinition(env, principal, QueueName));
  return { QueueUrl: queueUrl(origin, QueueName) };
}

/** NextToken is the last name of the previous page, so pages stay stable as queues come and go. */
export async function listQueuesAction({ env, principal, origin }: SqsCall, input: unknown) {
  const { QueueNamePrefix = "", NextToken, MaxResults } = parseInput(ListQueuesSchema, input);
  let after = "";
  if (NextToken !== undefined) {
    try {
      after = atob(NextToken);
    } catch {
      throw sqsError(
        "InvalidParameterValue",
        "NextToken is not one ListQueues answered; start without it",
      );
    }
  }
  const { queues } = expectOk(await invoke(operations.listQueues, env, principal));
  const names = queues
    .map((queue) => queue.name)
    .filter((name) => name.startsWith(QueueNamePrefix) && name > after)
    .sort();
  const page = names.slice(0, MaxResults ?? 1000);
  const more = MaxResults !== undefined && names.length > page.length;
  return {
    QueueUrls: page.map((name) => queueUrl(origin, name)),
    ...(more ? { NextToken: btoa(page[page.length - 1]) } : {}),
  };
}

/**
 * The attributes asked for by name, or every one for `All`. Attributes SQS knows but Sluice
 * does not keep (Policy, KMS, ...) are left out, as SQS leaves out attributes never set.
 */
export async function getQueueAttributes(call: SqsCall, input: unknown) {
  const { QueueUrl, AttributeNames = [] } = parseInput(GetQueueAttributesSchema, input);
  const { env, principal, region } = call;
  const unknown = AttributeNames.find((name) => name !== "All" && !isAttributeName(name));
  if (unknown !== undefined) {
    throw sqsError("InvalidAttributeName", `unknown attribute ${unknown}`);
  }
  const name = queueNameOf(QueueUrl);
  const { record } = expectOk(await queueDefinition(env, principal, name));
  const all = AttributeNames.includes("All");
  const needsStats =
    all || AttributeNames.some((attribute) => STATS_ATTRIBUTES.includes(attribute));
  const stats = needsStats
    ? expectOk(await invoke(operations.getQueue, env, principal, name)).queue.stats
    : undefined;
  const attributes = queueAttributes(record, region, stats);
  const asked = Object.fromEntries(
    Object.entries(attributes).filter(([attribute]) => all || AttributeNames.includes(attribute)),
  );
  return Object.keys(asked).length > 0 ? { Attributes: asked } : {};
}

export async function setQueueAttributes(call: SqsCall, input: unknown) {
  const { QueueUrl, Attributes } = parseInput(SetQueueAttributesSchema, input);
  const { env, principal } = call;
  const name = queueNameOf(QueueUrl);
  requireAdmin(call, name);
  const { record } = expectOk(await queueDefinition(env, principal, name));
  const patch = attributesPatch(name, Attributes, record.config);
  expectOk(await invoke(operations.putQueue, env, principal, name, patch));
  return {};
}

export async function purgeQueueAction({ env, principal }: SqsCall, input: unknown) {
  const { QueueUrl } = parseInput(QueueUrlSchema, input);
  expectOk(await invoke(operations.purgeQueue, env, principal, queueNameOf(QueueUrl)));
  return {};
}

export async function deleteQueueAction({ env, principal }: SqsCall, input: unknown) {
  const { QueueUrl } = parseInput(QueueUrlSchema, input);
  expectOk(await invoke(operations.deleteQueue, env, principal, queueNameOf(QueueUrl)));
  return {};
}
