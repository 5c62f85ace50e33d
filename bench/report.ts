/** The run's results as JSON and Markdown: every measurement, the ratios that matter, the burst. */
import type { Measurement } from "./bench.ts";
import type { BurstSummary, EndToEndSummary } from "./load/workloads.ts";
import type { Machine } from "./machine.ts";
import type { Plan } from "./plan.ts";

export interface Ratio {
  name: string;
  value: number | null;
  display: string;
  /** What it should reach, when there is a target. */
  target?: string;
  met?: boolean;
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
  ratios: Ratio[];
  measurements: Measurement[];
}

const number = (value: number) => value.toLocaleString("en");

export function computeRatios(measurements: Measurement[]): Ratio[] {
  const byId = new Map(measurements.map((m) => [m.id, m]));
  const rate = (id: string) => byId.get(id)?.rate ?? null;
  const ratio = (
    name: string,
    over: string,
    under: string,
    target?: { at: number; text: string },
  ): Ratio => {
    const top = rate(over);
    const bottom = rate(under);
    if (top === null || bottom === null || bottom === 0) {
      return { name, value: null, display: "not measured", target: target?.text };
    }
    const value = Math.round((top / bottom) * 100) / 100;
    const display = target && target.at < 1.5 ? `${Math.round(value * 100)} %` : `${value}×`;
    return {
      name,
      value,
      display: `${display} (${number(top)} vs ${number(bottom)} msg/s)`,
      ...(target ? { target: target.text, met: value >= target.at } : {}),
    };
  };
  const p99 = byId.get("sluice/e2e")?.latency?.p99 ?? null;
  const ratios: Ratio[] = [
    ratio(
      "single-message sends, group commit vs naive partition (1 partition, 32 senders)",
      "sluice/single/1p",
      "naive/single/1p",
      { at: 5, text: "≥ 5×" },
    ),
    ratio(
      "the partition alone, group commit vs none (32 senders over RPC, no HTTP, no router)",
      "partition/single",
      "naive-partition/single",
      { at: 5, text: "≥ 5×" },
    ),
    ratio(
      "batched sends (1 partition) vs raw SQLite inserts in a DO",
      "sluice/batch/1p",
      "raw-sqlite/loop",
      { at: 0.5, text: "≥ 50 %" },
    ),
    ratio("receive + ack vs batched sends (1 partition)", "sluice/drain/1p", "sluice/batch/1p", {
      at: 0.5,
      text: "≥ 50 %",
    }),
    {
      name: "end-to-end p99 at 1 000 msg/s",
      value: p99,
      display: p99 === null ? "not measured" : `${p99} ms`,
      target: "< 50 ms",
      ...(p99 === null ? {} : { met: p99 < 50 }),
    },
    ratio(
      "batched sends vs raw SQLite over HTTP (same request)",
      "sluice/batch/1p",
      "raw-sqlite/http",
    ),
    ratio(
      "batched sends to the partition alone vs raw SQLite inserts",
      "partition/batch",
      "raw-sqlite/loop",
    ),
    ratio(
      "batched sends through the router vs to the partition alone",
      "sluice/batch/1p",
      "partition/batch",
    ),
    ratio("batched sends, group commit vs naive partition", "sluice/batch/1p", "naive/batch/1p"),
    ratio("single-message sends vs hello-world requests", "sluice/single/1p", "hello/single"),
    ratio("single-message sends, 4 partitions vs 1", "sluice/single/4p", "sluice/single/1p"),
    ratio("batched sends, 4 partitions vs 1", "sluice/batch/4p", "sluice/batch/1p"),
  ];
  for (const peer of ["rabbitmq", "bullmq", "nats"]) {
    const system = byId.get(`${peer}/single`)?.system ?? peer;
    ratios.push(
      ratio(`single-message sends, Sluice vs ${system}`, "sluice/single/1p", `${peer}/single`),
      ratio(`batched sends, Sluice vs ${system}`, "sluice/batch/1p", `${peer}/batch`),
      ratio(`receive + ack, Sluice vs ${system}`, "sluice/drain/1p", `${peer}/drain`),
    );
  }
  return ratios;
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

function peerTable(measurements: Measurement[]): string[] {
  const byId = new Map(measurements.map((m) => [m.id, m]));
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

export function renderMarkdown(results: Results, chartFile: string): string {
  const { machine, plan } = results;
  const targets = results.ratios.filter((r) => r.target);
  const others = results.ratios.filter((r) => !r.target);
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
    "## Targets",
    "",
    "| comparison | measured | target | met |",
    "|---|---|---|---|",
    ...targets.map(
      (r) =>
        `| ${r.name} | ${r.display} | ${r.target} | ${r.met === undefined ? "–" : r.met ? "yes" : "**no**"} |`,
    ),
    "",
    "## Sluice and its peers",
    "",
    ...peerTable(results.measurements),
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
    "## Other ratios",
    "",
    ...others.map((r) => `- ${r.name}: ${r.display}`),
    "",
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
