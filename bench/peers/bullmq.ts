/**
 * Redis with BullMQ: append-only file on, fsync once a second (`appendfsync everysec`, the
 * setting Redis recommends), so a confirmed add may lose up to a second on a power cut.
 * A job is done when its worker's processor returns: BullMQ's ack.
 */
import { Queue, Worker } from "bullmq";
import type { BenchBody } from "../load/body.ts";
import type { Consumers, Driver, SendResult } from "../load/driver.ts";
import { type Server, startServer } from "./server.ts";

const PORT = 36379;
/** Jobs one worker may hold at once: the same credit Sluice consumers ask for. */
const CONCURRENCY = 100;
const connection = { host: "127.0.0.1", port: PORT };
const jobOptions = { removeOnComplete: true, removeOnFail: true };

export function startRedis(): Promise<Server> {
  return startServer({
    name: "redis",
    command: "redis-server",
    args: (dir) => [
      "--port",
      String(PORT),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--maxmemory-policy",
      "noeviction",
    ],
    port: PORT,
  });
}

export class BullMQDriver implements Driver {
  readonly #queue: Queue<BenchBody>;

  constructor(queue: string) {
    this.#queue = new Queue<BenchBody>(queue, { connection });
  }

  async send(bodies: BenchBody[]): Promise<SendResult> {
    try {
      if (bodies.length === 1) await this.#queue.add("message", bodies[0], jobOptions);
      else {
        await this.#queue.addBulk(
          bodies.map((data) => ({ name: "message", data, opts: jobOptions })),
        );
      }
      return { kind: "ok", accepted: bodies.length };
    } catch (error) {
      return { kind: "error", status: String(error) };
    }
  }

  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers {
    const workers = Array.from(
      { length: count },
      () =>
        new Worker<BenchBody>(
          this.#queue.name,
          async (job) => {
            onMessages([job.data], performance.now());
          },
          { connection, concurrency: CONCURRENCY },
        ),
    );
    return {
      stop: async () => {
        await Promise.all(workers.map((worker) => worker.close()));
      },
    };
  }

  async depth(): Promise<number | null> {
    const counts = await this.#queue.getJobCounts("waiting", "active", "delayed", "prioritized");
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  }

  async close(): Promise<void> {
    await this.#queue.close();
  }
}
