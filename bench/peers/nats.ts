/**
 * NATS JetStream: a file-stored stream with work-queue retention (a message is deleted once
 * acked), one durable pull consumer with explicit acks shared by all consumers. A publish
 * counts once JetStream answered with its PubAck (stored; nats-server 2.9 writes to the OS
 * and syncs to disk periodically, not per message).
 */
import {
  AckPolicy,
  type ConsumerMessages,
  connect,
  type JetStreamClient,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import type { BenchBody } from "../load/body.ts";
import type { Consumers, Driver, SendResult } from "../load/driver.ts";
import { type Server, startServer } from "./server.ts";

const PORT = 34222;
const CONSUMER = "work";
/** Messages one consumer pulls at a time: the same credit Sluice consumers ask for. */
const PULL_BATCH = 100;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function startNats(): Promise<Server> {
  return startServer({
    name: "nats",
    command: "nats-server",
    args: (dir) => ["-a", "127.0.0.1", "-p", String(PORT), "-js", "-sd", dir],
    port: PORT,
  });
}

export class NatsDriver implements Driver {
  readonly #connection: NatsConnection;
  readonly #jetstream: JetStreamClient;
  /** The stream, and the subject it stores. */
  readonly #stream: string;

  private constructor(connection: NatsConnection, stream: string) {
    this.#connection = connection;
    this.#jetstream = connection.jetstream();
    this.#stream = stream;
  }

  static async open(stream: string): Promise<NatsDriver> {
    const connection = await connect({ servers: `127.0.0.1:${PORT}` });
    const manager = await connection.jetstreamManager();
    const streams = await manager.streams.names().next();
    if (!streams.includes(stream)) {
      await manager.streams.add({
        name: stream,
        subjects: [stream],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
      });
      await manager.consumers.add(stream, {
        durable_name: CONSUMER,
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: -1,
      });
    }
    return new NatsDriver(connection, stream);
  }

  async send(bodies: BenchBody[]): Promise<SendResult> {
    try {
      await Promise.all(
        bodies.map((body) =>
          this.#jetstream.publish(this.#stream, encoder.encode(JSON.stringify(body))),
        ),
      );
      return { kind: "ok", accepted: bodies.length };
    } catch (error) {
      return { kind: "error", status: String(error) };
    }
  }

  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers {
    const subscriptions: ConsumerMessages[] = [];
    let stopping = false;
    const loops = Array.from({ length: count }, async () => {
      const consumer = await this.#jetstream.consumers.get(this.#stream, CONSUMER);
      const messages = await consumer.consume({ max_messages: PULL_BATCH });
      subscriptions.push(messages);
      if (stopping) messages.stop();
      for await (const message of messages) {
        onMessages([JSON.parse(decoder.decode(message.data))], performance.now());
        message.ack();
      }
    });
    return {
      stop: async () => {
        stopping = true;
        // Let the last acks leave before the subscriptions close.
        await this.#connection.flush();
        for (const messages of subscriptions) messages.stop();
        await Promise.all(loops);
      },
    };
  }

  async depth(): Promise<number | null> {
    const manager = await this.#connection.jetstreamManager();
    const info = await manager.streams.info(this.#stream);
    return info.state.messages;
  }

  async close(): Promise<void> {
    await this.#connection.drain();
  }
}
