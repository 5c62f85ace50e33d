/**
 * A WebSocket consumer: one object per connection holds the socket through the hibernation
 * API and leases from the queue's partitions on its client's behalf, as a pull consumer
 * would, never beyond the credit the client granted.
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
 * What a client may rely on: the messages sent never outnumber the credit granted. Each is
 * leased like a pull receive's (for the queue's visibilityTimeout, or the subscribe query's),
 * so a message the socket could not deliver, or that the client never settled, comes back
 * when its lease ends. A refusal that cannot change (the queue was deleted, the key revoked)
 * closes the socket with code 4000 + the HTTP status and the refusal's detail as reason.
 *
 * The object keeps nothing but the socket and its attachment (queue, principal, credit),
 * which hibernation keeps for it; it stays awake only while it has credit to fill.
 */
import { DurableObject } from "cloudflare:workers";
import { MAX_BATCH } from "../core/contract.ts";
import { authenticateKeyId, type Principal } from "../worker/auth.ts";
import type { Refusal } from "../worker/outcome.ts";
import { REFUSAL_STATUS } from "../worker/problem.ts";
import { describeIssues } from "../worker/request.ts";
import {
  MAX_CREDIT,
  MAX_WAIT_SECONDS,
  type SubscriberFrame,
  SubscriberFrameSchema,
} from "../worker/schemas.ts";
import { ackMessages, extendLeases, nackMessages, receiveMessages } from "../worker/service.ts";
import { isOverloaded, SHED_RETRY_AFTER_SECONDS } from "../worker/shed.ts";

/** The header the router forwards a checked subscription's setup in. */
export const SETUP_HEADER = "Sluice-Subscription";

/** Who subscribed: the admin token, or an API key named by id so a revocation is seen. */
export type SubscriberIdentity = { kind: "admin" } | { kind: "key"; id: string };

export interface SubscriptionSetup {
  queue: string;
  subscriber: SubscriberIdentity;
  visibilityTimeout?: number;
}

/** The socket's attachment: what survives hibernation. */
interface SocketState extends SubscriptionSetup {
  /** Messages the client may still be sent. */
  credit: number;
}

type ServerFrame = Record<string, unknown> & { type: string };

/** A close reason is at most 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_CHARS = 120;

export class Subscription extends DurableObject<Env> {
  /** Set while the loop that fills the client's credit runs. */
  #filling = false;

  /** Accepts the WebSocket of a subscription the router has checked (routes/subscribe.ts). */
  override async fetch(request: Request): Promise<Response> {
    const setup: SubscriptionSetup = JSON.parse(request.headers.get(SETUP_HEADER) ?? "null");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ ...setup, credit: 0 } satisfies SocketState);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(socket: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const frame = parseFrame(data);
    if ("detail" in frame) {
      send(socket, { type: "error", code: "invalid_frame", detail: frame.detail });
      return;
    }
    if (frame.type === "credit") {
      const state = stateOf(socket);
      socket.serializeAttachment({
        ...state,
        credit: Math.min(MAX_CREDIT, state.credit + frame.n),
      });
      // Runs in this event, which keeps the object awake while there is credit to fill.
      await this.#fill(socket);
      return;
    }
    await this.#settle(socket, frame);
  }

  /**
   * Completes the closing handshake (a no-op where the runtime has answered it already).
   * Nothing else to release: a fill in progress stops at its next look at the socket, and
   * the leases taken for this socket end on their own, which makes their messages visible.
   */
  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    // 1005, 1006 and 1015 report what happened; they may not be sent in a close frame.
    socket.close([1005, 1006, 1015].includes(code) ? 1000 : code, reason);
  }

  /**
   * Leases up to the credit left and sends what it got, until the credit is used or the
   * socket closes. Messages leased for a socket that closed meanwhile are not sent: their
   * leases end and they are delivered again.
   */
  async #fill(socket: WebSocket): Promise<void> {
    if (this.#filling) return;
    this.#filling = true;
    try {
      for (;;) {
        const state = stateOf(socket);
        if (state.credit <= 0 || socket.readyState !== WebSocket.OPEN) return;
        const principal = await this.#principal(socket, state);
        if (principal === null) return;
        let answer: Awaited<ReturnType<typeof receiveMessages>>;
        try {
          answer = await receiveMessages(this.env, principal, state.queue, {
            max: Math.min(state.credit, MAX_BATCH),
            wait: MAX_WAIT_SECONDS,
            visibilityTimeout: state.visibilityTimeout,
          });
        } catch (error) {
          if (!isOverloaded(error)) throw error;
          await scheduler.wait(SHED_RETRY_AFTER_SECONDS * 1000);
          continue;
        }
        if (!answer.ok) {
          closeWithRefusal(socket, answer);
          return;
        }
        if (answer.messages.length === 0 || socket.readyState !== WebSocket.OPEN) continue;
        send(socket, { type: "messages", messages: answer.messages });
        // Credit granted while the lease was being taken is in the latest attachment.
        const latest = stateOf(socket);
        socket.serializeAttachment({ ...latest, credit: latest.credit - answer.messages.length });
      }
    } catch (error) {
      console.error(`Subscription ${stateOf(socket).queue}: delivery failed`, error);
      send(socket, { type: "error", code: "internal", detail: "an unexpected error; reconnect" });
      socket.close(1011, "internal error");
    } finally {
      this.#filling = false;
    }
  }

  /** Acks, nacks or extends through the service layer and answers with its outcome. */
  async #settle(socket: WebSocket, frame: Exclude<SubscriberFrame, { type: "credit" }>) {
    const state = stateOf(socket);
    const principal = await this.#principal(socket, state);
    if (principal === null) return;
    const { env } = this;
    const { type, id, receipts } = frame;
    const outcome =
      frame.type === "ack"
        ? await ackMessages(env, principal, state.queue, receipts)
        : frame.type === "nack"
          ? await nackMessages(env, principal, state.queue, receipts, {
              delaySeconds: frame.delaySeconds,
              reason: frame.reason,
            })
          : await extendLeases(env, principal, state.queue, receipts, frame.visibilityTimeout);
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
  async #principal(socket: WebSocket, state: SocketState): Promise<Principal | null> {
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

function stateOf(socket: WebSocket): SocketState {
  return socket.deserializeAttachment() as SocketState;
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
