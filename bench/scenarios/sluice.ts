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
  const singleSetup = `${plan.singleSenders} senders × 1 message`;
  const batchSetup = `${plan.batchSenders} senders × ${plan.batch} messages`;

  const send = async (
    queueTarget: Target,
    options: typeof singleSends,
    unit: "msg/s" | "req/s" = "msg/s",
  ) => {
    const { result, cpu } = await bench.job<SendResultSummary>(
      { target: queueTarget, workload: { kind: "send", options } },
      pid,
    );
    if (result.messages === 0)
      throw new Error(`nothing accepted: ${JSON.stringify(result.refused)}`);
    return {
      rate: unit === "req/s" ? result.requestRate : result.rate,
      latency: result.latency,
      cpu,
      detail: result,
    };
  };

  await bench.scenario(
    {
      id: "hello/single",
      system: "hello-world Worker",
      kind: "ceiling",
      scenario: "requests",
      setup: `${plan.singleSenders} connections, 1 KiB POST`,
      unit: "req/s",
    },
    () => send(target(runtime.origins.hello, "hello"), singleSends, "req/s"),
  );

  await bench.scenario(
    {
      id: "raw-sqlite/loop",
      system: "raw SQLite in a DO",
      kind: "ceiling",
      scenario: "inserts inside the object",
      setup: `1 KiB rows, ${plan.batch} per committed transaction`,
      unit: "msg/s",
    },
    async () => {
      const before = treeCpuSeconds(pid);
      const start = performance.now();
      const answer = await fetch(`${runtime.origins.rawSqlite}/loop`, {
        method: "POST",
        body: JSON.stringify({ durationMs: plan.sqliteLoopMs, batch: plan.batch }),
      });
      const result = (await answer.json()) as {
        rows: number;
        transactions: number;
        elapsedMs: number;
      };
      const seconds = (performance.now() - start) / 1000;
      return {
        rate: Math.round((result.rows * 1000) / result.elapsedMs),
        latency: null,
        cpu: { server: Math.round(((treeCpuSeconds(pid) - before) / seconds) * 100), load: 0 },
        detail: result,
      };
    },
  );

  await bench.scenario(
    {
      id: "raw-sqlite/http",
      system: "raw SQLite in a DO",
      kind: "ceiling",
      scenario: "inserts over HTTP",
      setup: `${batchSetup}, minimal front Worker, 1 object`,
      unit: "msg/s",
    },
    () => send(target(runtime.origins.rawSqlite, "http"), batchedSends),
  );

  for (const partitions of plan.partitions) {
    const queue = `single-${partitions}p`;
    await bench.scenario(
      {
        id: `sluice/single/${partitions}p`,
        system: "Sluice",
        kind: "produce",
        scenario: "single-message sends",
        setup: `${singleSetup}, ${plural(partitions, "partition")}`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(runtime.origins.sluice, queue, { partitions, ordering: "unordered" });
        return send(target(runtime.origins.sluice, queue), singleSends);
      },
    );
    if (partitions !== 1) continue;
    await bench.scenario(
      {
        id: "naive/single/1p",
        system: "Sluice, naive partition",
        kind: "produce",
        scenario: "single-message sends",
        setup: `${singleSetup}, 1 partition, group commit off`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(runtime.origins.naive, queue, { partitions, ordering: "unordered" });
        return send(target(runtime.origins.naive, queue), singleSends);
      },
    );
  }

  for (const groupCommit of [true, false]) {
    await bench.scenario(
      {
        id: groupCommit ? "partition/single" : "naive-partition/single",
        system: groupCommit ? "Sluice" : "Sluice, naive partition",
        kind: "produce",
        scenario: "single-message sends to the partition alone",
        setup: `${plan.singleSenders} senders inside workerd calling send() on 1 partition over RPC, no HTTP, no router${groupCommit ? "" : ", group commit off"}`,
        unit: "msg/s",
      },
      () => driveOnePartition(runtime, groupCommit, plan.singleSenders, plan.durationMs),
    );
  }

  for (const partitions of plan.partitions) {
    const queue = `batch-${partitions}p`;
    await bench.scenario(
      {
        id: `sluice/batch/${partitions}p`,
        system: "Sluice",
        kind: "produce",
        scenario: "batched sends",
        setup: `${batchSetup}, ${plural(partitions, "partition")}`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(runtime.origins.sluice, queue, { partitions, ordering: "unordered" });
        return send(target(runtime.origins.sluice, queue), batchedSends);
      },
    );
    if (partitions !== 1) continue;
    await bench.scenario(
      {
        id: "naive/batch/1p",
        system: "Sluice, naive partition",
        kind: "produce",
        scenario: "batched sends",
        setup: `${batchSetup}, 1 partition, group commit off`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(runtime.origins.naive, queue, { partitions, ordering: "unordered" });
        return send(target(runtime.origins.naive, queue), batchedSends);
      },
    );
  }

  for (const partitions of [plan.partitions[0], plan.partitions[plan.partitions.length - 1]]) {
    const queue = `drain-${partitions}p`;
    await bench.scenario(
      {
        id: `sluice/drain/${partitions}p`,
        system: "Sluice",
        kind: "consume",
        scenario: "receive + ack, draining a backlog",
        setup: `${plan.consumers} consumers, receive ${plan.receiveMax} then ack them, ${plan.backlog.toLocaleString("en")} messages, ${plural(partitions, "partition")}`,
        unit: "msg/s",
      },
      async () => {
        await createQueue(runtime.origins.sluice, queue, { partitions, ordering: "unordered" });
        return drainBacklog(bench, target(runtime.origins.sluice, queue), pid);
      },
    );
  }

  await bench.scenario(
    {
      id: "sluice/e2e",
      system: "Sluice",
      kind: "latency",
      scenario: "end-to-end latency",
      setup: `${plan.endToEnd.rate.toLocaleString("en")} msg/s offered, single sends, ${plan.consumers} long-polling consumers, 1 partition`,
      unit: "msg/s",
    },
    async () => {
      await createQueue(runtime.origins.sluice, "e2e", { partitions: 1, ordering: "unordered" });
      return endToEnd(bench, target(runtime.origins.sluice, "e2e"), pid);
    },
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
      await createQueue(runtime.origins.sluice, "burst", {
        partitions: 1,
        ordering: "unordered",
        backlog: { soft: burst.softBacklog, hard: burst.hardBacklog },
      });
      const { result, cpu } = await bench.job<BurstSummary>(
        {
          target: target(runtime.origins.sluice, "burst"),
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
  const { result, cpu } = await bench.job<EndToEndSummary>(
    {
      target: queueTarget,
      workload: { kind: "endToEnd", options: { ...plan.endToEnd, consumers: plan.consumers } },
    },
    pid,
  );
  if (result.received < result.sent) {
    throw new Error(`received ${result.received} of ${result.sent} messages sent`);
  }
  const rate = Math.round(result.received / (plan.endToEnd.durationMs / 1000));
  return { rate, latency: result.latency, cpu, detail: result };
}

/** Senders inside workerd call one fresh partition directly (bench/workers/partition-driver.ts). */
async function driveOnePartition(
  runtime: Runtime,
  groupCommit: boolean,
  senders: number,
  durationMs: number,
) {
  const before = treeCpuSeconds(runtime.workerdPid);
  const start = performance.now();
  const answer = await fetch(runtime.origins.partitionDriver, {
    method: "POST",
    body: JSON.stringify({ groupCommit, senders, durationMs }),
  });
  if (!answer.ok)
    throw new Error(`partition driver answered ${answer.status}: ${await answer.text()}`);
  const result = (await answer.json()) as { sent: number; elapsedMs: number; transactions: number };
  const seconds = (performance.now() - start) / 1000;
  return {
    rate: Math.round((result.sent * 1000) / result.elapsedMs),
    latency: null,
    cpu: {
      server: Math.round(((treeCpuSeconds(runtime.workerdPid) - before) / seconds) * 100),
      load: 0,
    },
    detail: {
      ...result,
      sendsPerTransaction: Math.round((result.sent / result.transactions) * 10) / 10,
    },
  };
}

/** PUT /v1/queues/:q, failing loudly with the problem the router answered. */
async function createQueue(origin: string, queue: string, config: object): Promise<void> {
  const answer = await fetch(`${origin}/v1/queues/${queue}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(config),
  });
  if (answer.status !== 200 && answer.status !== 201) {
    throw new Error(`PUT /v1/queues/${queue} answered ${answer.status}: ${await answer.text()}`);
  }
}
