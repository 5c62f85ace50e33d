/** Runs jobs in load-generator processes and keeps what they measured. */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { Job } from "./load/main.ts";
import { loadAverage, treeCpuSeconds } from "./machine.ts";
import type { Plan } from "./plan.ts";
import { ROOT } from "./runtime.ts";
import type { LatencySummary } from "./stats.ts";

export type System =
  | "Sluice"
  | "Sluice, naive partition"
  | "hello-world Worker"
  | "raw SQLite in a DO"
  | "RPC floor"
  | "front floor"
  | "RabbitMQ"
  | "Redis + BullMQ"
  | "NATS JetStream";

/** `cost`, `memory` and `profile` rows carry their figures in `detail` (see report.ts). */
export type Kind =
  | "ceiling"
  | "produce"
  | "consume"
  | "latency"
  | "burst"
  | "cost"
  | "memory"
  | "profile";

export interface Measurement {
  /** Stable key, e.g. "sluice/single/1p": ratios and charts find measurements by it. */
  id: string;
  system: System;
  kind: Kind;
  scenario: string;
  setup: string;
  /** Messages per second (requests per second for the hello-world ceiling); null if it failed. */
  rate: number | null;
  unit: "msg/s" | "req/s";
  /** Request latency for throughput scenarios; send → receive for end-to-end ones. */
  latency: LatencySummary | null;
  /** Percent of one core: the server under test (its whole process tree), the load generator. */
  cpu: { server: number; load: number } | null;
  loadAverage: number[];
  error?: string;
  /** Each round's rate (p99 for latency scenarios), when it ran in turns (Bench.compare). */
  rounds?: number[];
  detail?: unknown;
}

/** What a scenario is, before it runs. */
export type Describe = Pick<Measurement, "id" | "system" | "kind" | "scenario" | "setup" | "unit">;
/** What measuring it gave. */
export type Outcome = Pick<Measurement, "rate" | "latency" | "cpu" | "detail">;

export interface Contender {
  describe: Describe;
  /** Runs once before the first round, e.g. to create the queue. */
  prepare?: () => Promise<void>;
  measure: () => Promise<Outcome>;
}

interface JobAnswer<T> {
  ok: boolean;
  result: T;
  error?: string;
  cpuSeconds: number;
}

export class Bench {
  readonly plan: Plan;
  readonly measurements: Measurement[] = [];
  /** Load generators running now, so an interrupted run can end them. */
  readonly #jobs = new Set<ChildProcess>();
  #aborted = false;

  constructor(plan: Plan) {
    this.plan = plan;
  }

  /** One job in a fresh load-generator process, with the CPU the server and the generator used. */
  async job<T>(job: Job, serverPid: number): Promise<{ result: T; cpu: Measurement["cpu"] }> {
    if (this.#aborted) throw new Error("the run is stopping");
    const serverBefore = treeCpuSeconds(serverPid);
    const start = performance.now();
    const child = fork(join(ROOT, "bench", "load", "main.ts"), [], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.#jobs.add(child);
    child.once("exit", () => this.#jobs.delete(child));
    const answer = await new Promise<JobAnswer<T>>((resolve, reject) => {
      child.once("message", (message) => resolve(message as JobAnswer<T>));
      child.once("exit", (code) => reject(new Error(`load generator exited (${code})`)));
      child.send({ ...job, serverPid });
    });
    const seconds = (performance.now() - start) / 1000;
    if (!answer.ok) throw new Error(answer.error);
    const percent = (cpuSeconds: number) => Math.round((cpuSeconds / seconds) * 100);
    return {
      result: answer.result,
      cpu: {
        server: percent(treeCpuSeconds(serverPid) - serverBefore),
        load: percent(answer.cpuSeconds),
      },
    };
  }

  /** Ends the running load generators and refuses new jobs (Ctrl-C). */
  abort(): void {
    this.#aborted = true;
    for (const child of this.#jobs) child.kill("SIGKILL");
  }

  /**
   * Runs one scenario: prints what it is, measures, prints the outcome. A failure is recorded
   * (and printed) rather than ending the run, so one broken scenario still leaves a report.
   */
  async scenario(describe: Describe, measure: () => Promise<Outcome>): Promise<void> {
    process.stdout.write(`  ${describe.system}: ${describe.scenario} (${describe.setup}) … `);
    const loadBefore = loadAverage();
    try {
      const measurement = this.#record(describe, await measure(), loadBefore);
      process.stdout.write(`${outcome(measurement)}\n`);
    } catch (error) {
      this.#recordFailure(describe, error, loadBefore);
    }
  }

  /**
   * Runs scenarios in turns (A, B, A, B, …), so that outside load hits them alike, and keeps
   * for each the round with the median `rank` (the rate; p99 for latency scenarios). Every
   * round's rank is kept in `rounds`, to show the spread.
   */
  async compare(contenders: Contender[], rounds: number): Promise<void> {
    const outcomes: Outcome[][] = contenders.map(() => []);
    const failures = new Map<number, unknown>();
    const loadBefore = loadAverage();
    for (const [index, contender] of contenders.entries()) {
      await contender.prepare?.().catch((error: unknown) => failures.set(index, error));
    }
    for (let round = 1; round <= rounds; round++) {
      for (const [index, contender] of contenders.entries()) {
        if (failures.has(index)) continue;
        const { system, scenario } = contender.describe;
        process.stdout.write(`  [${round}/${rounds}] ${system}: ${scenario} … `);
        try {
          const measured = await contender.measure();
          outcomes[index].push(measured);
          process.stdout.write(`${outcome({ ...contender.describe, ...measured })}\n`);
        } catch (error) {
          failures.set(index, error);
          process.stdout.write("failed\n");
        }
      }
    }
    for (const [index, { describe }] of contenders.entries()) {
      process.stdout.write(`  ${describe.system}: ${describe.scenario} (${describe.setup}) … `);
      if (failures.has(index)) {
        this.#recordFailure(describe, failures.get(index), loadBefore);
        continue;
      }
      const ranked = [...outcomes[index]].sort((a, b) => rank(describe, a) - rank(describe, b));
      const median = ranked[Math.floor((ranked.length - 1) / 2)];
      const measurement = this.#record(describe, median, loadBefore);
      measurement.rounds = outcomes[index].map((measured) => rank(describe, measured));
      const count = measurement.rounds.length;
      process.stdout.write(`${outcome(measurement)}${count > 1 ? ` (median of ${count})` : ""}\n`);
    }
  }

  #record(describe: Describe, measured: Outcome, loadBefore: number[]): Measurement {
    const measurement: Measurement = { ...describe, ...measured, loadAverage: loadBefore };
    this.measurements.push(measurement);
    return measurement;
  }

  #recordFailure(describe: Describe, error: unknown, loadBefore: number[]): void {
    const message = (error as Error).message.split("\n")[0];
    this.measurements.push({
      ...describe,
      rate: null,
      latency: null,
      cpu: null,
      loadAverage: loadBefore,
      error: message,
    });
    process.stdout.write(`FAILED: ${message}\n`);
  }
}

/** What a round is judged by: p99 latency for latency scenarios, the rate for the others. */
export function rank(describe: Pick<Describe, "kind">, measured: Outcome): number {
  return describe.kind === "latency" ? (measured.latency?.p99 ?? 0) : (measured.rate ?? 0);
}

function outcome(measurement: Describe & Outcome): string {
  const parts: string[] = [];
  if (measurement.rate !== null) {
    parts.push(`${measurement.rate.toLocaleString("en")} ${measurement.unit}`);
  }
  if (measurement.latency) {
    parts.push(`p50 ${measurement.latency.p50} ms, p99 ${measurement.latency.p99} ms`);
  }
  if (measurement.cpu) {
    parts.push(`CPU server ${measurement.cpu.server}% load ${measurement.cpu.load}%`);
  }
  return parts.join(" · ");
}
