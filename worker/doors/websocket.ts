/**
 * The WebSocket door: a `Subscription` object per connection (opened by the subscribe route,
 * doors/http/subscribe.ts) leases on its client's behalf, as a pull consumer would, within
 * the credit the client grants. The object's share (the socket, its attachment, the credit
 * loop) is durable-objects/subscription.ts; this class adds the protocol and the calls into
 * the service layer, made through the operation table like every door's.
 *
 * The protocol is JSON text frames (docs/push-and-websockets.md):
 *
 *   client → {type: "credit", n}                       grants n more messages
 *            {type: "ack", receipts, id?}              as POST /ack
 *            {type: "nack", receipts, delaySeconds?, reason?, id?}
 *            {type: "extend", receipts, visibilityTimeout, id?}
 *   server → {type: "messages", messages}              as POST /receive answers; each uses a credit
 *            {type: "acked" | "nacked" | "extended", id?, …the HTTP answer}
 *            {type: "error", id?, code, detail}
 *
 * Each message is leased like a pull receive's (for the queue's visibilityTimeout, or the
 * subscribe query's), so a message the socket could not deliver, or that the client never
 * settled, comes back when its lease ends. A refusal that cannot change (the queue was
 * deleted, the key revoked) closes the socket with code 4000 + the HTTP status and the
 * refusal's detail as reason.
 */
import { describeIssues } from "../../core/issues.ts";
import { messagesJson } from "../../core/message-json.ts";
import { type SocketState, SubscriptionSocket } from "../../durable-objects/subscription.ts";
import { admitted, park, SHED_RETRY_AFTER_SECONDS } from "../admission.ts";
import { authenticateKeyId, type Principal } from "../auth.ts";
import { invoke, operations } from "../operations.ts";
import type { Refusal } from "../outcome.ts";
import { REFUSAL_STATUS } from "../problem.ts";
import { MAX_WAIT_SECONDS, type SubscriberFrame, SubscriberFrameSchema } from "../schemas.ts";
import type { SubscriptionSetup } from "./http/subscribe.ts";

type ServerFrame = Record<string, unknown> & { type: string };

/** A close reason is at most 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_CHARS = 120;

export class Subscription extends SubscriptionSocket<SubscriptionSetup> {
  override async webSocketMessage(socket: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const frame = parseFrame(data);
    if ("detail" in frame) {
      send(socket, { type: "error", code: "invalid_frame", detail: frame.detail });
      return;
    }
    if (frame.type === "credit") await this.grant(socket, frame.n);
    else await this.#settle(socket, frame);
  }

  /** One receive for the socket: an overloaded partition is waited out, a refusal closes. */
  protected override async deliver(
    socket: WebSocket,
    state: SocketState<SubscriptionSetup>,
    max: number,
  ): Promise<number | null> {
    try {
      const principal = await this.#principal(socket, state);
      if (principal === null) return null;
      // Admitted like a long-poll receive: a shed or an overloaded partition is waited out.
      const answer = await admitted(this.env, operations.receive.shed, async (ticket) => {
        const parked = park(this.env, ticket, principal);
        if (parked !== null) return parked;
        return invoke(operations.receive, this.env, principal, state.queue, {
          max,
          wait: MAX_WAIT_SECONDS,
          visibilityTimeout: state.visibilityTimeout,
        });
      });
      if (!answer.ok && (answer.code === "inflight_limit" || answer.code === "overloaded")) {
        await scheduler.wait((answer.retryAfterSeconds ?? SHED_RETRY_AFTER_SECONDS) * 1000);
        return 0;
      }
      if (!answer.ok) {
        closeWithRefusal(socket, answer);
        return null;
      }
      if (answer.messages.length === 0 || socket.readyState !== WebSocket.OPEN) return 0;
      // As POST /receive answers them, the stored JSON bodies spliced in (core/message-json.ts).
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(`{"type":"messages","messages":${messagesJson(answer.messages)}}`);
      }
      return answer.messages.length;
    } catch (error) {
      console.error(`Subscription ${state.queue}: delivery failed`, error);
      send(socket, { type: "error", code: "internal", detail: "an unexpected error; reconnect" });
      socket.close(1011, "internal error");
      return null;
    }
  }

  /** Acks, nacks or extends through the service layer and answers with its outcome. */
  async #settle(socket: WebSocket, frame: Exclude<SubscriberFrame, { type: "credit" }>) {
    const state = this.stateOf(socket);
    const principal = await this.#principal(socket, state);
    if (principal === null) return;
    const { env } = this;
    const { type, id, receipts } = frame;
    const outcome = await admitted(env, operations[type].shed, async () =>
      frame.type === "ack"
        ? await invoke(operations.ack, env, principal, state.queue, receipts)
        : frame.type === "nack"
          ? await invoke(operations.nack, env, principal, state.queue, receipts, {
              delaySeconds: frame.delaySeconds,
              reason: frame.reason,
            })
          : await invoke(
              operations.extend,
              env,
              principal,
              state.queue,
              receipts,
              frame.visibilityTimeout,
            ),
    );
    const answer = { ack: "acked", nack: "nacked", extend: "extended" }[type];
    const echo = id === undefined ? {} : { id };
    if (outcome.ok) {
      const { ok: _, ...result } = outcome;
      send(socket, { type: answer, ...echo, ...result });
    } else {
      send(socket, { type: "error", ...echo, code: outcome.code, detail: outcome.detail });
    }
  }

  /** The subscriber as the service layer knows it; null (and the socket closed) if revoked. */
  async #principal(socket: WebSocket, state: SubscriptionSetup): Promise<Principal | null> {
    if (state.subscriber.kind === "admin") return { kind: "admin" };
    const principal = await authenticateKeyId(this.env, state.subscriber.id);
    if (principal === null) {
      const detail = "the API key this socket was opened with was revoked";
      send(socket, { type: "error", code: "unauthorized", detail });
      socket.close(4401, detail);
    }
    return principal;
  }
}

function send(socket: WebSocket, frame: ServerFrame): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function closeWithRefusal(socket: WebSocket, refusal: Refusal): void {
  send(socket, { type: "error", code: refusal.code, detail: refusal.detail });
  socket.close(
    4000 + REFUSAL_STATUS[refusal.code],
    refusal.detail.slice(0, MAX_CLOSE_REASON_CHARS),
  );
}

function parseFrame(data: string | ArrayBuffer): SubscriberFrame | { detail: string } {
  if (typeof data !== "string") return { detail: "frames are JSON text, not binary" };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { detail: 'a frame is JSON, e.g. {"type":"credit","n":10}' };
  }
  const parsed = SubscriberFrameSchema.safeParse(json, { reportInput: true });
  return parsed.success ? parsed.data : { detail: describeIssues(parsed.error, "frame") };
}
