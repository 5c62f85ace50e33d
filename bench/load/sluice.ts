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
}

interface ReceivedMessage {
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
    const payload =
      bodies.length === 1 ? { body: bodies[0] } : { messages: bodies.map((body) => ({ body })) };
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

  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers {
    let running = true;
    const consume = async () => {
      while (running) {
        const messages = await this.#receive();
        if (messages.length === 0) continue;
        onMessages(
          messages.map((message) => message.body),
          performance.now(),
        );
        await this.#post(this.#paths.ack, { receipts: messages.map((m) => m.receipt) });
      }
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

  async #receive(): Promise<ReceivedMessage[]> {
    const answer = await this.#post(this.#paths.receive, {
      max: this.#target.receiveMax,
      wait: RECEIVE_WAIT_SECONDS,
    });
    return (answer as { messages?: ReceivedMessage[] } | null)?.messages ?? [];
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
