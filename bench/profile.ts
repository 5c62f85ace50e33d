/**
 * Where workerd's time goes during one Sluice workload: `node bench/profile.ts
 * [--workload single|batch|drain|e2e|partition|partition-batch] [--seconds 5] [--partitions 1] [--allocations]`.
 * Samples the Sluice Worker's isolate (router and partitions share it) through the V8
 * inspector (bench/inspector.ts), prints the functions with the most self and total time in µs
 * per message, the longest garbage-collector pause and the isolate's heap, and writes the
 * .cpuprofile for DevTools. `--allocations` samples allocations instead of time and prints the
 * functions that allocate the most, in bytes per message: what the garbage collector pays for;
 * `--survivors` counts only what outlived the young generation, what the full collection pays for.
 * `--gc-trace` has V8 log every collection and prints each full one and what the young ones
 * promoted (diagnosis only; the flags never reach production). `--perf` records workerd with
 * Linux `perf` as well and splits the full collections' CPU into V8's marking and compaction
 * and the runtime's atomic sweep, by the runtime objects it destroys (V8's trace leaves that out).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire, SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Bench } from "./bench.ts";
import { type CpuProfile, gcPauses, inspect, startProfiler, watchHeap } from "./inspector.ts";
import type { Job } from "./load/main.ts";
import { wranglerRequire } from "./machine.ts";
import { QUICK } from "./plan.ts";
import { ADMIN_TOKEN, startRuntime } from "./runtime.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
type Profile = Omit<CpuProfile, "nodes"> & { nodes: ProfileNode[] };
/** HeapProfiler.stopSampling's tree: bytes allocated (and still sampled) per call path. */
interface AllocationNode {
  callFrame: CallFrame;
  selfSize: number;
  children: AllocationNode[];
}

const { values: flags } = parseArgs({
  options: {
    workload: { type: "string", default: "single" },
    seconds: { type: "string", default: "5" },
    partitions: { type: "string", default: "1" },
    allocations: { type: "boolean", default: false },
    survivors: { type: "boolean", default: false },
    "gc-trace": { type: "boolean", default: false },
    perf: { type: "boolean", default: false },
  },
});
const durationMs = Number(flags.seconds) * 1000;
const partitions = Number(flags.partitions);
const INSPECTOR_PORT = 9339;
const SAMPLE_MICROS = 200;
const HEAP_POLL_MS = 250;
/** One allocation sample per this many bytes allocated, on average. */
const ALLOCATION_SAMPLE_BYTES = 4096;
/** perf's samples per second and thread (--perf). */
const PERF_HZ = 999;

const gcTrace = flags["gc-trace"] ? traceGarbageCollections() : undefined;
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
  const alone = flags.workload === "partition" || flags.workload === "partition-batch";
  const isolate = alone ? "partition-driver" : "sluice";
  const inspector = await inspect(INSPECTOR_PORT, isolate);
  const stopProfiler = await startProfiler(inspector, SAMPLE_MICROS);
  const sampleAllocations = flags.allocations || flags.survivors;
  if (sampleAllocations) {
    await inspector.call("HeapProfiler.startSampling", {
      samplingInterval: ALLOCATION_SAMPLE_BYTES,
      // Count what was allocated, not only what is still alive at the end; with
      // --survivors, only what outlived the young generation (promoted to the old one,
      // which only a full collection frees: what makes it long).
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: !flags.survivors,
    });
  }
  const heap = watchHeap(inspector, HEAP_POLL_MS);
  const stopPerf = flags.perf ? recordPerf(runtime.workerdPid) : undefined;
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
    ? await driveAlone(runtime.origins.partitionDriver, flags.workload === "partition-batch")
    : await runJob(
        bench,
        { target, workload: workloads[flags.workload as keyof typeof workloads] },
        runtime.workerdPid,
      );
  const perfData = await stopPerf?.();
  const profile = (await stopProfiler()) as unknown as Profile;
  const allocations = sampleAllocations
    ? ((await inspector.call("HeapProfiler.stopSampling")) as { profile: { head: AllocationNode } })
        .profile.head
    : undefined;
  const heapUsed = await heap.stop();
  inspector.close();

  const file = join(tmpdir(), `sluice-${flags.workload}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(`${flags.workload}: ${rate} msg/s (${messages} messages), workerd CPU ${cpu}%`);
  const bundle = alone ? runtime.bundles.partitionDriver : runtime.bundles.sluice;
  const pauses = gcPauses(profile);
  console.log(
    `heap used: peak ${mib(heapUsed.peak)} MiB, last ${mib(heapUsed.last)} MiB; longest GC pause ${Math.max(0, ...pauses).toFixed(1)} ms, ${pauses.filter((ms) => ms > 10).length} pauses over 10 ms, ${pauses.reduce((sum, ms) => sum + ms, 0).toFixed(0)} ms in all`,
  );
  const names = sourceNames(new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, "utf8"))));
  summarize(profile, names, messages);
  if (gcTrace) summarizeCollections(gcTrace);
  if (flags.perf) summarizePerf(perfData);
  if (allocations)
    summarizeAllocations(allocations, names, messages, flags.survivors ? "Promoted" : "Allocated");
  console.log(`\nProfile written to ${file} (open it in Chrome DevTools → Performance).`);
} finally {
  await runtime.stop();
}

/**
 * Makes workerd log each garbage collection (V8's `--trace-gc-nvp`, for diagnosis only: the
 * product runs with the platform's flags). Miniflare passes `MINIFLARE_WORKERD_V8_FLAGS` on
 * but drops workerd's output lines that are not its JSON logs, so workerd is started through
 * a wrapper that copies its output, line-buffered, to a file. Returns the file.
 */
function traceGarbageCollections(): string {
  const workerd = createRequire(wranglerRequire.resolve("miniflare"))("workerd").default as string;
  const trace = join(tmpdir(), `sluice-gc-${process.pid}.log`);
  const wrapper = join(tmpdir(), `sluice-workerd-${process.pid}.sh`);
  writeFileSync(
    wrapper,
    `#!/bin/bash\nexec stdbuf -oL "${workerd}" "$@" > >(tee -a "${trace}")\n`,
    { mode: 0o755 },
  );
  process.env.MINIFLARE_WORKERD_PATH = wrapper;
  // Flags already set (an experiment's) are kept; workerd's own come after them and win.
  const v8Flags = [process.env.MINIFLARE_WORKERD_V8_FLAGS, "--trace-gc-nvp"];
  process.env.MINIFLARE_WORKERD_V8_FLAGS = v8Flags.filter(Boolean).join(" ");
  return trace;
}

interface Collection {
  gc: string;
  pause: number;
  reason: string;
  is_incremental?: boolean;
  mark?: number;
  "mark.embedder_tracing"?: number;
  clear?: number;
  evacuate?: number;
  start_object_size: number;
  end_object_size: number;
  allocated?: number;
  promoted?: number;
  nodes_promoted?: number;
}

/**
 * Every full collection as V8 logged it (its pause, how much of it V8's own phases explain,
 * the heap before and after, whether it was incremental), and what the young collections
 * promoted: bytes and the runtime's handles (its objects' wrappers), which only a full
 * collection frees.
 */
function summarizeCollections(trace: string) {
  if (!existsSync(trace)) return console.log("\nNo GC trace (is stdbuf installed?)");
  const collections = readFileSync(trace, "utf8")
    .split("\n")
    .filter((line) => line.includes("GC: {"))
    .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Collection);
  const young = collections.filter((gc) => gc.gc === "s");
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  const allocated = sum(young.map((gc) => gc.allocated ?? 0));
  const promoted = sum(young.map((gc) => gc.promoted ?? 0));
  console.log(
    `\nYoung collections: ${young.length}, longest ${Math.max(0, ...young.map((gc) => gc.pause)).toFixed(1)} ms; promoted ${mib(promoted)} MiB of ${mib(allocated)} MiB allocated, ${Math.round(sum(young.map((gc) => gc.nodes_promoted ?? 0)) / Math.max(1, young.length))} runtime handles promoted per collection`,
  );
  for (const gc of collections.filter((gc) => gc.gc !== "s")) {
    const phases = (gc.mark ?? 0) + (gc.clear ?? 0) + (gc.evacuate ?? 0);
    console.log(
      `Full collection (${gc.reason}, ${gc.is_incremental ? "incremental" : "not incremental"}): pause ${gc.pause.toFixed(1)} ms, of which V8's mark ${(gc.mark ?? 0).toFixed(1)} (runtime objects ${(gc["mark.embedder_tracing"] ?? 0).toFixed(1)}), clear ${(gc.clear ?? 0).toFixed(1)}, evacuate ${(gc.evacuate ?? 0).toFixed(1)}, outside V8's phases ${(gc.pause - phases).toFixed(1)} (the runtime's atomic sweep, --perf); heap ${mib(gc.start_object_size)} -> ${mib(gc.end_object_size)} MiB`,
    );
  }
}

/**
 * Samples workerd's threads with call stacks through Linux `perf` (diagnosis only) until the
 * returned function is called; that answers the recording's file, or undefined without perf.
 */
function recordPerf(pid: number): () => Promise<string | undefined> {
  const file = join(tmpdir(), `sluice-perf-${process.pid}.data`);
  const args = ["record", "-q", "-F", String(PERF_HZ), "-g", "-p", String(pid), "-o", file];
  const perf = spawn("perf", args, { stdio: "ignore" });
  const exited = new Promise<boolean>((resolve) => {
    perf.once("error", () => resolve(false));
    perf.once("exit", () => resolve(true));
  });
  return async () => {
    perf.kill("SIGINT");
    return (await exited) && existsSync(file) ? file : undefined;
  };
}

/**
 * The full collections' CPU on workerd's main thread (the thread with the most samples): V8's
 * marking and compaction, and the atomic sweep of the runtime's C++ heap (cppgc), which runs
 * the destructors of every runtime object that died since the last full collection, named by
 * the outermost destructor of the runtime's API on the stack (a Request's includes its Headers).
 * workerd runs V8 without incremental marking and cppgc with atomic marking and sweeping
 * (jsg/setup.c++), so all of it is one pause.
 */
function summarizePerf(file: string | undefined) {
  if (file === undefined) return console.log("\nNo perf recording (is perf installed?)");
  const script = execFileSync("perf", ["script", "-i", file, "-F", "tid,time,ip,sym"], {
    encoding: "utf8",
    maxBuffer: 2 ** 31 - 1,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const samples: { tid: string; time: number; frames: string[] }[] = [];
  for (const line of script.split("\n")) {
    if (line.trim() === "") continue;
    if (/^\s/.test(line)) {
      const frame = line.trim().split(" ").slice(1).join(" ");
      samples.at(-1)?.frames.push(frame);
    } else {
      const [tid, time] = line.trim().split(/\s+/);
      samples.push({ tid, time: Number.parseFloat(time), frames: [] });
    }
  }
  const byThread = new Map<string, number>();
  for (const { tid } of samples) byThread.set(tid, (byThread.get(tid) ?? 0) + 1);
  const main = [...byThread].sort((a, b) => b[1] - a[1])[0]?.[0];
  const thread = samples.filter((sample) => sample.tid === main);
  const on = (sample: { frames: string[] }, name: string) =>
    sample.frames.some((frame) => frame.includes(name));
  const inFullCollection = (index: number) =>
    thread[index] !== undefined &&
    on(thread[index], "Heap::CollectGarbage") &&
    !on(thread[index], "Heap::Scavenge");
  // A full collection: the main thread's run of samples in the collector around its marking.
  const pauses: (typeof thread)[] = [];
  for (let index = 0; index < thread.length; index++) {
    if (!on(thread[index], "Heap::MarkCompact")) continue;
    let first = index;
    while (inFullCollection(first - 1)) first--;
    while (inFullCollection(index + 1)) index++;
    pauses.push(thread.slice(first, index + 1));
  }
  const full = pauses.flat();
  const ms = (count: number) => ((count * 1000) / PERF_HZ).toFixed(0);
  const count = (name: string) => full.filter((sample) => on(sample, name)).length;
  const marking = count("Heap::MarkCompact");
  const sweep = count("FinishAtomicSweeping");
  const epilogue = count("CallGCEpilogueCallbacks");
  const young = thread.filter((sample) => on(sample, "Heap::Scavenge")).length;
  console.log(
    `\nperf, workerd's main thread: ${pauses.length} full collections, ${ms(full.length)} ms of CPU in them: V8's marking and compaction ${ms(marking)}, the runtime's atomic sweep ${ms(sweep)}, its GC epilogue (wrappers detached) ${ms(epilogue)}, the rest ${ms(full.length - marking - sweep - epilogue)}; young collections ${ms(young)} ms`,
  );
  if (pauses.length === 0) return;
  const destroyed = new Map<string, number>();
  for (const sample of full) {
    if (on(sample, "Heap::MarkCompact")) continue;
    // Frames run leaf first: the last destructor of the runtime's API is the outermost.
    const outermost = sample.frames.findLast((frame) => /^workerd::api::\w+::~/.test(frame));
    const type = outermost?.match(/^workerd::api::(\w+)::~/)?.[1] ?? "(no API object)";
    destroyed.set(type, (destroyed.get(type) ?? 0) + 1);
  }
  console.log("After marking, by the runtime object being destroyed (ms of CPU):");
  for (const [type, samplesOf] of [...destroyed].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`  ${ms(samplesOf).padStart(5)} ms  ${type}`);
  }
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
/** The partition alone: 32 single senders, or with `batched` 8 senders of 100 (as in the bench). */
async function driveAlone(origin: string, batched: boolean) {
  const shape = batched ? { senders: 8, batch: 100 } : { senders: 32, batch: 1 };
  const answer = await fetch(origin, {
    method: "POST",
    body: JSON.stringify({ groupCommit: true, ...shape, durationMs }),
  });
  const { sent, elapsedMs } = (await answer.json()) as { sent: number; elapsedMs: number };
  return { rate: Math.round((sent * 1000) / elapsedMs), messages: sent, cpu: "?" };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** A function's name with the source line the bundle was made from (wrangler's source map). */
function sourceNames(sourceMap: SourceMap) {
  return ({ functionName, url, lineNumber, columnNumber }: CallFrame): string => {
    const name = functionName || "(anonymous)";
    if (!url) return name;
    const origin = sourceMap.findEntry(lineNumber, columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (!origin.originalSource) return `${name} ${url.split("/").pop()}:${lineNumber + 1}`;
    const source = origin.originalSource.replace(
      /^.*?\/(worker|core|durable-objects|bench|node_modules)\//,
      "$1/",
    );
    return `${name} ${source}:${(origin.originalLine ?? 0) + 1}`;
  };
}

function perMessage(amount: number, messages: number): string {
  return (amount / Math.max(1, messages)).toFixed(1).padStart(7);
}

/**
 * Bytes allocated per message by the function that allocated them, largest first. The
 * runtime's own objects ("(V8 API)": requests, headers, streams, RPC promises) are named with
 * the JavaScript function that asked for them, and so are built-ins (`join`, `Map`).
 */
function summarizeAllocations(
  head: AllocationNode,
  name: (frame: CallFrame) => string,
  messages: number,
  title: string,
) {
  const self = new Map<string, number>();
  let all = 0;
  for (const pending = [{ node: head, caller: "" }]; pending.length > 0; ) {
    const { node, caller } = pending.pop() as { node: AllocationNode; caller: string };
    const own = name(node.callFrame);
    // Built-ins (`join`, `Map`) and the runtime have no source: name them with their caller.
    const native = node.callFrame.url === "";
    const key = native ? `${own} ← ${caller}` : own;
    self.set(key, (self.get(key) ?? 0) + node.selfSize);
    all += node.selfSize;
    for (const child of node.children)
      pending.push({ node: child, caller: native && own === "(V8 API)" ? caller : own });
  }
  console.log(`\n${title} (bytes per message, ${perMessage(all, messages).trim()} in all):`);
  for (const [key, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`  ${perMessage(bytes, messages)} B  ${key}`);
  }
}

/** Self and total time per function (with its source line), in µs per message, largest first. */
function summarize(profile: Profile, name: (frame: CallFrame) => string, messages: number) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (node: ProfileNode) => name(node.callFrame);

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
  const print = (title: string, table: Map<string, number>) => {
    console.log(
      `\n${title} (µs per message and share of ${(all / 1e6).toFixed(1)} s sampled, ${perMessage(all, messages).trim()} µs per message):`,
    );
    for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(
        `  ${perMessage(micros, messages)} µs ${((micros / all) * 100).toFixed(1).padStart(5)} %  ${name}`,
      );
    }
  };
  print("Self time", self);
  print("Total time", total);
}
