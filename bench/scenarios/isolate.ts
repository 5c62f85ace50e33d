/**
 * The Sluice isolate seen through workerd's V8 inspector (bench/inspector.ts): its longest
 * garbage-collection pause and its heap under the end-to-end scenario, and its heap with a
 * large backlog in one partition. Runs on a runtime started with an inspector port, apart
 * from the throughput and latency scenarios, which run with no inspector attached.
 */
import type { Bench } from "../bench.ts";
import {
  gcPauses,
  inspect,
  isolateBytes,
  liveHeap,
  startProfiler,
  watchHeap,
} from "../inspector.ts";
import { makeBodies } from "../load/body.ts";
import type { Target } from "../load/main.ts";
import { SluiceDriver } from "../load/sluice.ts";
import type { EndToEndSummary } from "../load/workloads.ts";
import { ADMIN_TOKEN, type Runtime } from "../runtime.ts";
import { createQueue } from "./sluice.ts";

/** Sampling interval of the profiler: a pause reads at most this much too long. */
const SAMPLE_MICROS = 250;
const HEAP_POLL_MS = 250;
/** Megabytes of 10^6 bytes, the stricter reading of Cloudflare's 128 MB limit. */
const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

export interface ProfiledEndToEnd {
  /** The longest pause, every pause over 10 ms, and all pauses summed, in ms. */
  gcPauseMaxMs: number;
  gcPausesOver10Ms: number;
  gcTotalMs: number;
  sampledMs: number;
  heapPeakMB: number;
  heapLastMB: number;
  endToEnd: EndToEndSummary;
}

export interface BacklogHeap {
  messages: number;
  /**
   * The isolate's heap after a full GC plus its ArrayBuffer backing stores (isolateBytes):
   * empty, filled, and after workerd restarted.
   */
  emptyMB: number;
  filledMB: number;
  restartedMB: number;
  /** The largest heap seen while filling, garbage included (polled). */
  fillPeakMB: number;
  /** Messages the queue reported holding after the restart (the backlog plus one). */
  heldAfterRestart: number | null;
  fillRate: number;
}

/**
 * Restarts `runtime` with the inspector open on `port` (same bundles, same storage), then
 * measures; a restart that fails is recorded as the failure of each scenario.
 */
export async function runIsolateScenarios(
  bench: Bench,
  runtime: Runtime,
  port: number,
): Promise<void> {
  const { plan } = bench;
  const inspectorOpen = runtime.restart({ inspectorPort: port });
  // Each scenario awaits it and records its failure; this only keeps it from going unhandled.
  inspectorOpen.catch(() => {});
  const target = (queue: string, dedup = false): Target & { system: "sluice" } => ({
    system: "sluice",
    origin: runtime.origins.sluice,
    token: ADMIN_TOKEN,
    queue,
    receiveMax: plan.receiveMax,
    dedup,
  });

  const { rate, warmupMs } = plan.endToEnd;
  await bench.scenario(
    {
      id: "sluice/e2e/profiled",
      system: "Sluice",
      kind: "profile",
      scenario: "end-to-end, profiled",
      setup: `${rate.toLocaleString("en")} msg/s offered, single sends, ${plan.consumers} long-polling consumers, 1 partition, ${(warmupMs + plan.gcProfileMs) / 1000} s; the inspector's sampling profiler on (every ${SAMPLE_MICROS} µs), the heap polled every ${HEAP_POLL_MS} ms`,
      unit: "msg/s",
    },
    async () => {
      await inspectorOpen;
      await createQueue(runtime.origins.sluice, "e2e-profiled", {
        partitions: 1,
        ordering: "unordered",
      });
      const inspector = await inspect(port, "sluice");
      try {
        const stopProfiler = await startProfiler(inspector, SAMPLE_MICROS);
        const heap = watchHeap(inspector, HEAP_POLL_MS);
        const { result, cpu } = await bench.job<EndToEndSummary>(
          {
            target: target("e2e-profiled"),
            workload: {
              kind: "endToEnd",
              options: { rate, warmupMs, durationMs: plan.gcProfileMs, consumers: plan.consumers },
            },
          },
          runtime.workerdPid,
        );
        const profile = await stopProfiler();
        const used = await heap.stop();
        const pauses = gcPauses(profile);
        if (profile.samples.length === 0) throw new Error("the profiler took no samples");
        const detail: ProfiledEndToEnd = {
          gcPauseMaxMs: Math.round(Math.max(0, ...pauses) * 10) / 10,
          gcPausesOver10Ms: pauses.filter((pause) => pause > 10).length,
          gcTotalMs: Math.round(pauses.reduce((sum, pause) => sum + pause, 0)),
          sampledMs: Math.round(profile.timeDeltas.reduce((sum, delta) => sum + delta, 0) / 1000),
          heapPeakMB: mb(used.peak),
          heapLastMB: mb(used.last),
          endToEnd: result,
        };
        return {
          rate: Math.round(result.received / (plan.gcProfileMs / 1000)),
          latency: result.latency,
          cpu,
          detail,
        };
      } finally {
        inspector.close();
      }
    },
  );

  const messages = plan.memoryBacklog;
  await bench.scenario(
    {
      id: "sluice/memory",
      system: "Sluice",
      kind: "memory",
      scenario: "isolate heap with a backlog",
      setup: `${messages.toLocaleString("en")} messages of 1 KiB, each with a dedupId, in 1 partition's backlog (sends of 100 from ${plan.batchSenders} senders); heap after a full GC, filled and after workerd restarted`,
      unit: "msg/s",
    },
    async () => {
      await inspectorOpen;
      const queue = "memory";
      // Limits above the backlog: the default hard limit is 1,000,000 messages.
      const limit = 2 * messages;
      await createQueue(runtime.origins.sluice, queue, {
        partitions: 1,
        ordering: "unordered",
        backlog: { soft: limit, hard: limit },
      });
      // One inspector session at a time: the isolate's is reopened only after the restart.
      let inspector = await inspect(port, "sluice");
      try {
        const empty = isolateBytes(await liveHeap(inspector));
        const heap = watchHeap(inspector, HEAP_POLL_MS);
        let fill: { messages: number; rate: number };
        let fillPeak: number;
        try {
          ({ result: fill } = await bench.job<{ messages: number; rate: number }>(
            {
              target: target(queue, true),
              workload: {
                kind: "fill",
                options: { senders: plan.batchSenders, batch: plan.batch, count: messages },
              },
            },
            runtime.workerdPid,
          ));
        } finally {
          fillPeak = (await heap.stop()).peak;
        }
        const filled = isolateBytes(await liveHeap(inspector));
        inspector.close();

        await runtime.restart();
        // The partition starts again from its storage on its next call: a send, as after a
        // deploy. The queue must then hold every message.
        const client = new SluiceDriver(target(queue, true));
        const sent = await client.send(makeBodies(1));
        const held = await client.depth();
        await client.close();
        if (sent.kind !== "ok") {
          throw new Error(`a send after the restart was refused: ${JSON.stringify(sent)}`);
        }
        if (held !== messages + 1) {
          throw new Error(
            `after the restart the queue holds ${held} messages, not ${messages + 1}`,
          );
        }
        inspector = await inspect(port, "sluice");
        const restarted = isolateBytes(await liveHeap(inspector));
        const detail: BacklogHeap = {
          messages,
          emptyMB: mb(empty),
          filledMB: mb(filled),
          restartedMB: mb(restarted),
          heldAfterRestart: held,
          fillPeakMB: mb(fillPeak),
          fillRate: fill.rate,
        };
        return { rate: fill.rate, latency: null, cpu: null, detail };
      } finally {
        inspector.close();
      }
    },
  );
}
