/**
 * The load generator: a process of its own, so the load it makes does not share an event
 * loop with what it measures. It takes one job over IPC, runs it, answers with the result
 * and exits.
 */
import { treeCpuSeconds } from "../machine.ts";
import { BullMQDriver } from "../peers/bullmq.ts";
import { NatsDriver } from "../peers/nats.ts";
import { RabbitMQDriver } from "../peers/rabbitmq.ts";
import type { Driver } from "./driver.ts";
import { lives } from "./lives.ts";
import { SluiceDriver, type SluiceTarget } from "./sluice.ts";
import { burst, closedLoopSend, drain, endToEnd, fill } from "./workloads.ts";

export type Target =
  | ({ system: "sluice" } & SluiceTarget)
  | { system: "rabbitmq" | "bullmq" | "nats"; queue: string };

export type Workload =
  | { kind: "send"; options: Parameters<typeof closedLoopSend>[1] }
  | { kind: "fill"; options: Parameters<typeof fill>[1] }
  | { kind: "drain"; options: Parameters<typeof drain>[1] }
  | { kind: "endToEnd"; options: Parameters<typeof endToEnd>[1] }
  | { kind: "burst"; options: Parameters<typeof burst>[1] }
  | { kind: "lives"; options: Parameters<typeof lives>[1] };

export interface Job {
  target: Target;
  workload: Workload;
  /** The server under test: send workloads read its CPU time over their measured window. */
  serverPid?: number;
}

async function open(target: Target, senders: number): Promise<Driver> {
  switch (target.system) {
    case "sluice":
      return new SluiceDriver(target);
    case "rabbitmq":
      return RabbitMQDriver.open({ queue: target.queue, publishers: senders });
    case "bullmq":
      return new BullMQDriver(target.queue);
    case "nats":
      return NatsDriver.open(target.queue);
  }
}

function run(driver: Driver, job: Job): Promise<unknown> {
  const { workload, serverPid } = job;
  switch (workload.kind) {
    case "send":
      return closedLoopSend(
        driver,
        workload.options,
        serverPid === undefined ? undefined : () => treeCpuSeconds(serverPid),
      );
    case "fill":
      return fill(driver, workload.options);
    case "drain":
      return drain(driver, workload.options);
    case "endToEnd":
      return endToEnd(driver, workload.options);
    case "burst":
      return burst(driver, workload.options);
    case "lives":
      if (!(driver instanceof SluiceDriver)) throw new Error("lives are metered on Sluice only");
      return lives(driver, workload.options);
  }
}

process.once("message", async (job: Job) => {
  const senders = "senders" in job.workload.options ? job.workload.options.senders : 1;
  try {
    const driver = await open(job.target, senders);
    const result = await run(driver, job);
    await driver.close();
    const { user, system } = process.cpuUsage();
    process.send?.({ ok: true, result, cpuSeconds: (user + system) / 1e6 }, () => process.exit(0));
  } catch (error) {
    process.send?.({ ok: false, error: (error as Error).stack ?? String(error) }, () =>
      process.exit(1),
    );
  }
});
