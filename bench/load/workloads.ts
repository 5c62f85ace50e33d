/**
 * The shapes of load, each independent of the system under test: closed-loop senders,
 * draining a backlog, end-to-end latency at a fixed offered rate, and a burst.
 */
import { type LatencySummary, perSecond, summarize } from "../stats.ts";
import { type BenchBody, makeBodies } from "./body.ts";
import type { Driver, SendResult } from "./driver.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Refusals and errors by status, e.g. {"429": 12}. */
type Statuses = Record<string, number>;

function countStatus(statuses: Statuses, result: SendResult) {
  if (result.kind === "ok") return;
  const status = String(result.status);
  statuses[status] = (statuses[status] ?? 0) + 1;
}

export interface SendResultSummary {
  /** Messages confirmed per second inside the measured window. */
  rate: number;
  /** Requests answered per second inside the measured window. */
  requestRate: number;
  messages: number;
  requests: number;
  windowMs: number;
  /** Time from sending a request to its confirmation. */
  latency: LatencySummary | null;
  refused: Statuses;
  /** CPU seconds the server used inside the measured window, when its clock was given. */
  serverCpuSeconds: number | null;
}

/**
 * `senders` loops, each sending a request of `batch` messages and waiting for its answer
 * before the next. Answers in the first `warmupMs` are not counted.
 */
export async function closedLoopSend(
  driver: Driver,
  options: { senders: number; batch: number; warmupMs: number; durationMs: number },
  serverCpuClock?: () => number,
): Promise<SendResultSummary> {
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const end = windowStart + options.durationMs;
  const cpuAt: number[] = [];
  const readCpu = () => serverCpuClock && cpuAt.push(serverCpuClock());
  const cpuTimers = [
    setTimeout(readCpu, options.warmupMs),
    setTimeout(readCpu, options.warmupMs + options.durationMs),
  ];
  const latencies: number[] = [];
  const refused: Statuses = {};
  let messages = 0;
  let requests = 0;
  const sender = async () => {
    while (performance.now() < end) {
      const sentAt = performance.now();
      const result = await driver.send(makeBodies(options.batch));
      const doneAt = performance.now();
      if (doneAt < windowStart || doneAt > end) continue;
      requests++;
      latencies.push(doneAt - sentAt);
      if (result.kind === "ok") messages += result.accepted;
      else countStatus(refused, result);
    }
  };
  await Promise.all(Array.from({ length: options.senders }, sender));
  for (const timer of cpuTimers) clearTimeout(timer);
  return {
    serverCpuSeconds: cpuAt.length === 2 ? cpuAt[1] - cpuAt[0] : null,
    rate: perSecond(messages, options.durationMs),
    requestRate: perSecond(requests, options.durationMs),
    messages,
    requests,
    windowMs: options.durationMs,
    latency: summarize(latencies),
    refused,
  };
}

/** A request refused this many times in a row ends a fill: the system is not recovering. */
const FILL_ATTEMPTS = 500;

/**
 * Sends exactly `count` messages with closed-loop senders (retrying refusals, 20 ms apart, up
 * to FILL_ATTEMPTS times for one request): a backlog.
 */
export async function fill(
  driver: Driver,
  options: { senders: number; batch: number; count: number },
): Promise<{ messages: number; rate: number; refused: Statuses }> {
  const start = performance.now();
  const refused: Statuses = {};
  let claimed = 0;
  let stored = 0;
  const sender = async () => {
    while (claimed < options.count) {
      const size = Math.min(options.batch, options.count - claimed);
      claimed += size;
      for (let attempt = 1; ; attempt++) {
        const result = await driver.send(makeBodies(size));
        if (result.kind === "ok") break;
        countStatus(refused, result);
        if (attempt === FILL_ATTEMPTS) {
          throw new Error(
            `a send was refused ${attempt} times in a row after ${stored} messages stored: ${JSON.stringify(refused)}`,
          );
        }
        await sleep(20);
      }
      stored += size;
    }
  };
  await Promise.all(Array.from({ length: options.senders }, sender));
  return { messages: stored, rate: perSecond(stored, performance.now() - start), refused };
}

export interface DrainSummary {
  /** Messages received and acked per second, from the first receive to the last. */
  rate: number;
  messages: number;
  elapsedMs: number;
  /** Messages still held by the system afterwards (0 when drained), if it can say. */
  left: number | null;
}

/** `consumers` receive-and-ack loops until `expected` messages arrived (or the time is up). */
export async function drain(
  driver: Driver,
  options: { consumers: number; expected: number; timeoutMs: number },
): Promise<DrainSummary> {
  let received = 0;
  let lastAt = 0;
  const start = performance.now();
  const deadline = start + options.timeoutMs;
  const consumers = driver.startConsumers(options.consumers, (bodies, at) => {
    received += bodies.length;
    lastAt = at;
  });
  while (received < options.expected && performance.now() < deadline) await sleep(10);
  await consumers.stop();
  const elapsedMs = (lastAt || performance.now()) - start;
  return {
    rate: perSecond(received, elapsedMs),
    messages: received,
    elapsedMs: Math.round(elapsedMs),
    left: await driver.depth(),
  };
}

/**
 * Sends at a fixed offered rate whatever the answers (open loop), in requests of `batch`,
 * never holding more than `maxInFlight` requests; calls `onResult` for each answer.
 * Returns how many messages it could not even offer because of that cap.
 */
async function openLoop(
  driver: Driver,
  options: { rate: number; batch: number; durationMs: number; maxInFlight: number },
  onResult: (result: SendResult, messages: number, sentAt: number, doneAt: number) => void,
): Promise<{ offered: number; notOffered: number; pending: Promise<unknown>[] }> {
  const start = performance.now();
  const end = start + options.durationMs;
  const pending = new Set<Promise<unknown>>();
  let due = 0;
  let offered = 0;
  let notOffered = 0;
  while (performance.now() < end) {
    due = Math.floor(((performance.now() - start) * options.rate) / 1000);
    while (offered + notOffered + options.batch <= due) {
      if (pending.size >= options.maxInFlight) {
        notOffered += options.batch;
        continue;
      }
      const sentAt = performance.now();
      const request = driver.send(makeBodies(options.batch)).then((result) => {
        onResult(result, options.batch, sentAt, performance.now());
        pending.delete(request);
      });
      pending.add(request);
      offered += options.batch;
    }
    await sleep(1);
  }
  return { offered, notOffered, pending: [...pending] };
}

export interface EndToEndSummary {
  offeredRate: number;
  sent: number;
  received: number;
  /** Time from the producer sending a message to a consumer holding it. */
  latency: LatencySummary | null;
  /** Time from sending to the send's confirmation. */
  sendLatency: LatencySummary | null;
  refused: Statuses;
  notOffered: number;
}

/**
 * A producer sends single messages at `rate` per second while `consumers` receive and ack.
 * Latency counts messages sent after the warm-up; the run waits for them to arrive.
 */
export async function endToEnd(
  driver: Driver,
  options: { rate: number; consumers: number; warmupMs: number; durationMs: number },
): Promise<EndToEndSummary> {
  const latencies: number[] = [];
  const sendLatencies: number[] = [];
  const refused: Statuses = {};
  let measureFrom = Number.POSITIVE_INFINITY;
  let measuredSent = 0;
  let received = 0;
  const consumers = driver.startConsumers(options.consumers, (bodies: BenchBody[], at) => {
    for (const body of bodies) {
      if (body.sentAt < measureFrom) continue;
      received++;
      latencies.push(at - body.sentAt);
    }
  });
  const start = performance.now();
  measureFrom = start + options.warmupMs;
  const run = await openLoop(
    driver,
    {
      rate: options.rate,
      batch: 1,
      durationMs: options.warmupMs + options.durationMs,
      maxInFlight: 512,
    },
    (result, messages, sentAt, doneAt) => {
      if (sentAt < measureFrom) return;
      sendLatencies.push(doneAt - sentAt);
      if (result.kind === "ok") measuredSent += messages;
      else countStatus(refused, result);
    },
  );
  await Promise.all(run.pending);
  const deadline = performance.now() + 5000;
  while (received < measuredSent && performance.now() < deadline) await sleep(10);
  await consumers.stop();
  return {
    offeredRate: options.rate,
    sent: measuredSent,
    received,
    latency: summarize(latencies),
    sendLatency: summarize(sendLatencies),
    refused,
    notOffered: run.notOffered,
  };
}

interface BurstSecond {
  /** Seconds since the start of the run. */
  second: number;
  offered: number;
  accepted: number;
  shed: number;
  errors: number;
  received: number;
}

interface PhaseTotals {
  offered: number;
  accepted: number;
  shed: number;
  errors: number;
  notOffered: number;
}

export interface BurstSummary {
  steadyRate: number;
  burstRate: number;
  phases: { steady: PhaseTotals; burst: PhaseTotals; after: PhaseTotals };
  /** Messages held by the queue, sampled; `at` in seconds since the start. */
  depth: { at: number; messages: number }[];
  peakDepth: number;
  /** From the end of the burst until the backlog is down to one second of steady traffic. */
  drainMs: number | null;
  timeline: BurstSecond[];
}

/**
 * Steady traffic, then ten times as much for a while, then steady again until the backlog
 * has drained, with consumers working throughout. Shows what is accepted, what is shed,
 * and how the backlog grows and drains.
 */
export async function burst(
  driver: Driver,
  options: {
    steadyRate: number;
    burstRate: number;
    batch: number;
    consumers: number;
    steadyMs: number;
    burstMs: number;
    afterMaxMs: number;
    sampleMs: number;
  },
): Promise<BurstSummary> {
  const start = performance.now();
  const seconds: BurstSecond[] = [];
  const bucket = (at: number) => {
    const second = Math.floor((at - start) / 1000);
    for (let next = seconds.length; next <= second; next++) {
      seconds.push({ second: next, offered: 0, accepted: 0, shed: 0, errors: 0, received: 0 });
    }
    return seconds[second];
  };
  const totals = () => ({ offered: 0, accepted: 0, shed: 0, errors: 0, notOffered: 0 });
  const phases = { steady: totals(), burst: totals(), after: totals() };
  const burstStart = start + options.steadyMs;
  const burstEnd = burstStart + options.burstMs;
  const phaseAt = (at: number) =>
    at < burstStart ? phases.steady : at < burstEnd ? phases.burst : phases.after;
  const onResult = (result: SendResult, messages: number, sentAt: number) => {
    const second = bucket(sentAt);
    const phase = phaseAt(sentAt);
    second.offered += messages;
    phase.offered += messages;
    if (result.kind === "ok") {
      second.accepted += messages;
      phase.accepted += messages;
    } else if (result.kind === "shed") {
      second.shed += messages;
      phase.shed += messages;
    } else {
      second.errors += messages;
      phase.errors += messages;
    }
  };

  const consumers = driver.startConsumers(options.consumers, (bodies, at) => {
    bucket(at).received += bodies.length;
  });
  const depth: { at: number; messages: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const messages = await driver.depth();
      const at = performance.now();
      if (messages !== null) depth.push({ at: Math.round(at - start) / 1000, messages });
      await sleep(options.sampleMs);
    }
  })();

  const pending: Promise<unknown>[] = [];
  const phase = async (rate: number, durationMs: number, totalsOf: PhaseTotals) => {
    const run = await openLoop(
      driver,
      { rate, batch: options.batch, durationMs, maxInFlight: 1024 },
      onResult,
    );
    totalsOf.notOffered += run.notOffered;
    pending.push(...run.pending);
  };
  await phase(options.steadyRate, options.steadyMs, phases.steady);
  await phase(options.burstRate, options.burstMs, phases.burst);
  const drainedBelow = options.steadyRate;
  const drainedAt = () =>
    depth.find((sample) => sample.at * 1000 >= burstEnd - start && sample.messages <= drainedBelow);
  const afterDeadline = performance.now() + options.afterMaxMs;
  while (performance.now() < afterDeadline) {
    await phase(options.steadyRate, 1000, phases.after);
    if (drainedAt()) break;
  }
  await Promise.all(pending);
  sampling = false;
  await sampler;
  await consumers.stop();

  const drained = drainedAt();
  return {
    steadyRate: options.steadyRate,
    burstRate: options.burstRate,
    phases,
    depth,
    peakDepth: Math.max(0, ...depth.map((sample) => sample.messages)),
    drainMs: drained ? Math.round(drained.at * 1000 - (burstEnd - start)) : null,
    timeline: seconds,
  };
}
