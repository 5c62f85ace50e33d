/**
 * The object that holds a WebSocket consumer's socket, one per connection, through the
 * hibernation API. Only what must live where the socket lives is here: accepting the socket,
 * the attachment hibernation keeps for it (the door's setup and the credit left), and the loop
 * that fills that credit. What a client may rely on: the messages sent never outnumber the
 * credit granted.
 *
 * What the frames mean, who the subscriber is and where the messages come from belong to the
 * WebSocket door (worker/doors/websocket.ts), whose `Subscription` class extends this one
 * (docs/architecture.md, "Layers"). The object stays awake only while it has credit to fill.
 */
import { DurableObject } from "cloudflare:workers";
import { MAX_BATCH } from "../core/contract.ts";

/** The header the Worker forwards a checked subscription's setup in. */
export const SETUP_HEADER = "Sluice-Subscription";

/** The most credit a socket holds at once; a grant beyond it is capped. */
export const MAX_CREDIT = 1000;

/** The socket's attachment: the door's setup and the messages the client may still be sent. */
export type SocketState<Setup> = Setup & { credit: number };

export abstract class SubscriptionSocket<Setup extends object> extends DurableObject<Env> {
  /** Set while the loop that fills the client's credit runs. */
  #filling = false;

  /** Accepts the WebSocket of a subscription the Worker has checked. */
  override async fetch(request: Request): Promise<Response> {
    const setup: Setup = JSON.parse(request.headers.get(SETUP_HEADER) ?? "null");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ ...setup, credit: 0 } satisfies SocketState<Setup>);
    return new Response(null, { status: 101, webSocket: client });
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
   * Leases up to `max` messages for the socket and sends them. Answers how many it sent (each
   * uses a credit), or null to stop filling (the door closed the socket).
   */
  protected abstract deliver(
    socket: WebSocket,
    state: SocketState<Setup>,
    max: number,
  ): Promise<number | null>;

  protected stateOf(socket: WebSocket): SocketState<Setup> {
    return socket.deserializeAttachment() as SocketState<Setup>;
  }

  /**
   * Adds `n` to the socket's credit (at most `MAX_CREDIT` in all) and fills it. It runs in the
   * event of the frame that granted it, which keeps the object awake while there is credit.
   */
  protected async grant(socket: WebSocket, n: number): Promise<void> {
    const state = this.stateOf(socket);
    socket.serializeAttachment({ ...state, credit: Math.min(MAX_CREDIT, state.credit + n) });
    await this.#fill(socket);
  }

  /**
   * Delivers until the credit is used or the socket closes. Messages leased for a socket that
   * closed meanwhile are not sent: their leases end and they are delivered again.
   */
  async #fill(socket: WebSocket): Promise<void> {
    if (this.#filling) return;
    this.#filling = true;
    try {
      for (;;) {
        const state = this.stateOf(socket);
        if (state.credit <= 0 || socket.readyState !== WebSocket.OPEN) return;
        const sent = await this.deliver(socket, state, Math.min(state.credit, MAX_BATCH));
        if (sent === null) return;
        // Credit granted while the lease was being taken is in the latest attachment.
        const latest = this.stateOf(socket);
        socket.serializeAttachment({ ...latest, credit: latest.credit - sent });
      }
    } finally {
      this.#filling = false;
    }
  }
}
