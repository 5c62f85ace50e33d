/** The run as one SVG, drawn by hand: throughput by scenario, latency percentiles, the burst. */
import type { Measurement, System } from "./bench.ts";
import type { BurstSummary } from "./load/workloads.ts";

const WIDTH = 960;
const LABEL_WIDTH = 380;
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - 90;
const ROW = 20;
const FONT = `font-family="system-ui, -apple-system, Segoe UI, sans-serif"`;

const COLORS: Record<System, string> = {
  Sluice: "#f6821f",
  "Sluice, naive partition": "#b85c00",
  "hello-world Worker": "#9aa0a6",
  "raw SQLite in a DO": "#5f6368",
  "RPC floor": "#3c4043",
  "front floor": "#80868b",
  RabbitMQ: "#7b61ff",
  "Redis + BullMQ": "#d82c20",
  "NATS JetStream": "#27aae1",
};

const escapeXml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const format = (value: number) =>
  value >= 100 ? Math.round(value).toLocaleString("en") : String(Math.round(value * 100) / 100);

/** A log axis from the power of ten below the smallest value to the one above the largest. */
function logScale(values: number[]) {
  const low = 10 ** Math.floor(Math.log10(Math.max(Math.min(...values), 0.1)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values, low * 10)));
  const x = (value: number) =>
    (Math.log10(Math.max(value, low) / low) / Math.log10(high / low)) * PLOT_WIDTH;
  const ticks: number[] = [];
  for (let tick = low; tick <= high; tick *= 10) ticks.push(tick);
  return { x, ticks };
}

/** Scenario names short enough for the chart's label column. */
const SHORT_SCENARIOS: Record<string, string> = {
  "single-message sends": "single sends",
  "single-message sends to the partition alone": "single sends, partition alone",
  "batched sends to the partition alone": "batched sends, partition alone",
  "receive + ack, draining a backlog": "receive + ack",
};

function label(m: Measurement): string {
  const partitions = /\/(\d+)p$/.exec(m.id)?.[1];
  const scenario = SHORT_SCENARIOS[m.scenario] ?? m.scenario;
  return `${m.system}: ${scenario}${partitions ? `, ${partitions}p` : ""}`;
}

function axis(
  top: number,
  height: number,
  ticks: number[],
  x: (v: number) => number,
  unit: string,
) {
  return ticks
    .map((tick) => {
      const at = LABEL_WIDTH + x(tick);
      return `<line x1="${at}" y1="${top}" x2="${at}" y2="${top + height}" stroke="#e0e0e0"/><text x="${at}" y="${top + height + 14}" font-size="11" text-anchor="middle" fill="#5f6368">${format(tick)}${unit}</text>`;
    })
    .join("");
}

function throughputPanel(
  measurements: Measurement[],
  top: number,
): { svg: string; height: number } {
  const rows = measurements.filter(
    (m) => m.rate !== null && m.rate > 0 && ["ceiling", "produce", "consume"].includes(m.kind),
  );
  if (rows.length === 0) return { svg: "", height: 0 };
  const { x, ticks } = logScale(rows.map((m) => m.rate as number));
  const plotTop = top + 30;
  const height = rows.length * ROW;
  const bars = rows
    .map((m, index) => {
      const y = plotTop + index * ROW;
      const width = Math.max(x(m.rate as number), 1);
      return `<text x="${LABEL_WIDTH - 8}" y="${y + 14}" font-size="12" text-anchor="end">${escapeXml(label(m))}</text><rect x="${LABEL_WIDTH}" y="${y + 3}" width="${width}" height="${ROW - 6}" fill="${COLORS[m.system]}"/><text x="${LABEL_WIDTH + width + 4}" y="${y + 14}" font-size="11">${format(m.rate as number)} ${m.unit}</text>`;
    })
    .join("");
  const title = `<text x="16" y="${top + 18}" font-size="15" font-weight="600">Throughput by scenario (log scale)</text>`;
  return { svg: title + axis(plotTop, height, ticks, x, "") + bars, height: height + 60 };
}

function latencyPanel(measurements: Measurement[], top: number): { svg: string; height: number } {
  const rows = measurements.filter((m) => m.kind === "latency" && m.latency);
  if (rows.length === 0) return { svg: "", height: 0 };
  const percentiles = ["p50", "p90", "p99"] as const;
  const shades = { p50: 1, p90: 0.7, p99: 0.45 };
  const values = rows.flatMap((m) => percentiles.map((p) => m.latency?.[p] ?? 0));
  const { x, ticks } = logScale(values);
  const plotTop = top + 30;
  const groupHeight = percentiles.length * 14 + 8;
  const height = rows.length * groupHeight;
  const bars = rows
    .map((m, index) => {
      const y = plotTop + index * groupHeight;
      const name = `<text x="${LABEL_WIDTH - 8}" y="${y + 25}" font-size="12" text-anchor="end">${escapeXml(m.system)}</text>`;
      return (
        name +
        percentiles
          .map((p, row) => {
            const value = m.latency?.[p] ?? 0;
            const width = Math.max(x(value), 1);
            const barY = y + row * 14;
            return `<rect x="${LABEL_WIDTH}" y="${barY}" width="${width}" height="12" fill="${COLORS[m.system]}" fill-opacity="${shades[p]}"/><text x="${LABEL_WIDTH + width + 4}" y="${barY + 10}" font-size="10">${p} ${format(value)} ms</text>`;
          })
          .join("")
      );
    })
    .join("");
  const rate = (rows[0].detail as { offeredRate?: number } | undefined)?.offeredRate ?? 0;
  const title = `<text x="16" y="${top + 18}" font-size="15" font-weight="600">End-to-end latency, send → receive, at ${rate.toLocaleString("en")} msg/s (ms, log scale)</text>`;
  return { svg: title + axis(plotTop, height, ticks, x, "") + bars, height: height + 60 };
}

function burstPanel(measurements: Measurement[], top: number): { svg: string; height: number } {
  const burst = measurements.find((m) => m.id === "sluice/burst" && m.detail);
  if (!burst) return { svg: "", height: 0 };
  const detail = burst.detail as BurstSummary;
  const seconds = detail.timeline;
  if (seconds.length === 0) return { svg: "", height: 0 };
  const plotTop = top + 46;
  const height = 180;
  const left = 80;
  const width = WIDTH - left - 80;
  const step = width / seconds.length;
  const maxRate = Math.max(...seconds.map((s) => s.offered), ...seconds.map((s) => s.received), 1);
  const maxDepth = Math.max(detail.peakDepth, 1);
  const y = (value: number, max: number) => plotTop + height - (value / max) * height;
  const bars = seconds
    .map((s, index) => {
      const x = left + index * step;
      const accepted = `<rect x="${x + 1}" y="${y(s.accepted, maxRate)}" width="${step - 2}" height="${plotTop + height - y(s.accepted, maxRate)}" fill="#34a853"/>`;
      const refusedTop = y(s.accepted + s.shed + s.errors, maxRate);
      const refused = `<rect x="${x + 1}" y="${refusedTop}" width="${step - 2}" height="${y(s.accepted, maxRate) - refusedTop}" fill="#ea4335"/>`;
      return accepted + refused;
    })
    .join("");
  const received = seconds
    .map((s, index) => `${left + index * step + step / 2},${y(s.received, maxRate)}`)
    .join(" ");
  const depth = detail.depth
    .map((sample) => `${left + sample.at * step},${y(sample.messages, maxDepth)}`)
    .join(" ");
  const legend = [
    ["#34a853", "accepted per second"],
    ["#ea4335", "shed (429/503) per second"],
    ["#1a73e8", "received per second"],
    ["#202124", "backlog (right axis)"],
  ]
    .map(
      ([color, text], index) =>
        `<rect x="${left + index * 200}" y="${top + 28}" width="10" height="10" fill="${color}"/><text x="${left + index * 200 + 14}" y="${top + 37}" font-size="11">${text}</text>`,
    )
    .join("");
  const every = seconds.length > 20 ? 5 : 1;
  const secondTicks = seconds
    .filter((s) => s.second % every === 0)
    .map(
      (s) =>
        `<text x="${left + s.second * step}" y="${plotTop + height + 14}" font-size="10" text-anchor="middle" fill="#5f6368">${s.second}</text>`,
    )
    .join("");
  const axes = `${secondTicks}<line x1="${left}" y1="${plotTop + height}" x2="${left + width}" y2="${plotTop + height}" stroke="#5f6368"/><text x="${left - 6}" y="${plotTop + 8}" font-size="11" text-anchor="end">${format(maxRate)}/s</text><text x="${left - 6}" y="${plotTop + height}" font-size="11" text-anchor="end">0</text><text x="${left + width + 6}" y="${plotTop + 8}" font-size="11">${format(maxDepth)}</text><text x="${left + width / 2}" y="${plotTop + height + 30}" font-size="11" text-anchor="middle">seconds</text>`;
  const title = `<text x="16" y="${top + 18}" font-size="15" font-weight="600">Burst: ${detail.steadyRate.toLocaleString("en")} → ${detail.burstRate.toLocaleString("en")} msg/s → ${detail.steadyRate.toLocaleString("en")} msg/s, small hard backlog</text>`;
  return {
    svg: `${title}${legend}${axes}${bars}<polyline points="${received}" fill="none" stroke="#1a73e8" stroke-width="2"/><polyline points="${depth}" fill="none" stroke="#202124" stroke-width="2"/>`,
    height: height + 90,
  };
}

export function renderChart(measurements: Measurement[], caption: string): string {
  let top = 10;
  const panels: string[] = [];
  for (const panel of [throughputPanel, latencyPanel, burstPanel]) {
    const { svg, height } = panel(measurements, top);
    panels.push(svg);
    top += height;
  }
  const footer = `<text x="16" y="${top + 10}" font-size="11" fill="#5f6368">${escapeXml(caption)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top + 24}" viewBox="0 0 ${WIDTH} ${top + 24}" ${FONT}><rect width="100%" height="100%" fill="#fff"/>${panels.join("")}${footer}</svg>\n`;
}
