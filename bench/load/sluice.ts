/** Sluice over its HTTP API v1, as any client sees it (keep-alive connections, Bearer token). */
import { Pool } from "undici";
import type { BenchBody } from "./body.ts";
import type { Consumers, Driver, SendResult } from "./driver.ts";

export interface SluiceTarget {
  origin: string;
  token: string;
  queue: string;
  /** Messages asked for per receive call. */
  receiveMax: number;
  /** Every message carries a dedupId of its own (a UUID). */
  dedup?: boolean;
}

export interface ReceivedMessage {
  receipt: string;
  body: BenchBody;
}

/** Long-poll length of consumers, in seconds: short, so stopping never waits long. */
const RECEIVE_WAIT_SECONDS = 1;

export class SluiceDriver implements Driver {
  readonly #target: SluiceTarget;
  readonly #paths: { messages: string; receive: string; ack: string; queue: string };
  readonly #headers: Record<string, string>;
  /** Producers and consumers get separate connections, so long polls never queue sends. */
  readonly #producers: Pool;
  readonly #consumers: Pool;
  /** HTTP requests made, by kind: each is one Worker request on Cloudflare's bill. */
  readonly requests = { send: 0, receive: 0, ack: 0, other: 0 };

  constructor(target: SluiceTarget) {
    this.#target = target;
    const queue = `/v1/queues/${encodeURIComponent(target.queue)}`;
    this.#paths = {
      queue,
      messages: `${queue}/messages`,
      receive: `${queue}/receive`,
      ack: `${queue}/ack`,
    };
    this.#headers = {
      authorization: `Bearer ${target.token}`,
      "content-type": "application/json",
    };
    this.#producers = new Pool(target.origin, { connections: 128 });
    this.#consumers = new Pool(target.origin, { connections: 32 });
  }

  async send(bodies: BenchBody[]): Promise<SendResult> {
    const message = (body: BenchBody) =>
      this.#target.dedup ? { body, dedupId: crypto.randomUUID() } : { body };
    const payload = bodies.length === 1 ? message(bodies[0]) : { messages: bodies.map(message) };
    this.requests.send++;
    try {
      const answer = await this.#producers.request({
        path: this.#paths.messages,
        method: "POST",
        headers: this.#headers,
        body: JSON.stringify(payload),
      });
      await answer.body.dump();
      if (answer.statusCode === 201 || answer.statusCode === 200) {
        return { kind: "ok", accepted: bodies.length };
      }
      if (answer.statusCode === 429 || answer.statusCode === 503) {
        return { kind: "shed", status: answer.statusCode };
      }
      return { kind: "error", status: answer.statusCode };
    } catch (error) {
      return { kind: "error", status: (error as Error).name };
    }
  }

  /**
   * Consumer loops as the API is meant to be used at speed: each receive carries the acks of
   * the loop's last one (`ack` on receive), one request a cycle; the last are acked on stop.
   */
  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers {
    let running = true;
    const consume = async () => {
      let unacked: ReceivedMessage[] = [];
      while (running) {
        const { messages, answered } = await this.receive(this.#target.receiveMax, unacked);
        // A refused receive acked nothing: what it carried goes in an ack call (never shed).
        if (!answered && unacked.length > 0) await this.ack(unacked);
        unacked = [];
        if (messages.length === 0) continue;
        onMessages(
          messages.map((message) => message.body),
          performance.now(),
        );
        unacked = messages;
      }
      if (unacked.length > 0) await this.ack(unacked);
    };
    const loops = Array.from({ length: count }, consume);
    return {
      stop: async () => {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  async depth(): Promise<number | null> {
    this.requests.other++;
    const answer = await this.#consumers.request({
      path: this.#paths.queue,
      method: "GET",
      headers: this.#headers,
    });
    if (answer.statusCode !== 200) {
      await answer.body.dump();
      return null;
    }
    const { stats } = (await answer.body.json()) as {
      stats: { ready: number; leased: number; delayed: number };
    };
    return stats.ready + stats.leased + stats.delayed;
  }

  async close(): Promise<void> {
    await Promise.all([this.#producers.close(), this.#consumers.close()]);
  }

  /**
   * One receive call (a long poll), acking `ack` first; a refusal or an error reads as nothing
   * received and nothing acked.
   */
  async receive(
    max: number,
    ack: ReceivedMessage[] = [],
  ): Promise<{ messages: ReceivedMessage[]; answered: boolean }> {
    this.requests.receive++;
    const payload = { max, wait: RECEIVE_WAIT_SECONDS };
    const answer = (await this.#post(
      this.#paths.receive,
      ack.length > 0 ? { ...payload, ack: ack.map((m) => m.receipt) } : payload,
    )) as { messages: ReceivedMessage[] } | null;
    return { messages: answer?.messages ?? [], answered: answer !== null };
  }

  /** Acks the messages in one call; returns how many the queue acked (0 when refused). */
  async ack(messages: ReceivedMessage[]): Promise<number> {
    this.requests.ack++;
    const answer = await this.#post(this.#paths.ack, { receipts: messages.map((m) => m.receipt) });
    return (answer as { acked?: number } | null)?.acked ?? 0;
  }

  /** A consumer's call; a refusal (shed, error) counts as an empty answer after a short pause. */
  async #post(path: string, payload: unknown): Promise<unknown> {
    try {
      const answer = await this.#consumers.request({
        path,
        method: "POST",
        headers: this.#headers,
        body: JSON.stringify(payload),
      });
      if (answer.statusCode === 200) return await answer.body.json();
      await answer.body.dump();
    } catch {
      // Counted as nothing received; the loop asks again.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    return null;
  }
}
