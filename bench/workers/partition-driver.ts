/**
 * The partition alone: concurrent senders inside workerd call one partition's `send` over
 * RPC, with no HTTP and no router in the way, with and without group commit. Separates what
 * the object costs (and what group commit buys it) from what the front path costs.
 */
import type { NewMessage, PartitionContext } from "../../core/contract.ts";
import { DEFAULT_QUEUE_CONFIG } from "../../core/queue-config.ts";
import { type RoundStrategy, takeAll } from "../../durable-objects/partition/group-commit.ts";
import { Partition as Deployed } from "../../durable-objects/partition.ts";
import { oneSendPerRound } from "./naive.ts";

/** A partition that counts its commit rounds (storage transactions written for sends). */
class CountingPartition extends Deployed {
  #rounds = 0;

  constructor(ctx: DurableObjectState, env: Env, strategy: RoundStrategy) {
    super(ctx, env, (waiting) => {
      this.#rounds++;
      return strategy(waiting);
    });
  }

  get rounds(): number {
    return this.#rounds;
  }
}

/** The deployed partition, counting rounds. */
export class Partition extends CountingPartition {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, takeAll);
  }
}

/** The naive baseline (naive.ts): one send per round, counting rounds. */
export class NaivePartition extends CountingPartition {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, oneSendPerRound);
  }
}

interface DriverEnv {
  PARTITION: DurableObjectNamespace<CountingPartition>;
  NAIVE_PARTITION: DurableObjectNamespace<CountingPartition>;
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
    const transactions = await partition.rounds;
    return Response.json({ sent, sends: sent / drive.batch, elapsedMs, transactions });
  },
} satisfies ExportedHandler<DriverEnv>;
