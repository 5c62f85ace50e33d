/**
 * Noisy neighbour: 50 cold keys send 1 message a second each; one hot key sends 20× their
 * whole rate (1,000 a second) into the same queue (unordered, one partition), and consumers
 * that take at most CONSUMER_CAPACITY a second (below what is offered, so a backlog builds)
 * drain it. Measured: how long cold keys' messages wait from send to receive (p99), in three
 * runs on fresh queues, each three times the plan's duration (30 s in a full run: 1,500 cold
 * messages, and a hot backlog of about 7,500 by the end, deeper than a fair receive reads from
 * the oldest):
 * - baseline: the cold keys alone, oldest first;
 * - keys: with the hot key, `fairness: "keys"`;
 * - oldest: with the hot key, the default order (oldest first).
 * The ratios `fairness-cold-p99-vs-baseline` (goal ≤ 2) and
 * `fairness-cold-p99-vs-baseline-oldest` (reported) divide the last two by the first.
 *
 * Producers and consumers run in this process (plain fetch): the figures are ratios between
 * runs that share it alike. Waits are measured on this process's clock (the producer writes
 * its send time into the body).
 */
import type { Bench, Contender, Measurement } from "../bench.ts";
import { treeCpuSeconds } from "../machine.ts";
import type { Ratio } from "../report.ts";
import { ADMIN_TOKEN, RUNTIME, type Runtime } from "../runtime.ts";
import { summarize } from "../stats.ts";
import { createQueue } from "./sluice.ts";

const COLD_KEYS = 50;
const COLD_RATE_PER_KEY = 1;
const HOT_FACTOR = 20;
/** Messages a second the consumers take at most: below what is offered with the hot key. */
const CONSUMER_CAPACITY = 800;
const CONSUMERS = 4;
const RECEIVE_MAX = 10;
/** The goal: with fairness, cold keys wait at most this many times as long as without the hot key. */
const GOAL = 2;

type Mode = "baseline" | "keys" | "oldest";

const MODES: Record<Mode, { hot: boolean; fairness: "keys" | "oldest"; scenario: string }> = {
  baseline: { hot: false, fairness: "oldest", scenario: "noisy neighbour: cold keys alone" },
  keys: { hot: true, fairness: "keys", scenario: 'noisy neighbour: fairness "keys"' },
  oldest: { hot: true, fairness: "oldest", scenario: "noisy neighbour: oldest first" },
};

export const fairnessId = (mode: Mode) => `sluice/fairness/${mode}`;

export interface FairnessDetail {
  coldSent: number;
  coldReceived: number;
  hotSent: number;
  hotReceived: number;
}

export async function runFairnessScenarios(bench: Bench, runtime: Runtime): Promise<void> {
  const durationMs = Math.max(5_000, 3 * bench.plan.durationMs);
  const contenders = (Object.keys(MODES) as Mode[]).map((mode): Contender => {
    const { hot, fairness, scenario } = MODES[mode];
    return {
      describe: {
        id: fairnessId(mode),
        system: "Sluice",
        kind: "latency",
        scenario,
        setup: `${COLD_KEYS} cold keys × ${COLD_RATE_PER_KEY}/s${hot ? `, 1 hot key at ${HOT_FACTOR}× their rate` : ""}; ${CONSUMERS} consumers taking ≤ ${CONSUMER_CAPACITY}/s; latency is a cold message's wait, send → receive`,
        unit: "msg/s",
      },
      measure: async () => {
        const queue = `fairness-${mode}-${Date.now()}`;
        await createQueue(runtime.origins.sluice, queue, {
          partitions: 1,
          ordering: "unordered",
          fairness,
          backlog: { soft: 50_000_000, hard: 100_000_000 },
        });
        const serverBefore = treeCpuSeconds(runtime.workerdPid);
        const loadBefore = process.cpuUsage();
        const started = performance.now();
        const run = await noisyNeighbour(runtime.origins.sluice, queue, hot, durationMs);
        const seconds = (performance.now() - started) / 1000;
        const load = process.cpuUsage(loadBefore);
        const percent = (cpuSeconds: number) => Math.round((cpuSeconds / seconds) * 100);
        return {
          rate: Math.round((run.detail.coldReceived * 1000) / durationMs),
          latency: summarize(run.coldWaits),
          cpu: {
            server: percent(treeCpuSeconds(runtime.workerdPid) - serverBefore),
            load: percent((load.user + load.system) / 1e6),
          },
          detail: run.detail,
        };
      },
    };
  });
  await bench.compare(contenders, 1);
}

/** Produces for `durationMs` while the consumers drain; answers the cold messages' waits. */
async function noisyNeighbour(origin: string, queue: string, hot: boolean, durationMs: number) {
  const detail: FairnessDetail = { coldSent: 0, coldReceived: 0, hotSent: 0, hotReceived: 0 };
  const coldWaits: number[] = [];
  const deadline = Date.now() + durationMs;
  const tickMs = 100;
  const coldPerTick = (COLD_KEYS * COLD_RATE_PER_KEY * tickMs) / 1000;
  const hotPerTick = hot ? coldPerTick * HOT_FACTOR : 0;

  const produce = async () => {
    for (let tick = 0; Date.now() < deadline; tick++) {
      const started = Date.now();
      // Each tick, the next coldPerTick cold keys in turn, and the hot key's share. They are
      // different producers: the cold keys' messages do not ride in the hot key's requests.
      const cold = Array.from({ length: coldPerTick }, (_, i) => ({
        body: { t: started },
        key: `cold-${(tick * coldPerTick + i) % COLD_KEYS}`,
      }));
      const hotMessages = Array.from({ length: hotPerTick }, () => ({
        body: { t: started },
        key: "hot",
      }));
      const send = async (messages: object[]) => {
        for (let at = 0; at < messages.length; at += 100) {
          await call(origin, `/v1/queues/${queue}/messages`, {
            messages: messages.slice(at, at + 100),
          });
        }
      };
      await Promise.all([send(cold), send(hotMessages)]);
      detail.coldSent += coldPerTick;
      detail.hotSent += hotPerTick;
      await sleep(tickMs - (Date.now() - started));
    }
  };

  const consume = async (consumer: number) => {
    // Each consumer takes at most its share of the capacity, RECEIVE_MAX a turn, its turns
    // staggered over the consumers' and kept to that schedule: consumers started together
    // and sleeping out the rest of each turn receive in bunches, and a cold message then
    // waits for the next bunch (up to a whole turn) whatever order the queue hands out.
    const turnMs = (1000 * RECEIVE_MAX * CONSUMERS) / CONSUMER_CAPACITY;
    let turn = Date.now() + (consumer * turnMs) / CONSUMERS;
    await sleep(turn - Date.now());
    while (Date.now() < deadline) {
      const answer = await call<{
        messages: { key: string; receipt: string; body: { t: number } }[];
      }>(origin, `/v1/queues/${queue}/receive`, { max: RECEIVE_MAX, wait: 1 });
      const now = Date.now();
      for (const message of answer.messages) {
        if (message.key === "hot") detail.hotReceived++;
        else {
          detail.coldReceived++;
          coldWaits.push(now - message.body.t);
        }
      }
      if (answer.messages.length > 0) {
        await call(origin, `/v1/queues/${queue}/ack`, {
          receipts: answer.messages.map((message) => message.receipt),
        });
      }
      // A turn missed (a long poll, a slow answer) is skipped, not made up: the cap holds.
      do turn += turnMs;
      while (turn < Date.now());
      await sleep(turn - Date.now());
    }
  };

  await Promise.all([produce(), ...Array.from({ length: CONSUMERS }, (_, i) => consume(i))]);
  return { detail, coldWaits };
}

/**
 * The fairness ratios, for report.ts `computeRatios`: the cold keys' p99 wait with the hot
 * key, with fairness (goal ≤ 2×) and without (reported), over the run without the hot key.
 */
export function fairnessRatios(measurements: Measurement[]): Ratio[] {
  const p99 = (mode: Mode): number | string => {
    const measured = measurements.find((m) => m.id === fairnessId(mode));
    if (!measured) return `${fairnessId(mode)} did not run`;
    if (measured.error) return `${fairnessId(mode)} failed: ${measured.error}`;
    return measured.latency?.p99 || `${fairnessId(mode)} measured no cold wait`;
  };
  const base = p99("baseline");
  return (["keys", "oldest"] as const).map((mode): Ratio => {
    const fair = mode === "keys";
    const ratio: Ratio = {
      id: fair ? "fairness-cold-p99-vs-baseline" : "fairness-cold-p99-vs-baseline-oldest",
      name: `noisy neighbour: cold keys' p99 wait with a hot key at ${HOT_FACTOR}× their rate, ${fair ? 'fairness "keys"' : "oldest first"}, vs without the hot key`,
      unit: "ratio",
      value: null,
      display: "not measured",
      runtime: RUNTIME,
      ...(fair ? { target: `≤ ${GOAL}×` } : {}),
    };
    const top = p99(mode);
    if (typeof top === "string" || typeof base === "string") {
      return { ...ratio, error: typeof top === "string" ? top : (base as string) };
    }
    const exact = top / base;
    const value = Math.round(exact * 100) / 100;
    return {
      ...ratio,
      value,
      display: `${value}× (p99 ${top} ms vs ${base} ms)`,
      ...(fair ? { met: exact <= GOAL } : {}),
    };
  });
}

async function call<T = unknown>(origin: string, path: string, body: object): Promise<T> {
  const answer = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`POST ${path} answered ${answer.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
