/** The run's results as JSON and Markdown: every measurement, the ratios that matter, the burst. */
import type { Measurement } from "./bench.ts";
import type { BurstSummary, EndToEndSummary } from "./load/workloads.ts";
import type { Machine } from "./machine.ts";
import type { Plan } from "./plan.ts";
import { ALTERNATIVES, type BilledUnits, usdPerMillion } from "./price.ts";
import { RUNTIME } from "./runtime.ts";
import type { LivesCost } from "./scenarios/cost.ts";
import { fairnessRatios } from "./scenarios/fairness.ts";
import type { BacklogHeap, ProfiledEndToEnd } from "./scenarios/isolate.ts";

export interface Ratio {
  /** Stable: the docs name a figure by it. */
  id: string;
  name: string;
  value: number | null;
  /** What `value` counts: "ratio" (1 = as fast, 0.8 = 80 %), "rows", "USD", "ms", "µs", "MB". */
  unit: string;
  display: string;
  /** What it should reach, when there is a goal. */
  target?: string;
  /** Whether the goal was met; absent when there is no goal or no value. */
  met?: boolean;
  /** What the figure was measured on. */
  runtime: string;
  /** Why there is no value: the scenario failed, or a figure it needs was missing. */
  error?: string;
}

export interface Results {
  date: string;
  plan: Plan;
  machine: Machine;
  measuredOn: string;
  commit: string;
  loadAverage: { start: number[]; end: number[] };
  elapsedSeconds: number;
  workerErrors: { count: number; first: string[] };
  durability: Record<string, string>;
  /** Peers that were not measured, why, and how to install them. */
  skipped: { system: string; reason: string; install?: string }[];
  ratios: Ratio[];
  measurements: Measurement[];
}

/** The figures every run that measures Sluice must give (a goal, or reported). */
export const REQUIRED_IDS = [
  "rows-per-message-batched",
  "rows-per-message-single",
  "rows-per-message-lone",
  "usd-per-million-batched",
  "usd-per-million-single",
  "partition-batched-vs-raw",
  "partition-single-vs-raw",
  "partition-single-vs-rpc-floor",
  "recv-ack-vs-batched",
  "partition-heap-mb-1m-backlog",
  "single-vs-hello",
  "e2e-p99-ms",
  "router-cpu-us-per-send",
  "gc-pause-max-ms",
] as const;

const number = (value: number) => value.toLocaleString("en");
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

interface Goal {
  text: string;
  met: (value: number) => boolean;
}
const atLeast = (at: number, text: string): Goal => ({ text, met: (value) => value >= at });
const atMost = (at: number, text: string): Goal => ({ text, met: (value) => value <= at });
const below = (at: number, text: string): Goal => ({ text, met: (value) => value < at });

/** A figure that could not be measured says why, and claims nothing. */
class Unmeasured extends Error {}

export function computeRatios(measurements: Measurement[]): Ratio[] {
  const byId = new Map(measurements.map((m) => [m.id, m]));
  /** The measurement, or why there is none. */
  const measured = (id: string): Measurement => {
    const m = byId.get(id);
    if (!m) throw new Unmeasured(`${id} did not run`);
    if (m.error) throw new Unmeasured(`${id} failed: ${m.error}`);
    return m;
  };
  const figure = (
    id: string,
    name: string,
    unit: string,
    /** `exact`, when `value` is rounded, is what the goal is judged by. */
    compute: () => { value: number; display: string; exact?: number },
    goal?: Goal,
    /** False when the goal does not apply to what was measured (e.g. a smaller quick run). */
    judged: (value: number) => boolean = () => true,
  ): Ratio => {
    const base = { id, name, unit, runtime: RUNTIME, ...(goal ? { target: goal.text } : {}) };
    try {
      const { value, display, exact = value } = compute();
      if (!Number.isFinite(exact)) throw new Unmeasured(`${id} came out as ${exact}`);
      const met = goal && judged(exact) ? { met: goal.met(exact) } : {};
      return { ...base, value, display, ...met };
    } catch (error) {
      if (!(error instanceof Unmeasured)) throw error;
      return { ...base, value: null, display: "not measured", error: error.message };
    }
  };
  const ratio = (id: string, name: string, over: string, under: string, goal?: Goal) =>
    figure(
      id,
      name,
      "ratio",
      () => {
        const top = measured(over).rate;
        const bottom = measured(under).rate;
        if (!top || !bottom) throw new Unmeasured(`${over} or ${under} measured no rate`);
        const exact = top / bottom;
        const value = round(exact, 4);
        const shown =
          value < 1.5 ? `${shownNear(exact * 100, goal, 100)} %` : `${shownNear(exact, goal)}×`;
        const sides = `${number(top)} ${measured(over).unit} vs ${number(bottom)} ${measured(under).unit}`;
        return { value, exact, display: `${shown} (${sides})` };
      },
      goal,
    );
  const detailOf = <T>(id: string) => {
    const { detail } = measured(id);
    if (!detail) throw new Unmeasured(`${id} kept no detail`);
    return detail as T;
  };

  const ratios: Ratio[] = [
    ...(["batched", "single", "lone"] as const).map((mode) =>
      figure(
        `rows-per-message-${mode}`,
        `rows written per message over whole lives, ${mode} (send → receive → ack, with dedupId)`,
        "rows",
        () => {
          const cost = detailOf<LivesCost>(`sluice/lives/${mode}`);
          const exact = cost.usage.rowsWritten / cost.messages;
          const value = round(exact, 4);
          return {
            value,
            exact,
            display: `${value} rows (${number(cost.usage.rowsWritten)} rows written, ${number(cost.cleanupRowsWritten)} of them by the clean-up after; ${number(cost.usage.statements)} statements, ${number(cost.messages)} messages)`,
          };
        },
        { batched: atMost(0.25, "≤ 0.25"), single: atMost(1, "≤ 1"), lone: atMost(5, "≤ 5") }[mode],
      ),
    ),
    ...(["batched", "single"] as const).map((mode) =>
      figure(
        `usd-per-million-${mode}`,
        `price per million messages, ${mode} (Cloudflare's rates; Queues $1.20, SQS $0.12–1.20)`,
        "USD",
        () => {
          const units = billedPerMessage(detailOf<LivesCost>(`sluice/lives/${mode}`));
          const exact = usdPerMillion(units);
          const value = round(exact, 4);
          return {
            value,
            exact,
            display: `$${value.toFixed(3)} (per message: ${round(units.workerRequests, 3)} Worker requests, ${round(units.durableObjectRequests, 3)} DO requests, ${round(units.rowsWritten, 3)} rows written, ${round(units.rowsRead, 1)} rows read)`,
          };
        },
        mode === "batched" ? atMost(0.3, "≤ $0.30") : atMost(1.2, "≤ $1.20"),
      ),
    ),
    ratio(
      "partition-batched-vs-raw",
      "batched sends to the partition alone vs raw SQLite inserts in a DO",
      "partition/batch",
      "raw-sqlite/loop",
      atLeast(1, "≥ 100 %"),
    ),
    ratio(
      "partition-single-vs-raw",
      "single sends to the partition alone (32 senders over RPC) vs raw SQLite inserts in a DO",
      "partition/single",
      "raw-sqlite/loop",
      atLeast(0.25, "≥ 25 %"),
    ),
    ratio(
      "partition-single-vs-rpc-floor",
      "single sends to the partition alone vs the same calls to an object that does nothing (what RPC allows)",
      "partition/single",
      "rpc-floor/single",
    ),
    ratio(
      "recv-ack-vs-batched",
      "receive + ack draining a backlog vs batched sends (1 partition)",
      "sluice/drain/1p",
      "sluice/batch/1p",
      atLeast(0.8, "≥ 80 %"),
    ),
    ratio(
      "single-vs-hello",
      "single-message sends through the router vs hello-world Worker requests",
      "sluice/single/1p",
      "hello/single",
      atLeast(0.3, "≥ 30 %"),
    ),
    ratio(
      "front-floor-vs-hello",
      "single sends through a minimal front Worker to an object that stores nothing vs hello-world Worker requests (the most any Worker-to-Durable-Object send reaches here)",
      "front-floor/single",
      "hello/single",
    ),
    ratio(
      "single-vs-front-floor",
      "single-message sends through the router vs the same sends to an object that stores nothing",
      "sluice/single/1p",
      "front-floor/single",
    ),
    figure(
      "e2e-p99-ms",
      "end-to-end p99 at 1 000 msg/s (send → receive)",
      "ms",
      () => {
        const p99 = measured("sluice/e2e").latency?.p99;
        if (p99 === undefined) throw new Unmeasured("sluice/e2e measured no latency");
        return { value: p99, display: `${p99} ms` };
      },
      atMost(25, "≤ 25 ms"),
    ),
    figure("router-cpu-us-per-send", "router CPU per single send", "µs", () => {
      const through = cpuPerMessage(measured("sluice/single/1p"), "messages");
      const alone = cpuPerMessage(measured("partition/single"), "sent");
      const value = Math.round(through - alone);
      return {
        value,
        display: `${value} µs (workerd CPU per send: ${Math.round(through)} µs through the router, ${Math.round(alone)} µs to the partition alone)`,
      };
    }),
    figure("gc-pause-max-ms", "longest GC pause in the isolate, end-to-end scenario", "ms", () => {
      const profiled = detailOf<ProfiledEndToEnd>("sluice/e2e/profiled");
      return {
        value: profiled.gcPauseMaxMs,
        display: `${profiled.gcPauseMaxMs} ms (${profiled.gcPausesOver10Ms} pauses over 10 ms, ${number(profiled.gcTotalMs)} ms of GC in ${number(profiled.sampledMs)} ms sampled)`,
      };
    }),
    figure("e2e-heap-mb", "isolate heap under the end-to-end scenario (peak, polled)", "MB", () => {
      const profiled = detailOf<ProfiledEndToEnd>("sluice/e2e/profiled");
      return {
        value: profiled.heapPeakMB,
        display: `${profiled.heapPeakMB} MB peak, ${profiled.heapLastMB} MB at the end`,
      };
    }),
    ((): Ratio => {
      const backlog = byId.get("sluice/memory")?.detail as BacklogHeap | undefined;
      const count = backlog?.messages ?? 0;
      const partial = count > 0 && count < FULL_BACKLOG;
      return figure(
        "partition-heap-mb-1m-backlog",
        `isolate heap with ${number(count || FULL_BACKLOG)} messages of 1 KiB in one partition's backlog${partial ? ` (a quick run: the goal is for ${number(FULL_BACKLOG)})` : ""}`,
        "MB",
        () => {
          const heap = detailOf<BacklogHeap>("sluice/memory");
          const value = Math.max(heap.filledMB, heap.restartedMB);
          return {
            value,
            display: `${value} MB (after a full GC: ${heap.emptyMB} MB empty, ${heap.filledMB} MB filled, ${heap.restartedMB} MB after a restart; up to ${heap.fillPeakMB} MB with garbage while filling)`,
          };
        },
        below(64, "< 64 MB"),
        () => count >= FULL_BACKLOG,
      );
    })(),
    ratio(
      "single-group-commit-vs-naive",
      "single-message sends, group commit vs naive partition (1 partition, 32 senders)",
      "sluice/single/1p",
      "naive/single/1p",
      atLeast(5, "≥ 5×"),
    ),
    ratio(
      "partition-group-commit-vs-naive",
      "the partition alone, group commit vs none (32 senders over RPC, no HTTP, no router)",
      "partition/single",
      "naive-partition/single",
      atLeast(5, "≥ 5×"),
    ),
    ratio(
      "batched-vs-raw",
      "batched sends (1 partition) vs raw SQLite inserts in a DO",
      "sluice/batch/1p",
      "raw-sqlite/loop",
      atLeast(0.5, "≥ 50 %"),
    ),
    ratio(
      "batched-vs-raw-http",
      "batched sends vs raw SQLite over HTTP (same request)",
      "sluice/batch/1p",
      "raw-sqlite/http",
    ),
    ratio(
      "batched-router-vs-partition",
      "batched sends through the router vs to the partition alone",
      "sluice/batch/1p",
      "partition/batch",
    ),
    ratio(
      "batched-group-commit-vs-naive",
      "batched sends, group commit vs naive partition",
      "sluice/batch/1p",
      "naive/batch/1p",
    ),
    ratio(
      "single-4p-vs-1p",
      "single-message sends, 4 partitions vs 1",
      "sluice/single/4p",
      "sluice/single/1p",
    ),
    ratio(
      "batched-4p-vs-1p",
      "batched sends, 4 partitions vs 1",
      "sluice/batch/4p",
      "sluice/batch/1p",
    ),
  ];
  ratios.push(...fairnessRatios(measurements));
  for (const peer of ["rabbitmq", "bullmq", "nats"]) {
    const system = byId.get(`${peer}/single`)?.system ?? peer;
    const runtime = `${RUNTIME} for Sluice; ${system} on this machine`;
    for (const [id, name, sluice, workload] of [
      ["single", "single-message sends", "sluice/single/1p", "single"],
      ["batched", "batched sends", "sluice/batch/1p", "batch"],
      ["recv-ack", "receive + ack", "sluice/drain/1p", "drain"],
    ] as const) {
      const versus = ratio(
        `${id}-vs-${peer}`,
        `${name}, Sluice vs ${system}`,
        sluice,
        `${peer}/${workload}`,
      );
      ratios.push({ ...versus, runtime });
    }
  }
  return ratios;
}

/**
 * `value` with the fewest decimals (0 for percentages, 2 otherwise) that do not make it look
 * as if it met a goal it missed, or missed one it met (4.998× shows as 4.998×, not 5×).
 */
function shownNear(value: number, goal: Goal | undefined, scale = 1): string {
  for (let digits = scale === 1 ? 2 : 0; ; digits++) {
    const text = value.toFixed(digits);
    const rounded = Number(text);
    if (!goal || digits >= 4 || goal.met(rounded / scale) === goal.met(value / scale)) {
      return String(rounded);
    }
  }
}

/** The backlog the memory goal is stated for. */
const FULL_BACKLOG = 1_000_000;

/** Worker requests, DO requests and rows one message of these lives used, on average. */
export function billedPerMessage(cost: LivesCost): BilledUnits {
  const { requests, usage, messages } = cost;
  return {
    workerRequests: (requests.send + requests.receive + requests.ack) / messages,
    durableObjectRequests: usage.requests / messages,
    rowsWritten: usage.rowsWritten / messages,
    rowsRead: usage.rowsRead / messages,
  };
}

/** workerd CPU µs per message over a send scenario's measured window. */
function cpuPerMessage(m: Measurement, countField: "messages" | "sent"): number {
  const detail = m.detail as { serverCpuSeconds?: number | null } & Record<string, unknown>;
  const count = detail?.[countField];
  if (typeof detail?.serverCpuSeconds !== "number" || typeof count !== "number" || count === 0) {
    throw new Unmeasured(`${m.id} kept no server CPU time for its measured window`);
  }
  return (detail.serverCpuSeconds / count) * 1e6;
}

const cell = (value: string | number | null | undefined) =>
  value === null || value === undefined ? "–" : typeof value === "number" ? number(value) : value;

/** The range of a compared scenario's rounds, e.g. " (median of 3: 1,500–1,700)". */
function spread(m: Measurement): string {
  if (!m.rounds || m.rounds.length < 2) return "";
  const range = `${number(Math.min(...m.rounds))}–${number(Math.max(...m.rounds))}`;
  return ` (median of ${m.rounds.length}${m.kind === "latency" ? `, p99 ${range} ms` : `: ${range}`})`;
}

function measurementRow(m: Measurement): string {
  const rate = m.error
    ? `failed: ${m.error}`
    : m.rate === null
      ? "–"
      : `${number(m.rate)} ${m.unit}${spread(m)}`;
  const cpu = m.cpu ? `${m.cpu.server} % / ${m.cpu.load} %` : "–";
  return `| ${m.system} | ${m.scenario} | ${m.setup} | ${rate} | ${cell(m.latency?.p50)} | ${cell(m.latency?.p99)} | ${cpu} |`;
}

function peerTable(measurements: Measurement[], skipped: Results["skipped"]): string[] {
  const byId = new Map(measurements.map((m) => [m.id, m]));
  const skippedSystems = new Set(skipped.map((skip) => skip.system));
  const systems: [string, string][] = [
    ["Sluice (1 partition)", "sluice"],
    ["RabbitMQ", "rabbitmq"],
    ["Redis + BullMQ", "bullmq"],
    ["NATS JetStream", "nats"],
  ];
  const suffix = (prefix: string) => (prefix === "sluice" ? "/1p" : "");
  const rate = (id: string) => {
    const m = byId.get(id);
    return m?.error ? "failed" : cell(m?.rate);
  };
  return [
    "| system | single sends (msg/s) | batched sends (msg/s) | receive + ack (msg/s) | e2e p50 (ms) | e2e p99 (ms) |",
    "|---|---:|---:|---:|---:|---:|",
    ...systems.map(([name, prefix]) => {
      if (skippedSystems.has(name)) return `| ${name} | skipped (see below) | | | | |`;
      const e2e = byId.get(`${prefix}/e2e`);
      return `| ${name} | ${rate(`${prefix}/single${suffix(prefix)}`)} | ${rate(`${prefix}/batch${suffix(prefix)}`)} | ${rate(`${prefix}/drain${suffix(prefix)}`)} | ${cell(e2e?.latency?.p50)} | ${cell(e2e?.latency?.p99)} |`;
    }),
  ];
}

/** How much of each system's end-to-end latency is the send itself (send → confirmation). */
function sendShare(measurements: Measurement[]): string[] {
  const lines = measurements
    .filter((m) => m.kind === "latency" && m.detail)
    .map((m) => {
      const send = (m.detail as EndToEndSummary).sendLatency;
      return send ? `${m.system} ${send.p50} / ${send.p99} ms` : null;
    })
    .filter((line) => line !== null);
  if (lines.length === 0) return [];
  return [
    `Of the end-to-end latency, the send itself (send → confirmation, p50 / p99): ${lines.join("; ")}.`,
    "",
  ];
}

function burstSection(measurements: Measurement[]): string[] {
  const burst = measurements.find((m) => m.id === "sluice/burst");
  if (!burst || burst.error || !burst.detail) return [];
  const detail = burst.detail as BurstSummary;
  const row = (name: string, phase: BurstSummary["phases"]["steady"]) =>
    `| ${name} | ${number(phase.offered)} | ${number(phase.accepted)} | ${number(phase.shed)} | ${number(phase.errors)} |`;
  return [
    "## Burst",
    "",
    `${burst.setup}.`,
    "",
    "| phase | offered | accepted (201) | shed (429/503) | errors |",
    "|---|---:|---:|---:|---:|",
    row(`steady ${number(detail.steadyRate)} msg/s`, detail.phases.steady),
    row(`burst ${number(detail.burstRate)} msg/s`, detail.phases.burst),
    row(`steady again, until drained`, detail.phases.after),
    "",
    `Peak backlog ${number(detail.peakDepth)} messages. ` +
      (detail.drainMs === null
        ? "The backlog had not drained to one second of steady traffic when the run stopped."
        : `Back down to one second of steady traffic ${number(detail.drainMs)} ms after the burst ended.`),
    "",
  ];
}

/** The value, or why there is none. */
function shown(ratio: Ratio): string {
  return ratio.error ? `**not measured**: ${ratio.error}` : ratio.display;
}

/** Sluice's price per million messages next to what Cloudflare Queues and SQS charge. */
function priceSection(results: Results): string[] {
  const byId = new Map(results.measurements.map((m) => [m.id, m]));
  const rows = (["batched", "single", "lone"] as const).map((mode) => {
    const m = byId.get(`sluice/lives/${mode}`);
    const price = results.ratios.find((r) => r.id === `usd-per-million-${mode}`);
    if (!m || m.error || !m.detail) {
      return `| Sluice, ${mode} | ${m?.error ? `not measured: ${m.error}` : "not run"} | | | | |`;
    }
    const cost = m.detail as LivesCost;
    const units = billedPerMessage(cost);
    const usd = price?.value ?? round(usdPerMillion(units), 3);
    return `| Sluice, ${mode} | ${round(units.workerRequests, 3)} | ${round(units.durableObjectRequests, 3)} | ${round(units.rowsWritten, 3)} | ${round(units.rowsRead, 1)} | **$${usd.toFixed(3)}** |`;
  });
  return [
    "## What a message costs",
    "",
    "Per message over whole lives (send → receive → ack, each with a dedupId; bench/README.md has the shapes), and the price of a million at Cloudflare's rates: " +
      "Worker requests $0.30/M, Durable Object requests $0.15/M, rows written $1.00/M, rows read $0.001/M (Durable Object duration not counted).",
    "",
    "| system | Worker requests | DO requests | rows written | rows read | $ per million messages |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows,
    ...ALTERNATIVES.map(
      (alt) => `| ${alt.system} (${alt.how}) | | | | | $${alt.usdPerMillion.toFixed(2)} |`,
    ),
    "",
  ];
}

function skippedSection(results: Results): string[] {
  if (results.skipped.length === 0) return [];
  return [
    "## Not measured",
    "",
    ...results.skipped.map(
      (skip) =>
        `- ${skip.system}: ${skip.reason}${skip.install ? ` (install: \`${skip.install}\`)` : ""}`,
    ),
    "",
  ];
}

export function renderMarkdown(results: Results, chartFile: string): string {
  const { machine, plan } = results;
  const asked = (r: Ratio) => r.target !== undefined || REQUIRED_IDS.includes(r.id as never);
  const targets = results.ratios.filter(asked);
  const others = results.ratios.filter((r) => !asked(r));
  return [
    `# Sluice benchmark, ${results.date}${plan.name === "quick" ? " (quick run)" : ""}`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
      `Node ${machine.node}, wrangler ${machine.wrangler}, Miniflare ${machine.miniflare}, workerd ${machine.workerd}. ` +
      `Code: commit ${results.commit}. ` +
      `Load average ${results.loadAverage.start.join(" / ")} at the start, ${results.loadAverage.end.join(" / ")} at the end ` +
      `(1 / 5 / 15 min; anything well above 0 means other work shared the cores). Run took ${results.elapsedSeconds} s.`,
    "",
    `Measured on: ${results.measuredOn}. Load came from a separate Node process on loopback; ` +
      `every message body is 1 KiB of JSON. Throughput windows: ${plan.durationMs / 1000} s after ${plan.warmupMs / 1000} s of warm-up.`,
    "",
    `![throughput and latency](${chartFile})`,
    "",
    "## Figures and targets",
    "",
    `Every figure below was measured on ${RUNTIME}, in this one run.`,
    "",
    "| id | figure | measured | target | met |",
    "|---|---|---|---|---|",
    ...targets.map(
      (r) =>
        `| \`${r.id}\` | ${r.name} | ${shown(r)} | ${r.target ?? "reported"} | ${r.met === undefined ? "–" : r.met ? "yes" : "**no**"} |`,
    ),
    "",
    ...priceSection(results),
    "## Sluice and its peers",
    "",
    ...peerTable(results.measurements, results.skipped),
    "",
    ...sendShare(results.measurements),
    ...burstSection(results.measurements),
    "## Every measurement",
    "",
    "Latency columns: request latency (send → confirmation) for throughput scenarios, send → receive for end-to-end ones. " +
      "CPU: percent of one core used by the server under test (workerd, or the broker with its children) / by the load generator.",
    "",
    "| system | scenario | setup | rate | p50 (ms) | p99 (ms) | CPU server / load |",
    "|---|---|---|---:|---:|---:|---:|",
    ...results.measurements.map(measurementRow),
    "",
    "## Other figures",
    "",
    ...others.map((r) => `- \`${r.id}\` ${r.name}: ${shown(r)}`),
    "",
    ...skippedSection(results),
    "## Durability settings",
    "",
    ...Object.entries(results.durability).map(([system, text]) => `- ${system}: ${text}`),
    "",
    results.workerErrors.count > 0
      ? `Workers logged ${results.workerErrors.count} errors during the run; the first: ${results.workerErrors.first.map((e) => `\`${e.replaceAll("`", "'").replaceAll("\n", " ")}\``).join("; ")}`
      : "Workers logged no errors during the run.",
    "",
  ].join("\n");
}
