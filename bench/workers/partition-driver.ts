/**
 * The partition alone: concurrent senders inside workerd call one partition's `send` over
 * RPC, with no HTTP and no router in the way, with and without group commit. Separates what
 * the object costs (and what group commit buys it) from what the front path costs.
 */
import type { NewMessage, PartitionContext } from "../../core/contract.ts";
import { DEFAULT_QUEUE_CONFIG } from "../../core/queue-config.ts";
import type { Partition } from "../../durable-objects/partition.ts";

export { Partition } from "../../durable-objects/partition.ts";
export { NaivePartition } from "./naive.ts";

interface DriverEnv {
  PARTITION: DurableObjectNamespace<Partition>;
  NAIVE_PARTITION: DurableObjectNamespace<Partition>;
}

interface Drive {
  groupCommit: boolean;
  senders: number;
  /** Messages per send. */
  batch: number;
  durationMs: number;
}

export default {
  async fetch(request, env) {
    const drive = (await request.json()) as Drive;
    const namespace = drive.groupCommit ? env.PARTITION : env.NAIVE_PARTITION;
    // A fresh partition each time, so no run inherits another's backlog.
    const queue = `drive-${crypto.randomUUID()}`;
    const partition = namespace.getByName(`${queue}/0`);
    const context: PartitionContext = {
      queue,
      partition: 0,
      config: { ...DEFAULT_QUEUE_CONFIG, ordering: "unordered" },
      configVersion: 1,
    };
    const message: NewMessage = {
      body: JSON.stringify({ pad: "x".repeat(1012) }),
      contentType: "application/json",
      headers: {},
    };
    const batch = Array.from({ length: drive.batch }, () => message);
    let sent = 0;
    const start = Date.now();
    const sender = async () => {
      while (Date.now() - start < drive.durationMs) {
        const outcome = await partition.send(context, batch);
        if (outcome.ok) sent += batch.length;
      }
    };
    await Promise.all(Array.from({ length: drive.senders }, sender));
    const elapsedMs = Date.now() - start;
    const transactions = await partition.sendTransactions;
    return Response.json({ sent, sends: sent / drive.batch, elapsedMs, transactions });
  },
} satisfies ExportedHandler<DriverEnv>;
