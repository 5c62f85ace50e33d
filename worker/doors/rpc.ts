/**
 * The service-binding door: a Worker bound to Sluice's `SluiceRpc` entrypoint calls these
 * methods instead of making HTTP requests. They are the HTTP API's operations over the same
 * service layer (`service.ts`), with the same validation (`schemas.ts`), scopes and shedding.
 *
 * Who calls: the binding's `props` name an API key, `{ keyId: "key_…" }` (wrangler config:
 * `[[services]] … entrypoint = "SluiceRpc"`, `props = { keyId = "key_…" }`). The binding acts
 * with that key's scopes and queue patterns; revoking the key cuts the binding off (at once in
 * this isolate, everywhere within `KEY_CACHE_MS`). Only Workers of the same account can bind,
 * so the key's id is enough: no secret travels.
 *
 * Answers are the service layer's values tagged `ok: true`, typed with the API's wire types
 * (`client/types.ts`, whose JSON type a binding's stub types can expand). Expected failures
 * are values too, `{ ok: false, status, code, detail, retryAfterSeconds? }`, with the status
 * and code the HTTP API would answer; a thrown error is a bug.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { z } from "zod";
import type * as wire from "../../client/types.ts";
import {
  admit,
  isTicket,
  overloadRefusal,
  park,
  release,
  type ShedClass,
  type Ticket,
} from "../admission.ts";
import { authenticateKeyId, type Principal } from "../auth.ts";
import type { Outcome, Refusal } from "../outcome.ts";
import { Problem, problem, REFUSAL_STATUS } from "../problem.ts";
import { parseWith } from "../request.ts";
import {
  DeadLetterQuerySchema,
  ExtendBodySchema,
  IdSchema,
  MessageInputSchema,
  NackBodySchema,
  PeekQuerySchema,
  QueueNameSchema,
  ReceiptsSchema,
  ReceiveBodySchema,
  RedriveBodySchema,
  SendBatchSchema,
} from "../schemas.ts";
import * as queues from "../service.ts";

/** What a binding to `SluiceRpc` configures as `props`. */
export const BindingPropsSchema = z.object({ keyId: IdSchema });
export type BindingProps = z.input<typeof BindingPropsSchema>;

/** An expected failure, as the HTTP API would have answered it. */
export interface RpcRefusal {
  ok: false;
  status: number;
  code: string;
  detail: string;
  /** Present when trying again later can succeed. */
  retryAfterSeconds?: number;
}

export type RpcOutcome<T> = ({ ok: true } & T) | RpcRefusal;

/** What a send answers: the HTTP body, and whether the queue asked producers to slow down. */
export interface RpcSendResult {
  messages: wire.SentMessage[];
  failed: wire.SendFailure[];
  backpressure: boolean;
}

const NackOptionsSchema = NackBodySchema.omit({ receipts: true });

export class SluiceRpc extends WorkerEntrypoint<Env, Partial<BindingProps>> {
  // ───────────────────────────── producing ─────────────────────────────

  /** One message; the answer lists it like a batch of one. */
  send(queue: string, message: wire.NewMessage): Promise<RpcOutcome<RpcSendResult>> {
    return this.#onQueue("produce", queue, (principal, name) =>
      queues.sendMessages(this.env, principal, name, [
        parseWith(MessageInputSchema, message, "message"),
      ]),
    );
  }

  /** Up to 100 messages: stored in part (`failed` lists the rest) only across partitions. */
  sendBatch(queue: string, messages: wire.NewMessage[]): Promise<RpcOutcome<RpcSendResult>> {
    return this.#onQueue("produce", queue, (principal, name) =>
      queues.sendMessages(
        this.env,
        principal,
        name,
        parseWith(SendBatchSchema.shape.messages, messages, "messages"),
      ),
    );
  }

  // ───────────────────────────── consuming ─────────────────────────────

  receive(
    queue: string,
    options: wire.ReceiveOptions = {},
  ): Promise<RpcOutcome<{ messages: wire.ReceivedMessage[] }>> {
    return this.#onQueue("consume", queue, async (principal, name, ticket) => {
      const input = parseWith(ReceiveBodySchema, options, "options");
      const parked = input.wait > 0 ? park(this.env, ticket, principal) : null;
      return parked ?? queues.receiveMessages(this.env, principal, name, input);
    });
  }

  ack(queue: string, receipts: string[]): Promise<RpcOutcome<wire.AckResult>> {
    return this.#onQueue("essential", queue, (principal, name) =>
      queues.ackMessages(
        this.env,
        principal,
        name,
        parseWith(ReceiptsSchema, receipts, "receipts"),
      ),
    );
  }

  nack(
    queue: string,
    receipts: string[],
    options: wire.NackOptions = {},
  ): Promise<RpcOutcome<wire.NackResult>> {
    return this.#onQueue("essential", queue, (principal, name) =>
      queues.nackMessages(
        this.env,
        principal,
        name,
        parseWith(ReceiptsSchema, receipts, "receipts"),
        parseWith(NackOptionsSchema, options, "options"),
      ),
    );
  }

  extend(
    queue: string,
    receipts: string[],
    visibilityTimeout: number,
  ): Promise<RpcOutcome<wire.ExtendResult>> {
    return this.#onQueue("essential", queue, (principal, name) =>
      queues.extendLeases(
        this.env,
        principal,
        name,
        parseWith(ReceiptsSchema, receipts, "receipts"),
        parseWith(ExtendBodySchema.shape.visibilityTimeout, visibilityTimeout, "visibilityTimeout"),
      ),
    );
  }

  peek(
    queue: string,
    query: wire.PeekQuery = {},
  ): Promise<RpcOutcome<{ messages: wire.PeekedMessage[] }>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.peekMessages(this.env, principal, name, parseWith(PeekQuerySchema, query, "query")),
    );
  }

  // ───────────────────────────── queues ─────────────────────────────

  /** The queue's configuration and stats. */
  getQueue(queue: string): Promise<RpcOutcome<{ queue: wire.Queue }>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.getQueue(this.env, principal, name),
    );
  }

  listQueues(): Promise<RpcOutcome<{ queues: wire.Queue[] }>> {
    return this.#run("consume", (principal) => queues.listQueues(this.env, principal));
  }

  // ───────────────────────────── dead letters ─────────────────────────────

  listDeadLetters(
    queue: string,
    query: wire.DeadLetterQuery = {},
  ): Promise<RpcOutcome<wire.DeadLetterPage>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.listDeadLetters(
        this.env,
        principal,
        name,
        parseWith(DeadLetterQuerySchema, query, "query"),
      ),
    );
  }

  getDeadLetter(queue: string, id: string): Promise<RpcOutcome<{ message: wire.DeadMessage }>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.getDeadLetter(this.env, principal, name, parseWith(IdSchema, id, "id")),
    );
  }

  redriveDeadLetters(
    queue: string,
    input: wire.RedriveInput,
  ): Promise<RpcOutcome<wire.RedriveResult>> {
    return this.#onQueue("produce", queue, (principal, name) =>
      queues.redriveDeadLetters(
        this.env,
        principal,
        name,
        parseWith(RedriveBodySchema, input, "input"),
      ),
    );
  }

  deleteDeadLetter(queue: string, id: string): Promise<RpcOutcome<object>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.deleteDeadLetter(this.env, principal, name, parseWith(IdSchema, id, "id")),
    );
  }

  purgeDeadLetters(queue: string): Promise<RpcOutcome<{ purged: number }>> {
    return this.#onQueue("consume", queue, (principal, name) =>
      queues.purgeDeadLetters(this.env, principal, name),
    );
  }

  // ───────────────────────────── plumbing ─────────────────────────────

  /**
   * Admits the call as the router would a request of `shedClass`, resolves the binding's key,
   * runs the operation and turns every expected failure (shed, unknown key, bad argument,
   * refusal, overloaded object) into an `RpcRefusal`.
   */
  async #run<T>(
    shedClass: ShedClass,
    operation: (principal: Principal, ticket: Ticket) => Promise<Outcome<T>>,
  ): Promise<RpcOutcome<T>> {
    const ticket = admit(this.env, shedClass);
    if (!isTicket(ticket)) return refusal(ticket);
    try {
      const outcome = await operation(await this.#principal(), ticket);
      return outcome.ok ? outcome : refusal(outcome);
    } catch (error) {
      if (error instanceof Problem) {
        return { ok: false, status: error.status, code: error.code, detail: error.detail };
      }
      const overloaded = overloadRefusal(error);
      if (overloaded === null) throw error;
      return refusal(overloaded);
    } finally {
      release(ticket);
    }
  }

  /** `#run` for an operation on one queue, whose name is checked like any other argument. */
  #onQueue<T>(
    shedClass: ShedClass,
    queue: unknown,
    operation: (principal: Principal, name: string, ticket: Ticket) => Promise<Outcome<T>>,
  ): Promise<RpcOutcome<T>> {
    return this.#run(shedClass, (principal, ticket) =>
      operation(
        principal,
        parseWith(QueueNameSchema, queue, "queue", "invalid_queue_name"),
        ticket,
      ),
    );
  }

  async #principal(): Promise<Principal> {
    const props = BindingPropsSchema.safeParse(this.ctx.props);
    if (!props.success) {
      throw problem(
        401,
        "unauthorized",
        'this service binding names no API key; configure it with props = { keyId = "<id>" }, the id of a key made with POST /v1/keys',
      );
    }
    const principal = await authenticateKeyId(this.env, props.data.keyId);
    if (principal === null) {
      throw problem(
        401,
        "unauthorized",
        `the API key '${props.data.keyId}' named by this binding's props.keyId does not exist or was revoked`,
      );
    }
    return principal;
  }
}

/** The RPC door's wire form of a refusal: the HTTP status travels with it. */
function refusal(refused: Refusal): RpcRefusal {
  return { ...refused, status: REFUSAL_STATUS[refused.code] };
}
