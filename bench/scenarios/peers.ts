/** The same workloads against RabbitMQ, Redis + BullMQ and NATS JetStream, one broker at a time. */
import { existsSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { Bench, System } from "../bench.ts";
import type { Target } from "../load/main.ts";
import type { SendResultSummary } from "../load/workloads.ts";
import { startRedis } from "../peers/bullmq.ts";
import { startNats } from "../peers/nats.ts";
import { RABBITMQ_SERVER, startRabbitMQ } from "../peers/rabbitmq.ts";
import type { Server } from "../peers/server.ts";
import { drainBacklog, endToEnd } from "./sluice.ts";

interface Peer {
  key: "rabbitmq" | "bullmq" | "nats";
  system: System;
  /** The program the peer's start() runs, and the Debian package that has it. */
  command: string;
  debianPackage: string;
  start(): Promise<Server>;
  durability: string;
}

/** A peer that was not measured, and how to get it measured next time. */
export interface Skip {
  system: string;
  reason: string;
  install?: string;
}

export const PEERS: Peer[] = [
  {
    key: "rabbitmq",
    system: "RabbitMQ",
    command: RABBITMQ_SERVER,
    debianPackage: "rabbitmq-server",
    start: startRabbitMQ,
    durability:
      "classic durable queue, persistent messages, publisher confirms (sent once confirmed), manual acks, prefetch 100",
  },
  {
    key: "bullmq",
    system: "Redis + BullMQ",
    command: "redis-server",
    debianPackage: "redis-server",
    start: startRedis,
    durability:
      "appendonly yes, appendfsync everysec (a confirmed add can lose up to 1 s on power loss), removeOnComplete, worker concurrency 100",
  },
  {
    key: "nats",
    system: "NATS JetStream",
    command: "nats-server",
    debianPackage: "nats-server",
    start: startNats,
    durability:
      "file storage, work-queue retention, explicit acks, pull consumer batches of 100; PubAck after the write to the OS, fsync periodic (nats-server 2.9)",
  },
];

/** Whether `command` (a path, or a name looked up on the PATH) exists. */
function installed(command: string): boolean {
  if (isAbsolute(command)) return existsSync(command);
  return (process.env.PATH ?? "").split(delimiter).some((dir) => existsSync(join(dir, command)));
}

/**
 * Measures one peer. A peer that is not installed, or does not start, is skipped: the answer
 * says why (and how to install it), for the results; nothing is measured for it.
 */
export async function runPeerScenarios(bench: Bench, peer: Peer): Promise<Skip | null> {
  const { plan } = bench;
  if (!installed(peer.command)) {
    const install = `sudo apt-get install -y ${peer.debianPackage}`;
    console.log(
      `  ${peer.system}: SKIPPED, ${peer.command} is not installed; install it with: ${install}`,
    );
    return { system: peer.system, reason: `${peer.command} is not installed`, install };
  }
  let server: Server;
  try {
    process.stdout.write(`  ${peer.system}: starting … `);
    server = await peer.start();
    process.stdout.write(`pid ${server.pid}\n`);
  } catch (error) {
    const reason = (error as Error).message.split("\n")[0];
    process.stdout.write(`SKIPPED, it did not start: ${(error as Error).message}\n`);
    return { system: peer.system, reason };
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
  return null;
}
