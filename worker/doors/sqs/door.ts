/**
 * The SQS door: `POST /` in the SQS JSON protocol (`Content-Type: application/x-amz-json-1.0`,
 * `X-Amz-Target: AmazonSQS.<Action>`), signed with AWS Signature Version 4, so the AWS SDKs
 * work against Sluice with only their endpoint changed (docs/sqs.md). Each action calls the
 * service layer every door shares; this module checks the protocol and the signature, admits
 * the request as the HTTP API does (admission.ts: sends shed first, then receives and reads;
 * deletes and visibility changes never), and renders answers and refusals in the protocol's
 * shape.
 *
 * A signature covers the body, so the body must be read before the signature can be checked.
 * Until then the request holds a slot of the small unauthenticated pool, and only once the
 * headers have named a live key with a fresh date (`authorize`); the body must arrive within
 * `BODY_DEADLINE_MS` (docs/security.md).
 */
import {
  admit,
  authenticated,
  isTicket,
  overloadRefusal,
  release,
  type ShedClass,
} from "../../admission.ts";
import { operations } from "../../operations.ts";
import { Problem } from "../../problem.ts";
import { declaredTooLarge, pathnameOf, readBytes, utf8 } from "../../request.ts";
import type { SqsAction, SqsCall } from "./call.ts";
import { errorBody, errorHeaders, fromRefusal, SqsError, sqsError } from "./errors.ts";
import {
  changeMessageVisibility,
  changeMessageVisibilityBatch,
  deleteMessage,
  deleteMessageBatch,
  receiveMessage,
  sendMessage,
  sendMessageBatch,
} from "./message-actions.ts";
import {
  createQueue,
  deleteQueueAction,
  getQueueAttributes,
  getQueueUrl,
  listQueuesAction,
  purgeQueueAction,
  setQueueAttributes,
} from "./queue-actions.ts";
import { authorize, verifySignature } from "./sigv4.ts";

const CONTENT_TYPE = "application/x-amz-json-1.0";
const TARGET_PREFIX = "AmazonSQS.";

/** Each action, with the shed class of the operation it performs (operations.ts). */
const ACTIONS: Record<string, { shed: ShedClass; run: SqsAction }> = {
  CreateQueue: { shed: operations.putQueue.shed, run: createQueue },
  GetQueueUrl: { shed: operations.getQueue.shed, run: getQueueUrl },
  ListQueues: { shed: operations.listQueues.shed, run: listQueuesAction },
  GetQueueAttributes: { shed: operations.getQueue.shed, run: getQueueAttributes },
  SetQueueAttributes: { shed: operations.putQueue.shed, run: setQueueAttributes },
  PurgeQueue: { shed: operations.purgeQueue.shed, run: purgeQueueAction },
  DeleteQueue: { shed: operations.deleteQueue.shed, run: deleteQueueAction },
  SendMessage: { shed: operations.send.shed, run: sendMessage },
  SendMessageBatch: { shed: operations.send.shed, run: sendMessageBatch },
  ReceiveMessage: { shed: operations.receive.shed, run: receiveMessage },
  DeleteMessage: { shed: operations.ack.shed, run: deleteMessage },
  DeleteMessageBatch: { shed: operations.ack.shed, run: deleteMessageBatch },
  ChangeMessageVisibility: { shed: operations.extend.shed, run: changeMessageVisibility },
  ChangeMessageVisibilityBatch: { shed: operations.extend.shed, run: changeMessageVisibilityBatch },
};

/** SQS actions Sluice knows and does not offer. */
const UNSUPPORTED = [
  "AddPermission",
  "RemovePermission",
  "TagQueue",
  "UntagQueue",
  "ListQueueTags",
  "ListDeadLetterSourceQueues",
  "StartMessageMoveTask",
  "CancelMessageMoveTask",
  "ListMessageMoveTasks",
];

/** `POST /` belongs to the SQS door; everything else to the HTTP API and the dashboard. */
export function isSqsRequest(request: Request): boolean {
  return request.method === "POST" && pathnameOf(request.url) === "/";
}

export async function handleSqs(request: Request, env: Env): Promise<Response> {
  const requestId = crypto.randomUUID();
  const target = request.headers.get("x-amz-target") ?? "";
  const action = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : null;
  const entry = action !== null && Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  const ticket = admit(env, "unauthenticated", request.signal);
  try {
    if (!isTicket(ticket)) throw fromRefusal(ticket);
    const mediaType = (request.headers.get("content-type") ?? "").split(";")[0].trim();
    if (action === null || mediaType !== CONTENT_TYPE) {
      throw sqsError(
        "InvalidAction",
        `POST / speaks the SQS JSON protocol: send Content-Type: ${CONTENT_TYPE} and X-Amz-Target: AmazonSQS.<Action> (AWS SDKs released since late 2023 do); the older query protocol is not supported`,
      );
    }
    if (entry === undefined) throw unknownAction(action);
    // What the headers alone can refuse is refused before a byte of the body is read.
    const declared = declaredTooLarge(request);
    if (declared !== null) throw sqsError("RequestEntityTooLarge", declared.detail);
    const headers = await authorize(env, request);
    const body = await readBody(request);
    const signer = await verifySignature(request, body, headers);
    const shed = authenticated(env, ticket, entry.shed);
    if (shed !== null) throw fromRefusal(shed);
    const call: SqsCall = { env, ...signer, origin: new URL(request.url).origin, ticket };
    return answer(200, await entry.run(call, parseBody(body)), requestId);
  } catch (error) {
    const refusal = asSqsError(error, request);
    return answer(refusal.status, errorBody(refusal), requestId, errorHeaders(refusal));
  } finally {
    if (isTicket(ticket)) release(ticket);
  }
}

function unknownAction(action: string): SqsError {
  return UNSUPPORTED.includes(action)
    ? sqsError("UnsupportedOperation", `Sluice does not support ${action}`)
    : sqsError("InvalidAction", `${action} is not an SQS action`);
}

async function readBody(request: Request): Promise<Uint8Array> {
  try {
    return await readBytes(request);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    throw sqsError(error.status === 408 ? "RequestTimeout" : "RequestEntityTooLarge", error.detail);
  }
}

/** The action's input: a JSON object (an empty body counts as `{}`). */
function parseBody(body: Uint8Array): unknown {
  if (body.byteLength === 0) return {};
  let input: unknown;
  try {
    input = JSON.parse(utf8(body, "the body"));
  } catch (error) {
    throw sqsError(
      "SerializationException",
      `the body is not JSON text: ${(error as Error).message}`,
    );
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw sqsError(
      "SerializationException",
      "the body must be a JSON object of the action's parameters",
    );
  }
  return input;
}

function asSqsError(error: unknown, request: Request): SqsError {
  if (error instanceof SqsError) return error;
  const overloaded = overloadRefusal(error);
  if (overloaded !== null) return fromRefusal(overloaded);
  console.error(`sqs: ${request.headers.get("x-amz-target")} failed`, error);
  return sqsError("InternalFailure", "an unexpected error; this is a bug, please report it");
}

/** Every answer names its request and carries the server's time, which SDKs correct skew by. */
function answer(
  status: number,
  body: object,
  requestId: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...headers,
      "Content-Type": CONTENT_TYPE,
      "x-amzn-RequestId": requestId,
      Date: new Date().toUTCString(),
    },
  });
}
