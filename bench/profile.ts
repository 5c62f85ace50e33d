/**
 * Where workerd's time goes during one Sluice workload: `node bench/profile.ts
 * [--workload single|batch|drain|e2e] [--seconds 5] [--partitions 1]`. Samples the Sluice
 * Worker's isolate (router and partitions share it) through the V8 inspector, prints the
 * functions with the most self and total time in µs per message, the longest garbage-collector
 * pause and the isolate's heap, and writes the .cpuprofile for DevTools.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { Bench } from "./bench.ts";
import type { Job } from "./load/main.ts";
import { QUICK } from "./plan.ts";
import { ADMIN_TOKEN, startRuntime } from "./runtime.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values: flags } = parseArgs({
  options: {
    workload: { type: "string", default: "single" },
    seconds: { type: "string", default: "5" },
    partitions: { type: "string", default: "1" },
  },
});
const durationMs = Number(flags.seconds) * 1000;
const partitions = Number(flags.partitions);
const INSPECTOR_PORT = 9339;
const HEAP_POLL_MS = 250;

const runtime = await startRuntime({
  naiveEntry: "bench/workers/naive.ts",
  inspectorPort: INSPECTOR_PORT,
});
try {
  const queue = `profile-${flags.workload}`;
  const created = await fetch(`${runtime.origins.sluice}/v1/queues/${queue}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ partitions, ordering: "unordered" }),
  });
  if (!created.ok) throw new Error(`PUT queue: ${created.status} ${await created.text()}`);
  const bench = new Bench({ ...QUICK, durationMs, warmupMs: 0 });
  const target = {
    system: "sluice" as const,
    origin: runtime.origins.sluice,
    token: ADMIN_TOKEN,
    queue,
    receiveMax: QUICK.receiveMax,
  };
  const backlog = Math.round(durationMs * 10);
  if (flags.workload === "drain") {
    await bench.job(
      { target, workload: { kind: "fill", options: { senders: 8, batch: 100, count: backlog } } },
      runtime.workerdPid,
    );
  }

  // The partition alone runs in its own Worker (bench/workers/partition-driver.ts).
  const alone = flags.workload === "partition";
  const isolate = alone ? "partition-driver" : "sluice";
  const inspector = await connect(`ws://127.0.0.1:${INSPECTOR_PORT}/core:user:${isolate}`);
  await inspector.call("Profiler.enable");
  await inspector.call("Profiler.setSamplingInterval", { interval: 200 });
  await inspector.call("Profiler.start");
  const heap = watchHeap(inspector);
  const workloads = {
    single: { kind: "send", options: { senders: 32, batch: 1, warmupMs: 0, durationMs } },
    batch: { kind: "send", options: { senders: 8, batch: 100, warmupMs: 0, durationMs } },
    drain: {
      kind: "drain",
      options: { consumers: 8, expected: backlog, timeoutMs: durationMs * 4 },
    },
    e2e: { kind: "endToEnd", options: { rate: 1000, consumers: 8, warmupMs: 0, durationMs } },
  } as const;
  const { rate, messages, cpu } = alone
    ? await driveAlone(runtime.origins.partitionDriver)
    : await runJob(
        bench,
        { target, workload: workloads[flags.workload as keyof typeof workloads] },
        runtime.workerdPid,
      );
  const { profile } = (await inspector.call("Profiler.stop")) as { profile: Profile };
  const heapUsed = await heap.stop();
  inspector.close();

  const file = join(tmpdir(), `sluice-${flags.workload}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(`${flags.workload}: ${rate} msg/s (${messages} messages), workerd CPU ${cpu}%`);
  const bundle = alone ? runtime.bundles.partitionDriver : runtime.bundles.sluice;
  console.log(
    `heap used: peak ${mib(heapUsed.peak)} MiB, last ${mib(heapUsed.last)} MiB; ${gcPauses(profile)}`,
  );
  summarize(profile, new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, "utf8"))), messages);
  console.log(`\nProfile written to ${file} (open it in Chrome DevTools → Performance).`);
} finally {
  await runtime.stop();
}

/** Send workloads answer `rate` and `messages`; the end-to-end one `sent` and its latencies. */
async function runJob(bench: Bench, job: Job, workerdPid: number) {
  const { result, cpu } = await bench.job<{
    rate?: number;
    messages?: number;
    sent?: number;
    latency?: { p50: number; p99: number } | null;
  }>(job, workerdPid);
  const messages = result.messages ?? result.sent ?? 0;
  const latency = result.latency
    ? `, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`
    : "";
  const rate = result.rate ?? Math.round((messages * 1000) / durationMs);
  return { rate: `${rate}${latency}`, messages, cpu: cpu?.server };
}

/** Single-message sends from 32 senders straight to one partition, group commit on. */
async function driveAlone(origin: string) {
  const answer = await fetch(origin, {
    method: "POST",
    body: JSON.stringify({ groupCommit: true, senders: 32, batch: 1, durationMs }),
  });
  const { sent, elapsedMs } = (await answer.json()) as { sent: number; elapsedMs: number };
  return { rate: Math.round((sent * 1000) / elapsedMs), messages: sent, cpu: "?" };
}

/** The isolate's used heap, polled while the workload runs (`Runtime.getHeapUsage`). */
function watchHeap(inspector: Awaited<ReturnType<typeof connect>>) {
  const used = { peak: 0, last: 0 };
  const poll = async () => {
    const { usedSize } = (await inspector.call("Runtime.getHeapUsage")) as { usedSize: number };
    used.last = usedSize;
    used.peak = Math.max(used.peak, usedSize);
  };
  const timer = setInterval(poll, HEAP_POLL_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await poll();
      return used;
    },
  };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** GC pauses: runs of consecutive `(garbage collector)` samples; the longest and the total. */
function gcPauses(profile: Profile): string {
  const gc = new Set(
    profile.nodes
      .filter((node) => node.callFrame.functionName === "(garbage collector)")
      .map((node) => node.id),
  );
  let longest = 0;
  let run = 0;
  let pausesOver10ms = 0;
  profile.samples.forEach((sample, index) => {
    if (gc.has(sample)) {
      run += profile.timeDeltas[index] ?? 0;
      return;
    }
    if (run > 10_000) pausesOver10ms++;
    longest = Math.max(longest, run);
    run = 0;
  });
  longest = Math.max(longest, run);
  return `longest GC pause ${(longest / 1000).toFixed(1)} ms, ${pausesOver10ms} pauses over 10 ms`;
}

/** Self and total time per function (with its source line), in µs per message, largest first. */
function summarize(profile: Profile, sourceMap: SourceMap, messages: number) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (node: ProfileNode) => {
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const name = functionName || "(anonymous)";
    if (!url) return name;
    // Name the source line the bundle was made from (wrangler writes a source map).
    const origin = sourceMap.findEntry(lineNumber, columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (!origin.originalSource) return `${name} ${url.split("/").pop()}:${lineNumber + 1}`;
    const source = origin.originalSource.replace(
      /^.*?\/(worker|durable-objects|bench|node_modules)\//,
      "$1/",
    );
    return `${name} ${source}:${(origin.originalLine ?? 0) + 1}`;
  };

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((sample, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    all += delta;
    const leaf = byId.get(sample);
    if (!leaf) return;
    self.set(key(leaf), (self.get(key(leaf)) ?? 0) + delta);
    const seen = new Set<string>();
    for (let at: number | undefined = sample; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (!node) break;
      const name = key(node);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + delta);
    }
  });
  const perMessage = (micros: number) => (micros / Math.max(1, messages)).toFixed(1).padStart(6);
  const print = (title: string, table: Map<string, number>) => {
    console.log(
      `\n${title} (µs per message and share of ${(all / 1e6).toFixed(1)} s sampled, ${perMessage(all).trim()} µs per message):`,
    );
    for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(
        `  ${perMessage(micros)} µs ${((micros / all) * 100).toFixed(1).padStart(5)} %  ${name}`,
      );
    }
  };
  print("Self time", self);
  print("Total time", total);
}

async function connect(url: string) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  return {
    call: (method: string, params: object = {}) =>
      new Promise<unknown>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}
