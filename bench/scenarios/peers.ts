/** The same workloads against RabbitMQ, Redis + BullMQ and NATS JetStream, one broker at a time. */
import type { Bench, System } from "../bench.ts";
import type { Target } from "../load/main.ts";
import type { SendResultSummary } from "../load/workloads.ts";
import { startRedis } from "../peers/bullmq.ts";
import { startNats } from "../peers/nats.ts";
import { startRabbitMQ } from "../peers/rabbitmq.ts";
import type { Server } from "../peers/server.ts";
import { drainBacklog, endToEnd } from "./sluice.ts";

interface Peer {
  key: "rabbitmq" | "bullmq" | "nats";
  system: System;
  start(): Promise<Server>;
  durability: string;
}

export const PEERS: Peer[] = [
  {
    key: "rabbitmq",
    system: "RabbitMQ",
    start: startRabbitMQ,
    durability:
      "classic durable queue, persistent messages, publisher confirms (sent once confirmed), manual acks, prefetch 100",
  },
  {
    key: "bullmq",
    system: "Redis + BullMQ",
    start: startRedis,
    durability:
      "appendonly yes, appendfsync everysec (a confirmed add can lose up to 1 s on power loss), removeOnComplete, worker concurrency 100",
  },
  {
    key: "nats",
    system: "NATS JetStream",
    start: startNats,
    durability:
      "file storage, work-queue retention, explicit acks, pull consumer batches of 100; PubAck after the write to the OS, fsync periodic (nats-server 2.9)",
  },
];

export async function runPeerScenarios(bench: Bench, peer: Peer): Promise<void> {
  const { plan } = bench;
  let server: Server;
  try {
    process.stdout.write(`  ${peer.system}: starting … `);
    server = await peer.start();
    process.stdout.write(`pid ${server.pid}\n`);
  } catch (error) {
    process.stdout.write(`FAILED: ${(error as Error).message}\n`);
    return;
  }
  const target = (queue: string): Target => ({ system: peer.key, queue: `${peer.key}_${queue}` });
  const base = { system: peer.system, unit: "msg/s" as const };
  const sends = async (queue: string, senders: number, batch: number) => {
    const { result, cpu } = await bench.job<SendResultSummary>(
      {
        target: target(queue),
        workload: {
          kind: "send",
          options: { senders, batch, warmupMs: plan.warmupMs, durationMs: plan.durationMs },
        },
      },
      server.pid,
    );
    if (result.messages === 0)
      throw new Error(`nothing accepted: ${JSON.stringify(result.refused)}`);
    return { rate: result.rate, latency: result.latency, cpu, detail: result };
  };
  try {
    await bench.scenario(
      {
        ...base,
        id: `${peer.key}/single`,
        kind: "produce",
        scenario: "single-message sends",
        setup: `${plan.singleSenders} senders × 1 message`,
      },
      () => sends("single", plan.singleSenders, 1),
    );
    await bench.scenario(
      {
        ...base,
        id: `${peer.key}/batch`,
        kind: "produce",
        scenario: "batched sends",
        setup: `${plan.batchSenders} senders × ${plan.batch} messages`,
      },
      () => sends("batch", plan.batchSenders, plan.batch),
    );
    await bench.scenario(
      {
        ...base,
        id: `${peer.key}/drain`,
        kind: "consume",
        scenario: "receive + ack, draining a backlog",
        setup: `${plan.consumers} consumers, ${plan.backlog.toLocaleString("en")} messages`,
      },
      () => drainBacklog(bench, target("drain"), server.pid),
    );
    await bench.compare(
      [
        {
          describe: {
            ...base,
            id: `${peer.key}/e2e`,
            kind: "latency",
            scenario: "end-to-end latency",
            setup: `${plan.endToEnd.rate.toLocaleString("en")} msg/s offered, single sends, ${plan.consumers} consumers`,
          },
          measure: () => endToEnd(bench, target("e2e"), server.pid),
        },
      ],
      plan.endToEnd.rounds,
    );
  } finally {
    await server.stop();
  }
}
