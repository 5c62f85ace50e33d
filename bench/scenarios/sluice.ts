/** Sluice's scenarios and the baselines that explain them, all in one workerd. */
import type { Bench } from "../bench.ts";
import type { Target } from "../load/main.ts";
import type {
  BurstSummary,
  DrainSummary,
  EndToEndSummary,
  SendResultSummary,
} from "../load/workloads.ts";
import { treeCpuSeconds } from "../machine.ts";
import { ADMIN_TOKEN, type Runtime } from "../runtime.ts";

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

export async function runSluiceScenarios(bench: Bench, runtime: Runtime): Promise<void> {
  const { plan } = bench;
  const pid = runtime.workerdPid;
  const { sluice, naive, hello, rawSqlite } = runtime.origins;
  const target = (origin: string, queue: string): Target => ({
    system: "sluice",
    origin,
    token: ADMIN_TOKEN,
    queue,
    receiveMax: plan.receiveMax,
  });
  const singleSends = {
    senders: plan.singleSenders,
    batch: 1,
    warmupMs: plan.warmupMs,
    durationMs: plan.durationMs,
  };
  const batchedSends = { ...singleSends, senders: plan.batchSenders, batch: plan.batch };
  /** Compared scenarios run in turns, each turn shorter. */
  const inTurns = (options: typeof singleSends) => ({ ...options, durationMs: plan.roundMs });
  const singleSetup = `${plan.singleSenders} senders × 1 message`;
  const batchSetup = `${plan.batchSenders} senders × ${plan.batch} messages`;
  const unordered = (partitions: number) => ({ partitions, ordering: "unordered" });

  const send = async (
    queueTarget: Target,
    options: typeof singleSends,
    unit: "msg/s" | "req/s" = "msg/s",
  ) => {
    const { result, cpu } = await bench.job<SendResultSummary>(
      { target: queueTarget, workload: { kind: "send", options } },
      pid,
    );
    if (result.messages === 0) {
      throw new Error(`nothing accepted: ${JSON.stringify(result.refused)}`);
    }
    return {
      rate: unit === "req/s" ? result.requestRate : result.rate,
      latency: result.latency,
      cpu,
      detail: result,
    };
  };

  // Group commit, through the whole front path and at the object alone, and the runtime's
  // own request ceiling, in turns.
  await bench.compare(
    [
      {
        describe: {
          id: "hello/single",
          system: "hello-world Worker",
          kind: "ceiling",
          scenario: "requests",
          setup: `${plan.singleSenders} connections, 1 KiB POST`,
          unit: "req/s",
        },
        measure: () => send(target(hello, "hello"), inTurns(singleSends), "req/s"),
      },
      {
        describe: {
          id: "sluice/single/1p",
          system: "Sluice",
          kind: "produce",
          scenario: "single-message sends",
          setup: `${singleSetup}, 1 partition`,
          unit: "msg/s",
        },
        prepare: () => createQueue(sluice, "single-1p", unordered(1)),
        measure: () => send(target(sluice, "single-1p"), inTurns(singleSends)),
      },
      {
        describe: {
          id: "naive/single/1p",
          system: "Sluice, naive partition",
          kind: "produce",
          scenario: "single-message sends",
          setup: `${singleSetup}, 1 partition, group commit off`,
          unit: "msg/s",
        },
        prepare: () => createQueue(naive, "single-1p", unordered(1)),
        measure: () => send(target(naive, "single-1p"), inTurns(singleSends)),
      },
      {
        describe: {
          id: "front-floor/single",
          system: "front floor",
          kind: "ceiling",
          scenario: "single-message sends to an object that stores nothing",
          setup: `${singleSetup}, a minimal front Worker reads and parses each and calls one Durable Object over RPC, which stores nothing`,
          unit: "msg/s",
        },
        // workers/raw-sqlite.ts sends the queue FRONT_FLOOR's messages to its object's `take`.
        measure: () => send(target(rawSqlite, "front-floor"), inTurns(singleSends)),
      },
      {
        describe: {
          id: "rpc-floor/single",
          system: "RPC floor",
          kind: "ceiling",
          scenario: "single-message calls to an object that does nothing",
          setup: `${plan.singleSenders} senders inside workerd calling send() over RPC on an object that stores nothing and answers an outcome of the same shape`,
          unit: "msg/s",
        },
        measure: () =>
          driveOnePartition(runtime, {
            groupCommit: true,
            floor: true,
            senders: plan.singleSenders,
            batch: 1,
            durationMs: plan.roundMs,
          }),
      },
      ...[true, false].map((groupCommit) => ({
        describe: {
          id: groupCommit ? "partition/single" : "naive-partition/single",
          system: groupCommit ? ("Sluice" as const) : ("Sluice, naive partition" as const),
          kind: "produce" as const,
          scenario: "single-message sends to the partition alone",
          setup: `${plan.singleSenders} senders inside workerd calling send() on 1 partition over RPC, no HTTP, no router${groupCommit ? "" : ", group commit off"}`,
          unit: "msg/s" as const,
        },
        measure: () =>
          driveOnePartition(runtime, {
            groupCommit,
            senders: plan.singleSenders,
            batch: 1,
            durationMs: plan.roundMs,
          }),
      })),
    ],
    plan.rounds,
  );

  // Batched sends against the storage ceiling.
  await bench.compare(
    [
      {
        describe: {
          id: "sluice/batch/1p",
          system: "Sluice",
          kind: "produce",
          scenario: "batched sends",
          setup: `${batchSetup}, 1 partition`,
          unit: "msg/s",
        },
        prepare: () => createQueue(sluice, "batch-1p", unordered(1)),
        measure: () => send(target(sluice, "batch-1p"), inTurns(batchedSends)),
      },
      {
        describe: {
          id: "naive/batch/1p",
          system: "Sluice, naive partition",
          kind: "produce",
          scenario: "batched sends",
          setup: `${batchSetup}, 1 partition, group commit off`,
          unit: "msg/s",
        },
        prepare: () => createQueue(naive, "batch-1p", unordered(1)),
        measure: () => send(target(naive, "batch-1p"), inTurns(batchedSends)),
      },
      {
        describe: {
          id: "partition/batch",
          system: "Sluice",
          kind: "produce",
          scenario: "batched sends to the partition alone",
          setup: `${batchSetup} inside workerd calling send() on 1 partition over RPC, no HTTP, no router`,
          unit: "msg/s",
        },
        measure: () =>
          driveOnePartition(runtime, {
            groupCommit: true,
            senders: plan.batchSenders,
            batch: plan.batch,
            durationMs: plan.roundMs,
          }),
      },
      {
        describe: {
          id: "raw-sqlite/loop",
          system: "raw SQLite in a DO",
          kind: "ceiling",
          scenario: "inserts inside the object",
          setup: `1 KiB rows, ${plan.batch} per committed transaction`,
          unit: "msg/s",
        },
        measure: () => insertLoop(runtime, plan.roundMs, plan.batch),
      },
      {
        describe: {
          id: "raw-sqlite/http",
          system: "raw SQLite in a DO",
          kind: "ceiling",
          scenario: "inserts over HTTP",
          setup: `${batchSetup}, minimal front Worker, 1 object`,
          unit: "msg/s",
        },
        measure: () => send(target(rawSqlite, "http"), inTurns(batchedSends)),
      },
    ],
    plan.rounds,
  );

  for (const partitions of plan.partitions.filter((count) => count > 1)) {
    for (const [kind, options, setup] of [
      ["single", singleSends, singleSetup],
      ["batch", batchedSends, batchSetup],
    ] as const) {
      const queue = `${kind}-${partitions}p`;
      await bench.scenario(
        {
          id: `sluice/${kind}/${partitions}p`,
          system: "Sluice",
          kind: "produce",
          scenario: kind === "single" ? "single-message sends" : "batched sends",
          setup: `${setup}, ${plural(partitions, "partition")}`,
          unit: "msg/s",
        },
        async () => {
          await createQueue(sluice, queue, unordered(partitions));
          return send(target(sluice, queue), options);
        },
      );
    }
  }

  for (const partitions of new Set([1, Math.max(...plan.partitions)])) {
    const queue = `drain-${partitions}p`;
    await bench.scenario(
      {
        id: `sluice/drain/${partitions}p`,
        system: "Sluice",
        kind: "consume",
        scenario: "receive + ack, draining a backlog",
        setup: `${plan.consumers} consumers, receive ${plan.receiveMax}, each receive acking the last, ${plan.backlog.toLocaleString("en")} messages, ${plural(partitions, "partition")}`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(sluice, queue, unordered(partitions));
        return drainBacklog(bench, target(sluice, queue), pid);
      },
    );
  }

  await bench.compare(
    [
      {
        describe: {
          id: "sluice/e2e",
          system: "Sluice",
          kind: "latency",
          scenario: "end-to-end latency",
          setup: `${plan.endToEnd.rate.toLocaleString("en")} msg/s offered, single sends, ${plan.consumers} long-polling consumers, 1 partition`,
          unit: "msg/s",
        },
        prepare: () => createQueue(sluice, "e2e", unordered(1)),
        measure: () => endToEnd(bench, target(sluice, "e2e"), pid),
      },
    ],
    plan.endToEnd.rounds,
  );

  const { burst } = plan;
  await bench.scenario(
    {
      id: "sluice/burst",
      system: "Sluice",
      kind: "burst",
      scenario: "burst",
      setup: `${burst.steadyRate.toLocaleString("en")} msg/s, then ${burst.burstRate.toLocaleString("en")} msg/s for ${burst.burstMs / 1000} s, requests of ${burst.batch}; hard backlog ${burst.hardBacklog.toLocaleString("en")}; ${plan.consumers} consumers`,
      unit: "msg/s",
    },
    async () => {
      await createQueue(sluice, "burst", {
        ...unordered(1),
        backlog: { soft: burst.softBacklog, hard: burst.hardBacklog },
      });
      const { result, cpu } = await bench.job<BurstSummary>(
        {
          target: target(sluice, "burst"),
          workload: {
            kind: "burst",
            options: { ...burst, consumers: plan.consumers, sampleMs: 250 },
          },
        },
        pid,
      );
      const accepted = result.phases.burst.accepted;
      return {
        rate: Math.round(accepted / (burst.burstMs / 1000)),
        latency: null,
        cpu,
        detail: result,
      };
    },
  );
}

/** The storage ceiling, measured inside the object (bench/workers/raw-sqlite.ts). */
async function insertLoop(runtime: Runtime, durationMs: number, batch: number) {
  const before = treeCpuSeconds(runtime.workerdPid);
  const start = performance.now();
  const answer = await fetch(`${runtime.origins.rawSqlite}/loop`, {
    method: "POST",
    body: JSON.stringify({ durationMs, batch }),
  });
  const result = (await answer.json()) as { rows: number; transactions: number; elapsedMs: number };
  const seconds = (performance.now() - start) / 1000;
  return {
    rate: Math.round((result.rows * 1000) / result.elapsedMs),
    latency: null,
    cpu: {
      server: Math.round(((treeCpuSeconds(runtime.workerdPid) - before) / seconds) * 100),
      load: 0,
    },
    detail: result,
  };
}

/** Fills a backlog with batched sends, then measures draining it. */
export async function drainBacklog(bench: Bench, queueTarget: Target, pid: number) {
  const { plan } = bench;
  const filled = await bench.job<{ messages: number; rate: number }>(
    {
      target: queueTarget,
      workload: {
        kind: "fill",
        options: { senders: plan.batchSenders, batch: plan.batch, count: plan.backlog },
      },
    },
    pid,
  );
  const { result, cpu } = await bench.job<DrainSummary>(
    {
      target: queueTarget,
      workload: {
        kind: "drain",
        options: {
          consumers: plan.consumers,
          expected: plan.backlog,
          timeoutMs: plan.drainTimeoutMs,
        },
      },
    },
    pid,
  );
  if (result.messages < plan.backlog) {
    throw new Error(
      `drained ${result.messages} of ${plan.backlog} messages in ${result.elapsedMs} ms`,
    );
  }
  return {
    rate: result.rate,
    latency: null,
    cpu,
    detail: { ...result, fillRate: filled.result.rate },
  };
}

export async function endToEnd(bench: Bench, queueTarget: Target, pid: number) {
  const { plan } = bench;
  const { rate, warmupMs, durationMs } = plan.endToEnd;
  const { result, cpu } = await bench.job<EndToEndSummary>(
    {
      target: queueTarget,
      workload: {
        kind: "endToEnd",
        options: { rate, warmupMs, durationMs, consumers: plan.consumers },
      },
    },
    pid,
  );
  if (result.received < result.sent) {
    throw new Error(`received ${result.received} of ${result.sent} messages sent`);
  }
  return {
    rate: Math.round(result.received / (durationMs / 1000)),
    latency: result.latency,
    cpu,
    detail: result,
  };
}

/** Senders inside workerd call one fresh partition directly (bench/workers/partition-driver.ts). */
async function driveOnePartition(
  runtime: Runtime,
  drive: {
    groupCommit: boolean;
    floor?: boolean;
    senders: number;
    batch: number;
    durationMs: number;
  },
) {
  const before = treeCpuSeconds(runtime.workerdPid);
  const start = performance.now();
  const answer = await fetch(runtime.origins.partitionDriver, {
    method: "POST",
    body: JSON.stringify(drive),
  });
  if (!answer.ok) {
    throw new Error(`partition driver answered ${answer.status}: ${await answer.text()}`);
  }
  const result = (await answer.json()) as {
    sent: number;
    sends: number;
    elapsedMs: number;
    transactions: number;
  };
  const seconds = (performance.now() - start) / 1000;
  const serverCpuSeconds = treeCpuSeconds(runtime.workerdPid) - before;
  return {
    rate: Math.round((result.sent * 1000) / result.elapsedMs),
    latency: null,
    cpu: { server: Math.round((serverCpuSeconds / seconds) * 100), load: 0 },
    detail: {
      ...result,
      serverCpuSeconds,
      // The RPC floor writes nothing: it has no transactions to divide by.
      ...(result.transactions > 0
        ? { sendsPerTransaction: Math.round((result.sends / result.transactions) * 10) / 10 }
        : {}),
    },
  };
}

/** PUT /v1/queues/:q, failing loudly with the problem the router answered. */
export async function createQueue(origin: string, queue: string, config: object): Promise<void> {
  const answer = await fetch(`${origin}/v1/queues/${queue}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  if (answer.status !== 200 && answer.status !== 201) {
    throw new Error(`PUT /v1/queues/${queue} answered ${answer.status}: ${await answer.text()}`);
  }
}
