/**
 * The partition alone: concurrent senders inside workerd call one partition's `send` over
 * RPC, with no HTTP and no router in the way, with and without group commit. Separates what
 * the object costs (and what group commit buys it) from what the front path costs.
 */
import { DurableObject } from "cloudflare:workers";
import type {
  NewMessage,
  PartitionContext,
  PartitionStats,
  SendOutcome,
} from "../../core/contract.ts";
import { DEFAULT_QUEUE_CONFIG } from "../../core/queue-config.ts";
import type { CommitPolicy } from "../../durable-objects/partition/group-commit.ts";
import { GROUP_COMMIT, type Work } from "../../durable-objects/partition/rounds.ts";
import { Partition as Deployed } from "../../durable-objects/partition.ts";
import { oneSendPerRound } from "./naive.ts";

/** A partition that counts its commit rounds (storage transactions written for sends). */
class CountingPartition extends Deployed {
  #rounds = 0;

  constructor(ctx: DurableObjectState, env: Env, policy: CommitPolicy<Work>) {
    super(ctx, env, {
      ...policy,
      take: (waiting) => {
        this.#rounds++;
        return policy.take(waiting);
      },
    });
  }

  get rounds(): number {
    return this.#rounds;
  }
}

/** The deployed partition, counting rounds. */
export class Partition extends CountingPartition {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, GROUP_COMMIT);
  }
}

/** The naive baseline (naive.ts): one send per round, counting rounds. */
export class NaivePartition extends CountingPartition {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, oneSendPerRound);
  }
}

/**
 * The floor under "the partition alone": an object whose `send` takes the same arguments and
 * answers an outcome of the same shape, doing no work and storing nothing. Its rate is what
 * the RPC calls themselves allow on this runtime.
 */
export class RpcFloor extends DurableObject {
  readonly #stats: PartitionStats = {
    partition: 0,
    ready: 1,
    leased: 0,
    delayed: 0,
    backlogBytes: 1024,
    oldestSentAt: 0,
    deadLettered: 0,
    pendingDeadLetters: 0,
    sent: 1,
    acked: 0,
    nacked: 0,
    expired: 0,
    flow: { paused: false, pausedUntil: null, pausedKeys: 0, heldKeys: [], inFlightShare: null },
    usage: { requests: 1, statements: 1, rowsRead: 1, rowsWritten: 1 },
  };
  #seq = 0;

  async send(_context: PartitionContext, messages: NewMessage[]): Promise<SendOutcome> {
    const sent = messages.map(() => ({
      id: crypto.randomUUID(),
      seq: ++this.#seq,
      duplicate: false,
    }));
    return { ok: true, messages: sent, backpressure: false, stats: this.#stats };
  }

  get rounds(): number {
    return 0;
  }
}

interface DriverEnv {
  PARTITION: DurableObjectNamespace<CountingPartition>;
  NAIVE_PARTITION: DurableObjectNamespace<CountingPartition>;
  RPC_FLOOR: DurableObjectNamespace<RpcFloor>;
}

interface Drive {
  groupCommit: boolean;
  /** Call the RpcFloor instead of a partition. */
  floor?: boolean;
  senders: number;
  /** Messages per send. */
  batch: number;
  durationMs: number;
}

export default {
  async fetch(request, env) {
    const drive = (await request.json()) as Drive;
    const namespace = drive.floor
      ? env.RPC_FLOOR
      : drive.groupCommit
        ? env.PARTITION
        : env.NAIVE_PARTITION;
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
