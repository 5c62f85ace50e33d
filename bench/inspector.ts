/**
 * A client of workerd's V8 inspector (Miniflare's `inspectorPort`): one isolate's session over
 * the Chrome DevTools Protocol. workerd answers the Profiler, HeapProfiler and Runtime domains;
 * it has no Tracing domain, and HeapProfiler.collectGarbage never answers there, so a full GC
 * is forced with a heap snapshot whose chunks are thrown away.
 */
import WebSocket from "ws";

export interface Inspector {
  /** One protocol call; rejects with the inspector's error, or after `timeoutMs`. */
  call(method: string, params?: object, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

/** The isolate of a Miniflare Worker: `core:user:<name>` (its Durable Objects run in it too). */
export async function inspect(port: number, worker: string): Promise<Inspector> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/core:user:${worker}`, {
    maxPayload: 2 ** 30,
  });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<
    number,
    { resolve: (result: unknown) => void; reject: (e: Error) => void }
  >();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  socket.on("close", () => {
    for (const waiter of pending.values()) waiter.reject(new Error("the inspector closed"));
    pending.clear();
  });
  return {
    call: (method, params = {}, timeoutMs = 60_000) =>
      new Promise<unknown>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer from the inspector within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (result) => {
            clearTimeout(timer);
            resolve(result);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

export interface HeapUsage {
  usedSize: number;
  totalSize: number;
  /** ArrayBuffer backing stores (typed arrays), kept outside the heap; absent on old V8. */
  backingStorageSize?: number;
}

/**
 * What the isolate keeps: its heap plus ArrayBuffer backing stores, which `usedSize` leaves
 * out but a Durable Object's 128 MB counts (the partition's dedup index is typed arrays).
 */
export function isolateBytes(usage: HeapUsage): number {
  return usage.usedSize + (usage.backingStorageSize ?? 0);
}

/** The isolate's heap now (live objects and garbage not yet collected). */
export async function heapUsage(inspector: Inspector): Promise<HeapUsage> {
  return (await inspector.call("Runtime.getHeapUsage")) as HeapUsage;
}

/** The isolate's heap after a full garbage collection: what it keeps alive. */
export async function liveHeap(inspector: Inspector): Promise<HeapUsage> {
  // A snapshot collects garbage first; its chunks arrive as events, which are ignored.
  await inspector.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, 300_000);
  return heapUsage(inspector);
}

/** Profiler.stop's profile: the call tree, and which node each sample hit and when. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts the sampling profiler; the answer stops it and returns the profile. */
export async function startProfiler(
  inspector: Inspector,
  intervalMicros: number,
): Promise<() => Promise<CpuProfile>> {
  await inspector.call("Profiler.enable");
  await inspector.call("Profiler.setSamplingInterval", { interval: intervalMicros });
  await inspector.call("Profiler.start");
  return async () => ((await inspector.call("Profiler.stop")) as { profile: CpuProfile }).profile;
}

/**
 * The garbage collector's pauses in a sampled profile: each run of consecutive samples taken
 * while V8 collected garbage on the isolate's thread is one pause, from the last sample before
 * it to its last sample (so a pause reads up to one sampling interval long).
 */
export function gcPauses(profile: CpuProfile): number[] {
  const gc = new Set(
    profile.nodes
      .filter((node) => node.callFrame.functionName === "(garbage collector)")
      .map((node) => node.id),
  );
  const pauses: number[] = [];
  let current = 0;
  profile.samples.forEach((sample, index) => {
    if (gc.has(sample)) {
      current += profile.timeDeltas[index] ?? 0;
    } else if (current > 0) {
      pauses.push(current / 1000);
      current = 0;
    }
  });
  if (current > 0) pauses.push(current / 1000);
  return pauses;
}

/**
 * The isolate's used heap, polled every `everyMs` until stopped: its peak and last value. A
 * tick is skipped while the previous poll is still waiting for its answer.
 */
export function watchHeap(inspector: Inspector, everyMs: number) {
  const used = { peak: 0, last: 0 };
  let pending: Promise<void> | undefined;
  const poll = async () => {
    const { usedSize } = await heapUsage(inspector);
    used.last = usedSize;
    used.peak = Math.max(used.peak, usedSize);
  };
  const timer = setInterval(() => {
    pending ??= poll()
      .catch(() => {}) // a missed sample; stop() polls once more and reports its failure
      .finally(() => {
        pending = undefined;
      });
  }, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await pending;
      await poll();
      return used;
    },
  };
}
