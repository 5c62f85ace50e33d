/**
 * RabbitMQ: a classic durable queue, persistent messages, publisher confirms (a send counts
 * once the broker confirmed it, i.e. wrote it to disk), manual acks with a prefetch of 100.
 */

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ChannelModel, type ConfirmChannel, connect } from "amqplib";
import type { BenchBody } from "../load/body.ts";
import type { Consumers, Driver, SendResult } from "../load/driver.ts";
import { type Server, startServer } from "./server.ts";

/** The server script of Debian's rabbitmq-server package. */
export const RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const PORT = 35672;
const DIST_PORT = 35673;
const EPMD_PORT = "34369";
export const RABBITMQ_URL = `amqp://guest:guest@127.0.0.1:${PORT}`;
/** Unacked messages a consumer may hold: the same credit Sluice consumers ask for. */
const PREFETCH = 100;

export function startRabbitMQ(): Promise<Server> {
  return startServer({
    name: "rabbitmq",
    command: RABBITMQ_SERVER,
    args: () => [],
    env: (dir) => {
      writeFileSync(join(dir, "enabled_plugins"), "[].\n");
      return {
        HOME: dir,
        RABBITMQ_NODENAME: "sluicebench@localhost",
        RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
        RABBITMQ_NODE_PORT: String(PORT),
        RABBITMQ_DIST_PORT: String(DIST_PORT),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
        ERL_EPMD_PORT: EPMD_PORT,
        ERL_EPMD_ADDRESS: "127.0.0.1",
        RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
        RABBITMQ_LOG_BASE: join(dir, "log"),
        RABBITMQ_LOGS: "-",
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
        RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"),
        RABBITMQ_PID_FILE: join(dir, "pid"),
      };
    },
    port: PORT,
    // Erlang starts a port-mapper daemon outside the process group; end ours (by its port).
    afterStop: () => {
      spawnSync("epmd", ["-kill"], { env: { ...process.env, ERL_EPMD_PORT: EPMD_PORT } });
    },
  });
}

export class RabbitMQDriver implements Driver {
  readonly #connection: ChannelModel;
  readonly #queue: string;
  /** One confirm channel per concurrent sender, handed out round-robin. */
  readonly #publishers: ConfirmChannel[];
  #nextPublisher = 0;

  private constructor(connection: ChannelModel, queue: string, publishers: ConfirmChannel[]) {
    this.#connection = connection;
    this.#queue = queue;
    this.#publishers = publishers;
  }

  static async open(options: { queue: string; publishers: number }): Promise<RabbitMQDriver> {
    const connection = await connect(RABBITMQ_URL);
    const publishers = await Promise.all(
      Array.from({ length: options.publishers }, () => connection.createConfirmChannel()),
    );
    await publishers[0].assertQueue(options.queue, { durable: true });
    return new RabbitMQDriver(connection, options.queue, publishers);
  }

  async send(bodies: BenchBody[]): Promise<SendResult> {
    const channel = this.#publishers[this.#nextPublisher++ % this.#publishers.length];
    try {
      await Promise.all(
        bodies.map(
          (body) =>
            new Promise<void>((resolve, reject) => {
              channel.sendToQueue(
                this.#queue,
                Buffer.from(JSON.stringify(body)),
                { persistent: true },
                (error) => (error ? reject(error) : resolve()),
              );
            }),
        ),
      );
      return { kind: "ok", accepted: bodies.length };
    } catch (error) {
      return { kind: "error", status: String(error) };
    }
  }

  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers {
    const started = Array.from({ length: count }, async () => {
      const channel = await this.#connection.createChannel();
      await channel.prefetch(PREFETCH);
      const { consumerTag } = await channel.consume(
        this.#queue,
        (message) => {
          if (message === null) return;
          onMessages([JSON.parse(message.content.toString())], performance.now());
          channel.ack(message);
        },
        { noAck: false },
      );
      return { channel, consumerTag };
    });
    return {
      stop: async () => {
        for (const consumer of await Promise.all(started)) {
          await consumer.channel.cancel(consumer.consumerTag);
          await consumer.channel.close();
        }
      },
    };
  }

  async depth(): Promise<number | null> {
    const { messageCount } = await this.#publishers[0].checkQueue(this.#queue);
    return messageCount;
  }

  async close(): Promise<void> {
    await this.#connection.close();
  }
}
